// SPDX-License-Identifier: GPL-2.0-or-later
// A device's place on PCI bus 0 as amber-vmm's options take it: QEMU's
// -device ...,addr=SLOT[.FN], both numbers hex ("addr=0x5", "addr=05.0",
// "addr=5"). The daemon passes the slot of each device of the domain XML
// (<address type='pci' slot= function=>); amber-vmm places a device
// without one itself (hv/pci/slot_allocator.h).
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace amber::vmmctl {

// Bus 0 has 32 slots of 8 functions (the PCI configuration address).
inline constexpr unsigned kMaxPciSlot = 31;
inline constexpr unsigned kMaxPciFunction = 7;
// Slot 0 is the i440FX host bridge, slot 1 the PIIX3 (ISA 01.0, IDE 01.1,
// UHCI 01.2, PM 01.3): no option may place a device there.
inline constexpr unsigned kFirstFreePciSlot = 2;

struct PciSlot {
  unsigned slot = 0;
  unsigned function = 0;
  bool operator==(const PciSlot&) const = default;
};

// "SLOT[.FN]" in hex with an optional 0x on either number; OPTION names the
// option in the message ("--disk addr"). Refuses a slot above 31 and a
// function above 7; what a device accepts beyond that is validate()'s.
Result<PciSlot> parse_pci_slot(std::string_view text, std::string_view option);
// "0x5" for function 0 (QEMU's spelling in libvirt's command lines),
// "05.1" otherwise: parse_pci_slot reads both back.
std::string format_pci_slot(const PciSlot& slot);
// "0000:00:05.0", the spelling of messages, lspci and libvirt.
std::string pci_address_text(const PciSlot& slot);
// The checks of a single-function device's addr= (OPTION names it): not
// slot 0 or 1, function 0, slot at most 31.
Result<void> validate_device_slot(const PciSlot& slot, std::string_view option);

}  // namespace amber::vmmctl
