// SPDX-License-Identifier: GPL-2.0-or-later
// PciPlan: the PCI slot of every device of a Config, decided before any
// device exists (the fw_cfg bootorder, built first, names the disks'
// slots). The platform's functions are fixed (00.0 host bridge, 01.0
// PIIX3, 01.1 IDE, 01.2 UHCI with --usb, 01.3 PM with ACPI); then every
// addr= is reserved; then the devices without one take free slots in
// amber-vmm's order: the VGA from slot 2, the virtio-blk disks, the
// virtio-scsi controller and the NICs from slot 3. Without any addr= that
// is 2 VGA, 3.. disks, then SCSI, then NICs.
//
// Thread-safety: a pure function of the Config.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "hv/vmm/config.h"

namespace amber::hv::vmm {

struct PciPlan {
  std::optional<unsigned> vga;   // with --vga std
  std::vector<unsigned> disks;   // config.disks[i]
  std::optional<unsigned> scsi;  // with a --scsi disk
  std::vector<unsigned> nics;    // config.nics[i]
  std::optional<unsigned> ehci;  // with --usb ehci: the whole slot (functions 0-2 and 7)
};

// Refuses two devices on one address, naming both.
Result<PciPlan> plan_pci_slots(const Config& config);

// The fw_cfg "bootorder" file SeaBIOS reads: the IDE drives, then the
// virtio-blk disks, then the SCSI LUNs, each in argv order (the boot
// order) and named by the PCI slot SLOTS gives it.
std::string firmware_bootorder(const Config& config, const PciPlan& slots);

}  // namespace amber::hv::vmm
