// SPDX-License-Identifier: GPL-2.0-or-later
// Firmware (SeaBIOS) placement, as QEMU's pc machine does it:
//  - the whole image read-only (KVM_MEM_READONLY) at 4 GiB - size, where
//    the reset vector 0xFFFFFFF0 lands;
//  - its last min(size, 128 KiB) copied into ordinary RAM ending at 1 MiB
//    (0xE0000-0xFFFFF for a 128 KiB image), re-copied on every reset so a
//    reboot starts from a pristine BIOS.
//
// Thread-safety: load/map at set-up; copy_low_alias from the reset path
// while all vCPUs are parked.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "hv/kvm/kvm.h"
#include "hv/memory/ram.h"

namespace amber::hv::boot {

// Images are multiples of 64 KiB and at most 16 MiB (the flash window
// below 4 GiB that the platform keeps free of MMIO).
inline constexpr uint64_t kFirmwareGranule = 64 * 1024;
inline constexpr uint64_t kFirmwareMaxSize = 16 * kMiB;
inline constexpr uint64_t kLowAliasMax = 128 * 1024;

class Firmware {
 public:
  static Result<std::unique_ptr<Firmware>> load(const std::string& path);
  ~Firmware();
  Firmware(const Firmware&) = delete;
  Firmware& operator=(const Firmware&) = delete;

  uint64_t size() const { return size_; }
  uint64_t base() const { return k4GiB - size_; }
  Result<void> map(kvm::KvmVm& vm, uint32_t slot);
  void copy_low_alias(GuestRam& ram) const;

 private:
  Firmware() = default;
  uint8_t* host_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace amber::hv::boot
