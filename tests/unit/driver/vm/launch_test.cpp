// SPDX-License-Identifier: GPL-2.0-or-later
// Golden tests of the launch translation, in libvirt's xml2argv style:
// tests/data/launch/NAME.xml -> NAME.args (one argument per line) or, for
// a refusal, NAME.err (the error message). AMBER_REGENERATE=1 rewrites
// the expected files from the current output.
#include "driver/vm/launch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace amber::driver::vm {
namespace {

namespace fs = std::filesystem;

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

LaunchContext test_context() {
  LaunchContext context;
  context.control_socket = "/run/libvirt/amber/test.sock";
  context.emulator = "/usr/bin/amber-vmm";
  // What the daemon would have chosen: an autoport VNC port, a tap fd for
  // each bridge / ethernet / network interface.
  context.vnc_port = 5901;
  context.tap_fds = {5, 6};
  return context;
}

std::vector<fs::path> cases() {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(AMBER_LAUNCH_TEST_DATA)) {
    if (entry.path().extension() == ".xml") out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(LaunchGolden, EveryCaseMatchesItsExpectedOutput) {
  const bool regenerate = std::getenv("AMBER_REGENERATE") != nullptr;
  const auto all = cases();
  ASSERT_GE(all.size(), 8u);
  size_t refusals = 0;
  for (const fs::path& xml_path : all) {
    SCOPED_TRACE(xml_path.filename().string());
    auto domain = xml::parse_domain(read_text(xml_path));
    ASSERT_TRUE(domain.ok()) << domain.error().message();
    auto plan = plan_launch(*domain, test_context());
    const bool refused = xml_path.stem().string().rfind("refuse-", 0) == 0;
    fs::path expected_path = xml_path;
    std::string actual;
    if (plan.ok()) {
      auto argv = vmmctl::to_argv(plan->settings);
      ASSERT_TRUE(argv.ok()) << argv.error().message();
      for (const std::string& arg : *argv) actual += arg + "\n";
      expected_path.replace_extension(".args");
      // The contract's other half reads back the same settings.
      auto parsed = vmmctl::parse_argv(*argv);
      ASSERT_TRUE(parsed.ok()) << parsed.error().message();
      EXPECT_EQ(*parsed, plan->settings);
      EXPECT_FALSE(refused) << "a refuse- case was accepted";
    } else {
      actual = plan.error().message() + "\n";
      expected_path.replace_extension(".err");
      EXPECT_EQ(plan.error().kind(), ErrorKind::kUnsupported);
      EXPECT_TRUE(refused) << "refused: " << actual;
      ++refusals;
    }
    if (regenerate) {
      std::ofstream(expected_path) << actual;
      continue;
    }
    ASSERT_TRUE(fs::exists(expected_path)) << expected_path << " is missing";
    EXPECT_EQ(actual, read_text(expected_path));
  }
  EXPECT_GE(refusals, 4u);
}

xml::Domain minimal() {
  auto domain = xml::parse_domain(read_text(fs::path(AMBER_LAUNCH_TEST_DATA) / "minimal.xml"));
  EXPECT_TRUE(domain.ok());
  return *domain;
}

TEST(Launch, BootOrderPutsTheBootDiskFirstAndKeepsTheMapping) {
  auto domain = xml::parse_domain(read_text(fs::path(AMBER_LAUNCH_TEST_DATA) / "boot-order.xml"));
  ASSERT_TRUE(domain.ok());
  auto plan = plan_launch(*domain, test_context());
  ASSERT_TRUE(plan.ok()) << plan.error().message();
  ASSERT_EQ(plan->settings.disks.size(), 2u);
  EXPECT_EQ(plan->settings.disks[0].path, "/images/boot.qcow2");
  EXPECT_EQ(plan->disk_index, (std::vector<size_t>{1, 0}));
  EXPECT_EQ(plan->settings.on_reboot, vmmctl::RebootAction::kExit);
  EXPECT_EQ(plan->settings.serial.kind, vmmctl::SerialKind::kPty);
}

TEST(Launch, ScsiDisksMapToScsiOptionsInBootOrder) {
  auto domain = xml::parse_domain(read_text(fs::path(AMBER_LAUNCH_TEST_DATA) / "scsi.xml"));
  ASSERT_TRUE(domain.ok()) << domain.error().message();
  auto plan = plan_launch(*domain, test_context());
  ASSERT_TRUE(plan.ok()) << plan.error().message();
  ASSERT_EQ(plan->settings.scsi.size(), 2u);
  EXPECT_EQ(plan->scsi_index, (std::vector<size_t>{2, 1}));  // sda (boot order 3) first
  const vmmctl::ScsiDiskSettings& sdb = plan->settings.scsi[1];
  EXPECT_EQ(sdb.target, 1u);
  EXPECT_EQ(sdb.lun, 2u);
  EXPECT_EQ(sdb.discard, block::DiscardMode::kUnmap);
  EXPECT_EQ(sdb.cache, block::io::CacheMode::kNone);
  EXPECT_EQ(sdb.serial, "LUN-2");
  EXPECT_EQ(plan->settings.smbios.system_serial, "SN, 42");
  EXPECT_EQ(plan->settings.smbios.board_asset, "B-1");
  EXPECT_EQ(plan->settings.uuid, "3c2b1a09-8f7e-4d6c-b5a4-938271605f51");

  // A controller with 4 request queues: --scsi-queues 4; 63 is refused;
  // and one without disks.
  EXPECT_EQ(plan->settings.scsi_queues, 1u);
  xml::Domain queues = *domain;
  queues.devices.controllers[0].queues = 4;
  auto four = plan_launch(queues, test_context());
  ASSERT_TRUE(four.ok()) << four.error().message();
  EXPECT_EQ(four->settings.scsi_queues, 4u);
  queues.devices.controllers[0].queues = 63;
  auto refused = plan_launch(queues, test_context());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("controller[@type='scsi']/driver/@queues (amber-vmm's "
                                           "virtio-scsi controller runs 1 to 62 request queues)"),
            std::string::npos);
  xml::Domain empty = *domain;
  std::erase_if(empty.devices.disks,
                [](const xml::Disk& disk) { return disk.bus == xml::DiskBus::kScsi; });
  refused = plan_launch(empty, test_context());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("only with a SCSI disk"), std::string::npos);
  xml::Domain io = *domain;
  io.devices.disks[1].io = "native";
  refused = plan_launch(io, test_context());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("/domain/devices/disk[2]/driver/@io='native'"),
            std::string::npos);
}

// <os><boot dev=...> with SCSI disks: a SCSI disk is an hd; the firmware
// tries IDE drives first, so cdrom before hd fits and hd before an IDE
// cdrom does not.
TEST(Launch, BootDevListWithScsiDisks) {
  auto domain = xml::parse_domain(read_text(fs::path(AMBER_LAUNCH_TEST_DATA) / "scsi.xml"));
  ASSERT_TRUE(domain.ok());
  for (xml::Disk& disk : domain->devices.disks) disk.boot_order.reset();
  std::erase_if(domain->devices.disks,
                [](const xml::Disk& disk) { return disk.bus == xml::DiskBus::kVirtio; });
  domain->devices.controllers[0].address.reset();
  domain->os.boot = {xml::BootDevice::kCdrom, xml::BootDevice::kHd};
  auto plan = plan_launch(*domain, test_context());
  ASSERT_TRUE(plan.ok()) << plan.error().message();
  EXPECT_EQ(plan->settings.ide.size(), 1u);
  EXPECT_EQ(plan->scsi_index, (std::vector<size_t>{0, 1}));
  domain->os.boot = {xml::BootDevice::kHd, xml::BootDevice::kCdrom};
  plan = plan_launch(*domain, test_context());
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.error().message().find("amber-vmm's firmware tries the IDE drives before the "
                                        "SCSI disks"),
            std::string::npos)
      << plan.error().message();
}

// Only mode='sysinfo' passes <sysinfo>; emulate and no mode give QEMU's
// strings; host is refused.
TEST(Launch, SmbiosModeChoosesTheStrings) {
  auto domain = xml::parse_domain(read_text(fs::path(AMBER_LAUNCH_TEST_DATA) / "scsi.xml"));
  ASSERT_TRUE(domain.ok());
  for (const std::optional<std::string>& mode :
       {std::optional<std::string>(), std::optional<std::string>("emulate")}) {
    xml::Domain copy = *domain;
    copy.os.smbios_mode = mode;
    auto plan = plan_launch(copy, test_context());
    ASSERT_TRUE(plan.ok()) << plan.error().message();
    EXPECT_EQ(plan->settings.smbios, vmmctl::SmbiosSettings{});
    EXPECT_FALSE(plan->settings.uuid.empty());
  }
  xml::Domain host = *domain;
  host.os.smbios_mode = "host";
  auto plan = plan_launch(host, test_context());
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.error().message().find("/domain/os/smbios/@mode='host'"), std::string::npos);
  xml::Domain none = *domain;
  none.sysinfo.reset();
  plan = plan_launch(none, test_context());
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.error().message().find("Domain 'scsi' sysinfo are not available"),
            std::string::npos);
  xml::Domain too_long = *domain;
  too_long.sysinfo->chassis[0].value = std::string(vmmctl::kMaxSmbiosString + 1, 'x');
  plan = plan_launch(too_long, test_context());
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.error().message().find("/domain/sysinfo/chassis/entry[@name='serial']"),
            std::string::npos);
}

TEST(Launch, NoChardevMeansNoSerialAndDefaultsAreLibvirts) {
  auto plan = plan_launch(minimal(), test_context());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->settings.serial.kind, vmmctl::SerialKind::kNone);
  EXPECT_EQ(plan->settings.firmware, std::string(vmmctl::kDefaultFirmware));
  ASSERT_EQ(plan->settings.disks.size(), 1u);
  EXPECT_EQ(plan->settings.disks[0].cache, block::io::CacheMode::kWriteback);
  EXPECT_EQ(plan->settings.control, "/run/libvirt/amber/test.sock");
}

TEST(Launch, AbsentFormatIsRawNeverProbed) {
  xml::Domain domain = minimal();
  domain.devices.disks[0].format.reset();
  auto plan = plan_launch(domain, test_context());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->settings.disks[0].format, block::ImageFormat::kRaw);
}

TEST(Launch, RefusalsNameTheXmlPath) {
  xml::Domain domain = minimal();
  domain.devices.disks[0].source.reset();
  auto plan = plan_launch(domain, test_context());
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.error().message().find("/domain/devices/disk[1]/source"), std::string::npos);

  domain = minimal();
  domain.devices.disks.push_back(domain.devices.disks[0]);
  plan = plan_launch(domain, test_context());
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.error().message().find("two disks have the same target"), std::string::npos);

  domain = minimal();
  domain.devices.disks[0].serial = std::string(21, 'x');
  plan = plan_launch(domain, test_context());
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.error().message().find("/domain/devices/disk[1]/serial"), std::string::npos);

  domain = minimal();
  domain.devices.disks[0].iothread = 1;
  plan = plan_launch(domain, test_context());
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.error().message().find("@iothread"), std::string::npos);
}

TEST(Launch, SerialBackendComesFromTheContext) {
  xml::Domain domain = minimal();
  domain.devices.serials.emplace_back();
  LaunchContext context = test_context();
  context.serial = vmmctl::SerialKind::kFile;
  context.serial_path = "/tmp/serial.log";
  auto plan = plan_launch(domain, context);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->settings.serial.kind, vmmctl::SerialKind::kFile);
  EXPECT_EQ(plan->settings.serial.path, "/tmp/serial.log");
}

}  // namespace
}  // namespace amber::driver::vm
