// SPDX-License-Identifier: GPL-2.0-or-later
// addr=SLOT[.FN] of every PCI device option: QEMU's spellings, the limits,
// and the argv round trip of --disk, --nic, --vga and --scsi-controller.
#include "vmmctl/pci_address.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "vmmctl/launch.h"

namespace amber::vmmctl {
namespace {

TEST(PciAddress, ParsesQemuSpellings) {
  for (const auto& [text, slot, function] :
       {std::tuple{"0x5", 5u, 0u}, std::tuple{"05.0", 5u, 0u}, std::tuple{"5", 5u, 0u},
        std::tuple{"0x1f", 31u, 0u}, std::tuple{"1F", 31u, 0u}, std::tuple{"0a.3", 10u, 3u},
        std::tuple{"0x07.0x7", 7u, 7u}}) {
    SCOPED_TRACE(text);
    auto parsed = parse_pci_slot(text, "--disk addr");
    ASSERT_TRUE(parsed.ok()) << parsed.error().message();
    EXPECT_EQ(parsed->slot, slot);
    EXPECT_EQ(parsed->function, function);
    auto again = parse_pci_slot(format_pci_slot(*parsed), "--disk addr");
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, *parsed);
  }
  EXPECT_EQ(format_pci_slot({9, 0}), "0x9");
  EXPECT_EQ(format_pci_slot({10, 2}), "0a.2");
  EXPECT_EQ(pci_address_text({0x1f, 0}), "0000:00:1f.0");
}

TEST(PciAddress, RefusesWhatIsNotASlot) {
  for (const char* text : {"", "0x", "x5", "5.", ".1", "0x20", "32", "5.8", "g", "5,1", "-1",
                           "0x5.0.0", "999999999"}) {
    SCOPED_TRACE(text);
    auto parsed = parse_pci_slot(text, "--nic addr");
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.error().kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(parsed.error().message().find("--nic addr"), std::string::npos)
        << parsed.error().message();
  }
}

TEST(PciAddress, DevicesTakeFunctionZeroOfSlotsTwoAndUp) {
  EXPECT_TRUE(validate_device_slot({2, 0}, "--vga addr").ok());
  EXPECT_TRUE(validate_device_slot({31, 0}, "--vga addr").ok());
  auto host_bridge = validate_device_slot({0, 0}, "--disk addr");
  ASSERT_FALSE(host_bridge.ok());
  EXPECT_NE(host_bridge.error().message().find("host bridge"), std::string::npos);
  EXPECT_FALSE(validate_device_slot({1, 0}, "--disk addr").ok());
  auto function = validate_device_slot({5, 1}, "--nic addr");
  ASSERT_FALSE(function.ok());
  EXPECT_EQ(function.error().message(), "--nic addr 05.1: the device has one function, 0");
}

LaunchSettings with_addresses() {
  LaunchSettings s;
  DiskSettings disk;
  disk.path = "/images/win7.qcow2";
  disk.addr = PciSlot{7, 0};
  DiskSettings second;
  second.path = "/images/data.raw";  // no addr=: placed by amber-vmm
  s.disks = {disk, second};
  ScsiDiskSettings lun;
  lun.path = "/images/lun.raw";
  s.scsi.push_back(lun);
  s.scsi_addr = PciSlot{9, 0};
  s.vga = true;
  s.vga_addr = PciSlot{2, 0};
  NicSettings nic;
  nic.mac = {0x52, 0x54, 0, 1, 2, 3};
  nic.addr = PciSlot{3, 0};
  s.nics.push_back(nic);
  return s;
}

TEST(PciAddress, EveryDeviceOptionRoundTripsItsAddr) {
  const LaunchSettings settings = with_addresses();
  auto argv = to_argv(settings);
  ASSERT_TRUE(argv.ok()) << argv.error().message();
  const auto has = [&](const std::string& option, const std::string& value) {
    for (size_t i = 0; i + 1 < argv->size(); ++i)
      if ((*argv)[i] == option && (*argv)[i + 1] == value) return true;
    return false;
  };
  EXPECT_TRUE(has("--disk",
                  "path=/images/win7.qcow2,cache=writeback,aio=threads,queues=1,discard=ignore,"
                  "readonly=off,addr=0x7"));
  EXPECT_TRUE(has("--scsi-controller", "addr=0x9"));
  EXPECT_TRUE(has("--vga", "std,addr=0x2"));
  EXPECT_TRUE(has("--nic", "model=e1000,mac=52:54:00:01:02:03,backend=user,addr=0x3"));
  auto back = parse_argv(*argv);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(*back, settings);

  auto spelled =
      parse_argv(std::vector<std::string>{"--disk", "path=a.raw,addr=07.0", "--vga", "std,addr=0x4",
                                          "--nic", "model=virtio,mac=52:54:00:00:00:01,addr=1f"});
  ASSERT_TRUE(spelled.ok()) << spelled.error().message();
  EXPECT_EQ(spelled->disks[0].addr, (PciSlot{7, 0}));
  EXPECT_EQ(spelled->vga_addr, (PciSlot{4, 0}));
  EXPECT_EQ(spelled->nics[0].addr, (PciSlot{31, 0}));
}

TEST(PciAddress, ValidateRefusesAddressesNoDeviceCanTake) {
  const auto message = [](const std::vector<std::string>& args) {
    auto parsed = parse_argv(args);
    return parsed.ok() ? std::string("accepted") : parsed.error().message();
  };
  EXPECT_EQ(message({"--disk", "path=a,addr=0x1"}),
            "--disk addr 0x1: slots 0 and 1 are the host bridge and the PIIX3");
  EXPECT_EQ(message({"--disk", "path=a,addr=0x20"}),
            "--disk addr: '0x20': PCI bus 0 has slots 0x0 to 0x1f");
  EXPECT_EQ(message({"--vga", "std,addr=03.2"}), "--vga addr 03.2: the device has one function, 0");
  EXPECT_EQ(message({"--scsi-controller", "addr=0x9"}),
            "--scsi-controller: there is no controller without a --scsi disk");
  EXPECT_EQ(message({"--scsi", "path=a", "--scsi-controller", "slot=9"}),
            "--scsi-controller: unknown key 'slot' (addr)");
  EXPECT_EQ(message({"--vga", "none,addr=0x2"}), "--vga addr: only with --vga std");
  EXPECT_EQ(message({"--nic", "model=e1000,mac=52:54:00:00:00:01,addr=zz"}),
            "--nic addr: 'zz' is not SLOT[.FUNCTION] in hex (0x5, 05.0)");
}

}  // namespace
}  // namespace amber::vmmctl
