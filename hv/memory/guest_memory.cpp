// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/memory/guest_memory.h"

#include <algorithm>
#include <cstring>

namespace amber::hv {

bool GuestMemory::add_region(uint64_t guest_address, uint64_t size, uint8_t* host) {
  if (size == 0 || guest_address + size < guest_address) return false;
  for (const auto& r : regions_) {
    if (guest_address < r.guest_address + r.size && r.guest_address < guest_address + size)
      return false;
  }
  regions_.push_back({guest_address, size, host});
  std::sort(regions_.begin(), regions_.end(), [](const MemoryRegion& a, const MemoryRegion& b) {
    return a.guest_address < b.guest_address;
  });
  return true;
}

uint8_t* GuestMemory::translate(uint64_t gpa, uint64_t length) const {
  if (gpa + length < gpa) return nullptr;  // wraps around the address space
  for (const auto& r : regions_) {
    if (gpa >= r.guest_address && gpa - r.guest_address <= r.size &&
        length <= r.size - (gpa - r.guest_address)) {
      return r.host + (gpa - r.guest_address);
    }
  }
  return nullptr;
}

bool GuestMemory::read(uint64_t gpa, void* out, uint64_t length) const {
  const uint8_t* p = translate(gpa, length);
  if (p == nullptr) return false;
  std::memcpy(out, p, length);
  return true;
}

bool GuestMemory::write(uint64_t gpa, const void* data, uint64_t length) const {
  uint8_t* p = translate(gpa, length);
  if (p == nullptr) return false;
  std::memcpy(p, data, length);
  return true;
}

}  // namespace amber::hv
