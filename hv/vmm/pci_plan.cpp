// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/vmm/pci_plan.h"

#include <cstdio>

#include "hv/pci/slot_allocator.h"

namespace amber::hv::vmm {
namespace {

// Where amber-vmm's own placement starts: the VGA's traditional slot 2
// (QEMU's first free slot after the PIIX3), everything else from 3 so that
// a machine without a VGA keeps its disks where they always were.
constexpr unsigned kVgaFirstSlot = 2;
constexpr unsigned kDeviceFirstSlot = 3;

// One device to place: its addr= (reserved first; empty: the automatic
// pass takes the lowest free slot from `first`), the name messages give
// it, and where its slot goes. A new PCI device adds one of these.
struct Wanted {
  const std::optional<vmmctl::PciSlot>* addr;
  std::string owner;
  unsigned first;
  unsigned* slot;
};

}  // namespace

Result<PciPlan> plan_pci_slots(const Config& config) {
  pci::SlotAllocator slots;
  AMBER_TRY(slots.reserve(0, 0, "the i440FX host bridge"));
  AMBER_TRY(slots.reserve(1, 0, "the PIIX3 ISA bridge"));
  AMBER_TRY(slots.reserve(1, 1, "the PIIX3 IDE controller"));
  const bool ehci = config.usb && config.usb_model == vmmctl::UsbModel::kIch9Ehci;
  if (config.usb && !ehci) AMBER_TRY(slots.reserve(1, 2, "the PIIX3 UHCI controller"));
  if (config.acpi) AMBER_TRY(slots.reserve(1, 3, "the PIIX4 power management function"));

  PciPlan plan;
  plan.disks.resize(config.disks.size());
  plan.nics.resize(config.nics.size());
  unsigned vga = 0, scsi = 0, usb = 0;
  // The USB 2.0 set takes a slot of its own (its other functions, 1, 2 and
  // 7, are on no other device's path: every other device is function 0).
  std::optional<vmmctl::PciSlot> ehci_addr;
  if (ehci && config.usb_slot) ehci_addr = vmmctl::PciSlot{*config.usb_slot, 0};
  std::vector<Wanted> wanted;
  if (config.vga) wanted.push_back({&config.vga_addr, "--vga", kVgaFirstSlot, &vga});
  for (size_t i = 0; i < config.disks.size(); ++i)
    wanted.push_back({&config.disks[i].addr, "--disk disk" + std::to_string(i), kDeviceFirstSlot,
                      &plan.disks[i]});
  if (!config.scsi.empty())
    wanted.push_back({&config.scsi_addr, "the virtio-scsi controller", kDeviceFirstSlot, &scsi});
  for (size_t i = 0; i < config.nics.size(); ++i)
    wanted.push_back(
        {&config.nics[i].addr, "--nic net" + std::to_string(i), kDeviceFirstSlot, &plan.nics[i]});

  if (ehci) wanted.push_back({&ehci_addr, "--usb ehci", kDeviceFirstSlot, &usb});

  for (const Wanted& device : wanted) {
    if (!*device.addr) continue;
    AMBER_TRY(slots.reserve((*device.addr)->slot, (*device.addr)->function, device.owner));
    *device.slot = (*device.addr)->slot;
  }
  for (const Wanted& device : wanted) {
    if (*device.addr) continue;
    AMBER_TRY_ASSIGN(*device.slot, slots.allocate(device.first, device.owner));
  }
  if (config.vga) plan.vga = vga;
  if (!config.scsi.empty()) plan.scsi = scsi;
  if (ehci) plan.ehci = usb;
  return plan;
}

std::string firmware_bootorder(const Config& config, const PciPlan& slots) {
  std::string order;
  // SeaBIOS matches IDE drives as /pci@i0cf8/*@1,1/drive@BUS/disk@UNIT.
  for (const vmmctl::IdeDriveSettings& drive : config.ide) {
    char line[64];
    std::snprintf(line, sizeof(line), "/pci@i0cf8/ide@1,1/drive@%x/disk@%x\n", drive.bus,
                  drive.unit);
    order += line;
  }
  for (unsigned i = 0; i < config.disks.size(); ++i) {
    char line[32];
    std::snprintf(line, sizeof(line), "/pci@i0cf8/*@%x\n", slots.disks[i]);
    order += line;
  }
  // SeaBIOS names a virtio-scsi LUN /pci@i0cf8/*@SLOT/*@0/*@TARGET,LUN.
  for (const vmmctl::ScsiDiskSettings& disk : config.scsi) {
    char line[64];
    std::snprintf(line, sizeof(line), "/pci@i0cf8/*@%x/*@0/*@%x,%x\n", slots.scsi.value_or(0),
                  disk.target, disk.lun);
    order += line;
  }
  return order;
}

}  // namespace amber::hv::vmm
