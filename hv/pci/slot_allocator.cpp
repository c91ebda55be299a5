// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/pci/slot_allocator.h"

#include <cstdio>

namespace amber::hv::pci {
namespace {

std::string address_text(unsigned slot, unsigned function) {
  char text[16];
  std::snprintf(text, sizeof text, "00:%02x.%x", slot & 0xff, function & 0xf);
  return text;
}

const std::string kFree;

}  // namespace

Result<void> SlotAllocator::reserve(unsigned slot, unsigned function, const std::string& owner) {
  if (slot >= kSlots || function >= kFunctions)
    return Error(ErrorKind::kInvalidArgument, owner + ": PCI address " +
                                                  address_text(slot, function) +
                                                  " is not on bus 0 (slots 00-1f, functions 0-7)");
  std::string& holder = owners_[slot][function];
  if (!holder.empty())
    return Error(ErrorKind::kInvalidArgument, owner + ": PCI address " +
                                                  address_text(slot, function) +
                                                  " is already in use by " + holder);
  holder = owner;
  return ok();
}

Result<unsigned> SlotAllocator::allocate(unsigned first, const std::string& owner) {
  for (unsigned slot = first; slot < kSlots; ++slot) {
    if (slot_in_use(slot)) continue;
    owners_[slot][0] = owner;
    return slot;
  }
  return Error(ErrorKind::kInvalidArgument, owner + ": no free PCI slot left on bus 0");
}

const std::string& SlotAllocator::owner(unsigned slot, unsigned function) const {
  if (slot >= kSlots || function >= kFunctions) return kFree;
  return owners_[slot][function];
}

bool SlotAllocator::slot_in_use(unsigned slot) const {
  if (slot >= kSlots) return true;
  for (const std::string& holder : owners_[slot])
    if (!holder.empty()) return true;
  return false;
}

}  // namespace amber::hv::pci
