// SPDX-License-Identifier: GPL-2.0-or-later
// The slot allocator and amber-vmm's PCI plan: the platform's fixed
// functions, addr= reserved first, the rest placed in the old order
// skipping taken slots, clashes refused naming both devices, and the
// SeaBIOS bootorder following each disk's slot.
#include "hv/vmm/pci_plan.h"

#include <gtest/gtest.h>

#include "hv/pci/slot_allocator.h"

namespace amber::hv {
namespace {

TEST(SlotAllocator, ReservesAllocatesAndNamesBothOwners) {
  pci::SlotAllocator slots;
  ASSERT_TRUE(slots.reserve(0, 0, "the host bridge").ok());
  ASSERT_TRUE(slots.reserve(3, 0, "--nic net0").ok());
  ASSERT_TRUE(slots.reserve(4, 2, "an EHCI").ok());
  EXPECT_EQ(slots.owner(3, 0), "--nic net0");
  EXPECT_EQ(slots.owner(3, 1), "");
  EXPECT_TRUE(slots.slot_in_use(4));
  EXPECT_FALSE(slots.slot_in_use(5));

  auto clash = slots.reserve(3, 0, "--disk disk0");
  ASSERT_FALSE(clash.ok());
  EXPECT_EQ(clash.error().message(),
            "--disk disk0: PCI address 00:03.0 is already in use by --nic net0");
  auto off_bus = slots.reserve(32, 0, "--vga");
  ASSERT_FALSE(off_bus.ok());
  EXPECT_NE(off_bus.error().message().find("not on bus 0"), std::string::npos);
  EXPECT_FALSE(slots.reserve(5, 8, "--vga").ok());

  // The lowest slot from FIRST with no function held: 3 and 4 are taken.
  auto first = slots.allocate(3, "--disk disk0");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, 5u);
  EXPECT_EQ(slots.owner(5, 0), "--disk disk0");
  for (unsigned slot = 6; slot < 32; ++slot) ASSERT_TRUE(slots.allocate(6, "filler").ok());
  ASSERT_TRUE(slots.allocate(1, "slot 1").ok());  // 1 and 2 were still free
  ASSERT_TRUE(slots.allocate(1, "slot 2").ok());
  auto full = slots.allocate(1, "--nic net3");
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().message(), "--nic net3: no free PCI slot left on bus 0");
}

vmm::Config machine(unsigned disks, unsigned scsi, unsigned nics, bool vga) {
  vmm::Config config;
  for (unsigned i = 0; i < disks; ++i) {
    vmmctl::DiskSettings disk;
    disk.path = "disk" + std::to_string(i);
    config.disks.push_back(disk);
  }
  for (unsigned i = 0; i < scsi; ++i) {
    vmmctl::ScsiDiskSettings lun;
    lun.path = "lun" + std::to_string(i);
    lun.target = i;
    config.scsi.push_back(lun);
  }
  for (unsigned i = 0; i < nics; ++i) {
    vmmctl::NicSettings nic;
    nic.mac = {0x52, 0x54, 0, 0, 0, static_cast<uint8_t>(i + 1)};
    config.nics.push_back(nic);
  }
  config.vga = vga;
  return config;
}

TEST(PciPlan, WithoutAddrTheLayoutIsTheOldOne) {
  auto plan = vmm::plan_pci_slots(machine(2, 1, 2, true));
  ASSERT_TRUE(plan.ok()) << plan.error().message();
  EXPECT_EQ(plan->vga, 2u);
  EXPECT_EQ(plan->disks, (std::vector<unsigned>{3, 4}));
  EXPECT_EQ(plan->scsi, 5u);
  EXPECT_EQ(plan->nics, (std::vector<unsigned>{6, 7}));
  // Without a VGA the disks still start at 3.
  auto headless = vmm::plan_pci_slots(machine(1, 0, 1, false));
  ASSERT_TRUE(headless.ok());
  EXPECT_FALSE(headless->vga.has_value());
  EXPECT_FALSE(headless->scsi.has_value());
  EXPECT_EQ(headless->disks, (std::vector<unsigned>{3}));
  EXPECT_EQ(headless->nics, (std::vector<unsigned>{4}));
}

TEST(PciPlan, AddrIsKeptAndTheRestSkipsTakenSlots) {
  // virsh dumpxml's shape: NIC 03, virtio disk 07, video 02, SCSI 09; a
  // second disk and NIC without an address fill the holes.
  vmm::Config config = machine(2, 1, 2, true);
  config.vga_addr = vmmctl::PciSlot{2, 0};
  config.disks[0].addr = vmmctl::PciSlot{7, 0};
  config.scsi_addr = vmmctl::PciSlot{9, 0};
  config.nics[0].addr = vmmctl::PciSlot{3, 0};
  auto plan = vmm::plan_pci_slots(config);
  ASSERT_TRUE(plan.ok()) << plan.error().message();
  EXPECT_EQ(plan->vga, 2u);
  EXPECT_EQ(plan->disks, (std::vector<unsigned>{7, 4}));
  EXPECT_EQ(plan->scsi, 9u);
  EXPECT_EQ(plan->nics, (std::vector<unsigned>{3, 5}));

  // A VGA moved away frees slot 2 only for the VGA's own search: the
  // others still start at 3.
  vmm::Config moved = machine(1, 0, 0, true);
  moved.vga_addr = vmmctl::PciSlot{0x1f, 0};
  auto elsewhere = vmm::plan_pci_slots(moved);
  ASSERT_TRUE(elsewhere.ok());
  EXPECT_EQ(elsewhere->vga, 0x1fu);
  EXPECT_EQ(elsewhere->disks, (std::vector<unsigned>{3}));
}

TEST(PciPlan, TwoDevicesOnOneSlotAreRefusedNamingBoth) {
  vmm::Config config = machine(1, 1, 1, true);
  config.disks[0].addr = vmmctl::PciSlot{5, 0};
  config.nics[0].addr = vmmctl::PciSlot{5, 0};
  auto plan = vmm::plan_pci_slots(config);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().message(),
            "--nic net0: PCI address 00:05.0 is already in use by --disk disk0");
  config.nics[0].addr.reset();
  config.vga_addr = vmmctl::PciSlot{5, 0};
  plan = vmm::plan_pci_slots(config);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().message(), "--disk disk0: PCI address 00:05.0 is already in use by --vga");
  config.vga_addr.reset();
  config.scsi_addr = vmmctl::PciSlot{5, 0};
  plan = vmm::plan_pci_slots(config);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().message(),
            "the virtio-scsi controller: PCI address 00:05.0 is already in use by --disk disk0");
}

TEST(PciPlan, BootorderNamesEachDiskBySlot) {
  vmm::Config config = machine(2, 1, 0, true);
  vmmctl::IdeDriveSettings cdrom;
  cdrom.bus = 1;
  cdrom.media = vmmctl::IdeMedia::kCdrom;
  config.ide.push_back(cdrom);
  config.disks[0].addr = vmmctl::PciSlot{7, 0};
  config.scsi_addr = vmmctl::PciSlot{0x1a, 0};
  config.scsi[0].lun = 2;
  auto plan = vmm::plan_pci_slots(config);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(vmm::firmware_bootorder(config, *plan),
            "/pci@i0cf8/ide@1,1/drive@1/disk@0\n"
            "/pci@i0cf8/*@7\n"
            "/pci@i0cf8/*@3\n"
            "/pci@i0cf8/*@1a/*@0/*@0,2\n");
}

}  // namespace
}  // namespace amber::hv
