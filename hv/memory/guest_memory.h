// SPDX-License-Identifier: GPL-2.0-or-later
// GuestMemory: the map of guest-physical RAM to host memory.
//
// Built once while the VM is set up (add_region), then read-only, so
// translate() needs no lock and may be called from any vCPU or iothread.
// Every access the VMM makes on behalf of the guest goes through
// translate(), which refuses ranges that are not wholly inside one RAM
// region: the guest is hostile and chooses these addresses.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace amber::hv {

struct MemoryRegion {
  uint64_t guest_address = 0;
  uint64_t size = 0;
  uint8_t* host = nullptr;  // owned by whoever mapped it (the VM's RAM owner)
};

class GuestMemory {
 public:
  // Adds a RAM region; regions must not overlap (returns false if they do).
  bool add_region(uint64_t guest_address, uint64_t size, uint8_t* host);

  // Host pointer for [gpa, gpa + length) when the whole range lies inside
  // one region and does not wrap; nullptr otherwise. length 0 is allowed.
  uint8_t* translate(uint64_t gpa, uint64_t length) const;

  // Bounds-checked copies; false when the range is not guest RAM.
  bool read(uint64_t gpa, void* out, uint64_t length) const;
  bool write(uint64_t gpa, const void* data, uint64_t length) const;

  std::span<const MemoryRegion> regions() const { return regions_; }

 private:
  std::vector<MemoryRegion> regions_;  // sorted by guest_address
};

}  // namespace amber::hv
