// SPDX-License-Identifier: GPL-2.0-or-later
// GuestRam: the guest's RAM as one host mapping (anonymous or hugetlb),
// laid out around the 32-bit PCI hole, and the e820 maps derived from it.
//
// Layout (SeaBIOS's pcimem_start rule, see doc/amber-vmm.md):
//   below-4G RAM = min(total, 0xC0000000), at guest address 0
//   the rest     = at 4 GiB
// The VGA window 0xA0000-0xBFFFF is a hole (MMIO); 0xC0000-0xFFFFF is RAM.
//
// Thread-safety: built once before vCPUs start, then read-only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "hv/memory/guest_memory.h"

namespace amber::hv {

enum class Hugepages { kOff, kOn };

inline constexpr uint64_t kMiB = 1ULL << 20;
inline constexpr uint64_t kGiB = 1ULL << 30;
inline constexpr uint64_t k4GiB = 4ULL << 30;
inline constexpr uint64_t kLowMemoryLimit = 0xC0000000;  // below-4G RAM ends here at most
inline constexpr uint64_t kVgaHoleStart = 0xA0000;
inline constexpr uint64_t kVgaHoleEnd = 0xC0000;
inline constexpr uint64_t kTssAddress = 0xFEFFC000;  // 3 pages KVM_SET_TSS_ADDR + 1 identity map
inline constexpr uint64_t kTssAreaSize = 0x4000;
inline constexpr uint64_t kBiosReservedStart = 0xFFFC0000;
// Smallest RAM SeaBIOS and the boot protocols are happy with.
inline constexpr uint64_t kMinimumRam = 16 * kMiB;

enum class E820Type : uint32_t { kRam = 1, kReserved = 2 };

struct E820Entry {
  uint64_t address;
  uint64_t length;
  E820Type type;
  bool operator==(const E820Entry&) const = default;
};

struct RamLayout {
  uint64_t total = 0;
  uint64_t below_4g = 0;
  uint64_t above_4g = 0;
};

RamLayout plan_ram(uint64_t total);
// What firmware gets through fw_cfg etc/e820 (SeaBIOS carves the low 1 MiB itself).
std::vector<E820Entry> firmware_e820(const RamLayout& layout);
// What a directly booted kernel gets (low memory holes spelled out).
std::vector<E820Entry> kernel_e820(const RamLayout& layout);

// Free 2 MiB hugepages the host reports (sysfs), or an error.
Result<uint64_t> free_hugepages();

class GuestRam {
 public:
  static Result<GuestRam> allocate(uint64_t total, Hugepages hugepages);
  GuestRam(GuestRam&& other) noexcept;
  GuestRam& operator=(GuestRam&&) = delete;
  GuestRam(const GuestRam&) = delete;
  ~GuestRam();

  const RamLayout& layout() const { return layout_; }
  uint8_t* host() const { return host_; }
  // Host address of guest-physical 4 GiB (start of the high part).
  uint8_t* high_host() const { return host_ + layout_.below_4g; }
  const GuestMemory& memory() const { return memory_; }
  GuestMemory& memory() { return memory_; }

 private:
  GuestRam() = default;
  RamLayout layout_;
  uint8_t* host_ = nullptr;
  uint64_t mapped_ = 0;
  GuestMemory memory_;
};

}  // namespace amber::hv
