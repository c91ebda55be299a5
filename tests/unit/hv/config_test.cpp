#include "hv/vmm/config.h"

#include <gtest/gtest.h>

#include <vector>

namespace amber::hv::vmm {
namespace {

Result<Config> parse(std::vector<const char*> args) {
  args.insert(args.begin(), "amber-vmm");
  return parse_command_line(static_cast<int>(args.size()), args.data());
}

TEST(Config, FullCommandLine) {
  auto c = parse({"--name", "win7", "--memory", "size=2G,hugepages=on", "--cpus", "2", "--firmware",
                  "/x/bios.bin", "--disk", "path=a.qcow2,format=qcow2,cache=none,queues=4,discard=unmap,serial=S1",
                  "--disk", "path=b.raw,readonly=on", "--serial", "pty", "--control", "/run/x.sock",
                  "--debugcon", "file:/tmp/d.log", "--no-reboot"});
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->name, "win7");
  EXPECT_EQ(c->memory, 2ULL << 30);
  EXPECT_EQ(c->hugepages, Hugepages::kOn);
  EXPECT_EQ(c->cpus, 2u);
  ASSERT_EQ(c->disks.size(), 2u);
  EXPECT_EQ(c->disks[0].queues, 4u);
  EXPECT_EQ(c->disks[0].cache, block::io::CacheMode::kNone);
  EXPECT_EQ(c->disks[0].discard, block::DiscardMode::kUnmap);
  EXPECT_EQ(c->disks[0].serial, "S1");
  EXPECT_TRUE(c->disks[1].readonly);
  EXPECT_EQ(c->serial.kind, devices::SerialSpec::Kind::kPty);
  EXPECT_EQ(c->debugcon, "/tmp/d.log");
  EXPECT_TRUE(c->no_reboot);
}

TEST(Config, DefaultsToSeaBios) {
  auto c = parse({});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->firmware, "/usr/share/seabios/bios.bin");
  EXPECT_EQ(parse({"--memory=1G"})->memory, 1ULL << 30);
  EXPECT_EQ(parse({"--memory", "512"})->memory, 512ULL << 20);
}

TEST(Config, BadValuesGiveOneClearError) {
  const std::vector<std::vector<const char*>> bad = {
      {"--memory", "lots"},
      {"--memory", "1M"},
      {"--memory", "2G,hugepages=maybe"},
      {"--memory", "size=2G,color=red"},
      {"--cpus", "0"},
      {"--cpus", "65"},
      {"--cpus", "two"},
      {"--disk", "format=qcow2"},
      {"--disk", "path=a,format=vmdk"},
      {"--disk", "path=a,cache=sometimes"},
      {"--disk", "path=a,queues=0"},
      {"--disk", "path=a,queues=1000"},
      {"--disk", "path=a,,format=raw"},
      {"--disk", "path=a,serial=012345678901234567890"},
      {"--disk", "path=a,bogus=1"},
      {"--serial", "telnet"},
      {"--serial", "file:"},
      {"--debugcon", "stdio"},
      {"--bogus"},
      {"--name"},
      {"--initrd", "x"},
      {"--kernel", "k", "--firmware", "f"},
  };
  for (const auto& args : bad) {
    auto c = parse(args);
    EXPECT_FALSE(c.ok()) << args[0];
    if (!c.ok()) {
      EXPECT_EQ(c.error().kind(), ErrorKind::kInvalidArgument);
      EXPECT_EQ(c.error().message().find('\n'), std::string::npos);
      EXPECT_FALSE(c.error().message().empty());
    }
  }
}

TEST(Config, HelpListsEveryOption) {
  const std::string help = help_text();
  for (const char* option : {"--name", "--memory", "hugepages", "--cpus", "--firmware", "--disk", "queues",
                             "discard", "serial=", "readonly", "--serial", "--control", "--kernel", "--initrd",
                             "--cmdline", "--debugcon", "--no-reboot"})
    EXPECT_NE(help.find(option), std::string::npos) << option;
}

}  // namespace
}  // namespace amber::hv::vmm
