// SPDX-License-Identifier: GPL-2.0-or-later
// Guest-visible boot structures, laid out as the guest reads them:
// Linux's boot_params (the "zero page", x86 boot protocol; we address it
// by documented offsets) and Xen's PVH hvm_start_info with its module list
// and memory map (xen/include/public/arch-x86/hvm/start_info.h).
//
// Thread-safety: plain data.
#pragma once

#include <cstdint>

namespace amber::hv::boot {

// The zero page is 4 KiB; fields are written at their protocol offsets.
struct BootParams {
  uint8_t bytes[4096];
};

// boot_params holds at most 128 e820 entries (E820_MAX_ENTRIES_ZEROPAGE).
inline constexpr size_t kE820Max = 128;

#pragma pack(push, 1)
struct BootE820Entry {
  uint64_t address;
  uint64_t size;
  uint32_t type;
};
#pragma pack(pop)
static_assert(sizeof(BootE820Entry) == 20);

inline constexpr uint32_t kHvmStartMagic = 0x336ec578;

struct HvmStartInfo {
  uint32_t magic;
  uint32_t version;  // 1: memmap fields present
  uint32_t flags;
  uint32_t nr_modules;
  uint64_t modlist_paddr;
  uint64_t cmdline_paddr;
  uint64_t rsdp_paddr;
  uint64_t memmap_paddr;
  uint32_t memmap_entries;
  uint32_t reserved;
};
static_assert(sizeof(HvmStartInfo) == 56);

struct HvmModlistEntry {
  uint64_t paddr;
  uint64_t size;
  uint64_t cmdline_paddr;
  uint64_t reserved;
};
static_assert(sizeof(HvmModlistEntry) == 32);

struct HvmMemmapEntry {
  uint64_t address;
  uint64_t size;
  uint32_t type;
  uint32_t reserved;
};
static_assert(sizeof(HvmMemmapEntry) == 24);

}  // namespace amber::hv::boot
