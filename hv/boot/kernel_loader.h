// SPDX-License-Identifier: GPL-2.0-or-later
// KernelLoader: direct boot without firmware. Detects the kernel kind:
//  - a Linux bzImage (boot protocol >= 2.06, "HdrS" at 0x202): the
//    protected-mode part goes to 1 MiB, boot_params (the zero page) with
//    the e820 map, command line and initrd (placed high, below
//    initrd_addr_max) is built at 0x7000, and the BSP enters code32_start
//    in 32-bit flat protected mode, paging off, esi = boot_params;
//  - an ELF with the Xen PVH note (XEN_ELFNOTE_PHYS32_ENTRY = 18): PT_LOAD
//    segments at their physical addresses, hvm_start_info (magic
//    0x336ec578, version 1) with memmap, cmdline and the initrd as module
//    0, entry in 32-bit flat protected mode, paging off, ebx = start_info.
// Everything the loader writes is bounds-checked against guest RAM; the
// kernel file is trusted no more than a disk image is.
//
// reload() rewrites guest memory on reset (the vCPU registers are restored
// from the machine's reset snapshot).
//
// Thread-safety: set-up and reset path only (vCPUs parked).
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "hv/kvm/kvm.h"
#include "hv/memory/ram.h"

namespace amber::hv::boot {

enum class KernelKind { kBzImage, kPvh };

class KernelLoader {
 public:
  static Result<std::unique_ptr<KernelLoader>> open(const std::string& kernel,
                                                    const std::string& initrd,
                                                    const std::string& cmdline);
  KernelKind kind() const { return kind_; }
  // Writes the kernel, initrd and boot structures; sets the BSP registers.
  Result<void> load(GuestRam& ram, const std::vector<E820Entry>& e820, kvm::KvmVcpu& bsp);
  Result<void> reload(GuestRam& ram);

 private:
  KernelLoader() = default;
  Result<void> load_bzimage(GuestRam& ram);
  Result<void> load_pvh(GuestRam& ram);
  Result<void> put(GuestRam& ram, uint64_t gpa, const void* data, uint64_t length,
                   const char* what);

  KernelKind kind_ = KernelKind::kBzImage;
  std::vector<uint8_t> kernel_;
  std::vector<uint8_t> initrd_;
  std::string cmdline_;
  std::vector<E820Entry> e820_;
  uint32_t entry_ = 0;      // 32-bit entry point
  uint32_t boot_info_ = 0;  // esi (bzImage) / ebx (PVH)
};

// Sets 32-bit flat protected mode (CS/DS/ES/SS base 0 limit 4G, paging off).
Result<void> enter_protected_mode(kvm::KvmVcpu& vcpu, uint32_t entry, uint32_t esi, uint32_t ebx);

}  // namespace amber::hv::boot
