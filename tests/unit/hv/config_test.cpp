// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/vmm/config.h"

#include <gtest/gtest.h>

#include <vector>

namespace amber::hv::vmm {
namespace {

Result<CommandLine> parse_line(std::vector<const char*> args) {
  args.insert(args.begin(), "amber-vmm");
  return parse_command_line(static_cast<int>(args.size()), args.data());
}

Result<Config> parse(std::vector<const char*> args) {
  AMBER_TRY_ASSIGN(CommandLine line, parse_line(std::move(args)));
  if (line.action != Action::kRun) return Error(ErrorKind::kInvalidArgument, "not a run");
  return line.config;
}

TEST(Config, FullCommandLine) {
  auto c = parse({"--name", "win7", "--memory", "size=2G,hugepages=on", "--cpus", "2", "--firmware",
                  "/x/bios.bin", "--disk",
                  "path=a.qcow2,format=qcow2,cache=none,queues=4,discard=unmap,serial=S1", "--disk",
                  "path=b.raw,readonly=on,werror=stop,rerror=ignore", "--serial", "pty",
                  "--control", "/run/x.sock", "--debugcon", "file:/tmp/d.log", "--no-reboot"});
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->name, "win7");
  EXPECT_EQ(c->memory, 2ULL << 30);
  EXPECT_EQ(c->hugepages, vmmctl::Hugepages::kOn);
  EXPECT_EQ(c->cpus, 2u);
  ASSERT_EQ(c->disks.size(), 2u);
  EXPECT_EQ(c->disks[0].queues, 4u);
  EXPECT_EQ(c->disks[0].cache, block::io::CacheMode::kNone);
  EXPECT_EQ(c->disks[0].discard, block::DiscardMode::kUnmap);
  EXPECT_EQ(c->disks[0].serial, "S1");
  EXPECT_EQ(c->disks[1].access, vmmctl::DiskAccess::kReadOnly);
  EXPECT_EQ(c->disks[0].write_error, vmmctl::DiskErrorPolicy::kEnospc);
  EXPECT_EQ(c->disks[0].read_error, vmmctl::DiskErrorPolicy::kReport);
  EXPECT_EQ(c->disks[1].write_error, vmmctl::DiskErrorPolicy::kStop);
  EXPECT_EQ(c->disks[1].read_error, vmmctl::DiskErrorPolicy::kIgnore);
  EXPECT_EQ(c->serial.kind, vmmctl::SerialKind::kPty);
  EXPECT_EQ(c->debugcon, "/tmp/d.log");
  EXPECT_EQ(c->on_reboot, vmmctl::RebootAction::kExit);
}

TEST(Config, DefaultsToSeaBios) {
  auto c = parse({});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(vmmctl::firmware_path(*c), "/usr/share/seabios/bios.bin");
  EXPECT_EQ(parse({"--memory=1G"})->memory, 1ULL << 30);
  EXPECT_EQ(parse({"--memory", "512"})->memory, 512ULL << 20);
}

// The value checks are vmmctl's (tests/unit/vmmctl/launch_test.cpp lists
// the bad values); here only that their message is what main() prints.
TEST(Config, BadValuesAreVmmctlsErrors) {
  auto c = parse({"--disk", "path=a,aio=posix"});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(c.error().message(), "--disk aio: Invalid aio option: posix");
  EXPECT_FALSE(parse({"--cpus", "65"}).ok());
  EXPECT_FALSE(parse({"--bogus"}).ok());
}

// The names libvirt sends (io='native', cache='none' spelled off by QEMU)
// are block's: the command line takes every name block's parsers take.
TEST(Config, AcceptsEveryNameBlockAccepts) {
  auto c = parse(
      {"--disk", "path=a,aio=native,cache=off", "--disk", "path=b,aio=io_uring,cache=directsync"});
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->disks[0].aio, block::io::AioBackend::kIoUring);
  EXPECT_EQ(c->disks[0].cache, block::io::CacheMode::kNone);
  EXPECT_EQ(c->disks[1].cache, block::io::CacheMode::kDirectSync);
}

// A comma inside a value is written ',,' (QEMU's convention), as the
// daemon's to_argv writes it.
TEST(Config, DoubledCommaIsPartOfTheValue) {
  auto c = parse({"--disk", "path=a,,b.qcow2,format=qcow2"});
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->disks[0].path, "a,b.qcow2");
}

// What the daemon writes is what amber-vmm reads.
TEST(Config, ReadsWhatToArgvWrites) {
  vmmctl::LaunchSettings settings;
  settings.name = "vm,1";
  settings.cpus = 3;
  vmmctl::DiskSettings disk;
  disk.path = "/img/a b,c.qcow2";
  disk.aio = block::io::AioBackend::kIoUring;
  settings.disks.push_back(disk);
  settings.serial = {vmmctl::SerialKind::kPty, ""};
  settings.machine = "pc-i440fx-5.1";
  auto argv = vmmctl::to_argv(settings);
  ASSERT_TRUE(argv.ok()) << argv.error().message();
  std::vector<const char*> args;
  for (const std::string& arg : *argv) args.push_back(arg.c_str());
  auto c = parse(args);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(*c, settings);
}

// --machine takes QEMU's i440FX names only: the ACPI tables depend on it.
TEST(Config, MachineTypes) {
  for (const char* machine : {"pc", "pc-i440fx-7.2", "pc-i440fx-2.0", "pc-1.3"}) {
    auto c = parse({"--machine", machine});
    ASSERT_TRUE(c.ok()) << machine << ": " << c.error().message();
    EXPECT_EQ(c->machine, machine);
  }
  EXPECT_TRUE(parse({})->machine.empty());
  for (const char* machine : {"q35", "pc-q35-7.2", "pc-i440fx-", "pc-i440fx-x.y", "isapc", ""}) {
    auto c = parse({"--machine", machine});
    ASSERT_FALSE(c.ok()) << machine;
    EXPECT_EQ(c.error().message().rfind("--machine: ", 0), 0u) << c.error().message();
  }
}

TEST(Config, HelpAndVersionWinAnywhere) {
  EXPECT_EQ(parse_line({"--cpus", "2", "--help"})->action, Action::kHelp);
  EXPECT_EQ(parse_line({"-h"})->action, Action::kHelp);
  EXPECT_EQ(parse_line({"--version"})->action, Action::kVersion);
  EXPECT_EQ(parse_line({"--cpus", "99", "--help"})->action, Action::kHelp);
}

TEST(Config, HelpListsEveryOption) {
  const std::string help = help_text();
  for (const char* option : {"--name",
                             "--memory",
                             "hugepages",
                             "--cpus",
                             "--firmware",
                             "--disk",
                             "queues",
                             "discard",
                             "serial=",
                             "readonly",
                             "--serial",
                             "--control",
                             "--kernel",
                             "--initrd",
                             "--cmdline",
                             "--debugcon",
                             "--machine",
                             "--no-reboot",
                             "native",
                             "off",
                             "werror=enospc|stop|report|ignore",
                             "rerror=stop|report|ignore",
                             "io-error"})
    EXPECT_NE(help.find(option), std::string::npos) << option;
}

}  // namespace
}  // namespace amber::hv::vmm
