// SPDX-License-Identifier: GPL-2.0-or-later
// PCI addresses of a domain's devices, given when it is defined as
// libvirt's QEMU driver gives them to a pc (i440FX) machine
// (qemuDomainAssignPCIAddresses): the addresses the XML has are kept;
// slot 1 is the PIIX3 (IDE 01.1, UHCI 01.2); the primary video goes to
// 00:02.0 when that is free; then, each on the lowest slot nothing uses,
// the network interfaces, the controllers (virtio-scsi), the virtio
// disks, and any further video. The result is stored in the persistent
// definition, so dumpxml shows it and every start passes the same slots
// to amber-vmm (plan_launch); the live XML is that definition.
//
// Thread-safety: pure functions over values.
#pragma once

#include "common/result.h"
#include "xml/domain/domain.h"

namespace amber::driver::vm {

// Fills in every missing PCI address of DOMAIN's PCI devices. Refuses two
// devices on one address ("XML error: Attempted double use of PCI Address
// 0000:00:03.0", as libvirt) and a bus with no free slot left.
Result<void> assign_pci_addresses(xml::Domain& domain);

// For a definition stored before define assigned addresses (loaded at
// daemon start): fills the missing PCI addresses with the slots amber-vmm
// gave those devices then (VGA 00:02.0, the virtio disks from 00:03.0 in
// boot order, the virtio-scsi controller, then the interfaces), so a guest
// that was installed on them (Windows keys its devices by slot) keeps
// them. Does nothing to a domain plan_launch refuses; assign_pci_addresses
// then places what is left.
void keep_earlier_amber_vmm_slots(xml::Domain& domain);

}  // namespace amber::driver::vm
