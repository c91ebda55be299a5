// SPDX-License-Identifier: GPL-2.0-or-later
// SlotAllocator: who holds each function of PCI bus 0 before any device is
// attached, so that devices with a fixed address (the platform's, and the
// addr= of an option) are placed first and the rest take free slots. A
// taken address is refused naming both devices, as QEMU does ("PCI:
// slot 3 function 0 not available for e1000, in use by virtio-blk-pci").
//
// The builder makes one per VM (hv/vmm/pci_plan.cpp); it knows nothing of
// device kinds, so any new PCI device reserves or allocates through it.
//
// Thread-safety: none; set-up only, on the main thread.
#pragma once

#include <array>
#include <string>

#include "common/result.h"
#include "hv/pci/host_bridge.h"

namespace amber::hv::pci {

class SlotAllocator {
 public:
  // Claims SLOT.FUNCTION for OWNER ("--nic net0"). Refuses a slot above
  // 31, a function above 7, and an address another owner holds.
  Result<void> reserve(unsigned slot, unsigned function, const std::string& owner);
  // Claims function 0 of the lowest slot >= FIRST with no function held,
  // and returns that slot; refuses when none is left.
  Result<unsigned> allocate(unsigned first, const std::string& owner);
  // The owner of SLOT.FUNCTION, or "" when free (or out of range).
  const std::string& owner(unsigned slot, unsigned function) const;
  // Whether any function of SLOT is held.
  bool slot_in_use(unsigned slot) const;

 private:
  std::array<std::array<std::string, kFunctions>, kSlots> owners_;
};

}  // namespace amber::hv::pci
