// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/memory/ram.h"

#include <sys/mman.h>

#include <cerrno>
#include <fstream>

namespace amber::hv {
namespace {

constexpr uint64_t kHugepageSize = 2 * kMiB;
constexpr const char* kFreeHugepagesPath =
    "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages";
constexpr uint64_t kLowRamEnd = 0x9FC00;  // below the EBDA
constexpr uint64_t kBiosAreaStart = 0xF0000;

std::string hugepage_advice(uint64_t needed, uint64_t free) {
  return "hugepages=on needs " + std::to_string(needed) + " free 2 MiB hugepages, the host has " +
         std::to_string(free) + "; reserve them with: echo " + std::to_string(needed) +
         " > /proc/sys/vm/nr_hugepages (as root), or use hugepages=off";
}

}  // namespace

RamLayout plan_ram(uint64_t total) {
  RamLayout layout;
  layout.total = total;
  layout.below_4g = total < kLowMemoryLimit ? total : kLowMemoryLimit;
  layout.above_4g = total - layout.below_4g;
  return layout;
}

std::vector<E820Entry> firmware_e820(const RamLayout& layout) {
  std::vector<E820Entry> map{{0, layout.below_4g, E820Type::kRam},
                             {kTssAddress, kTssAreaSize, E820Type::kReserved}};
  if (layout.above_4g != 0) map.push_back({k4GiB, layout.above_4g, E820Type::kRam});
  return map;
}

std::vector<E820Entry> kernel_e820(const RamLayout& layout) {
  std::vector<E820Entry> map{{0, kLowRamEnd, E820Type::kRam},
                             {kLowRamEnd, 0xA0000 - kLowRamEnd, E820Type::kReserved},
                             {kBiosAreaStart, 0x100000 - kBiosAreaStart, E820Type::kReserved},
                             {0x100000, layout.below_4g - 0x100000, E820Type::kRam},
                             {kTssAddress, kTssAreaSize, E820Type::kReserved},
                             {kBiosReservedStart, k4GiB - kBiosReservedStart, E820Type::kReserved}};
  if (layout.above_4g != 0) map.push_back({k4GiB, layout.above_4g, E820Type::kRam});
  return map;
}

Result<uint64_t> free_hugepages() {
  std::ifstream in(kFreeHugepagesPath);
  uint64_t count = 0;
  if (!(in >> count))
    return Error(ErrorKind::kUnsupported, std::string("hugepages=on: cannot read ") +
                                              kFreeHugepagesPath +
                                              " (no 2 MiB hugepage support on this host?)");
  return count;
}

Result<GuestRam> GuestRam::allocate(uint64_t total, Hugepages hugepages) {
  if (total < kMinimumRam)
    return Error(ErrorKind::kInvalidArgument, "memory size must be at least 16M");
  GuestRam ram;
  ram.layout_ = plan_ram(total);
  int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
  uint64_t length = total;
  if (hugepages == Hugepages::kOn) {
    length = (total + kHugepageSize - 1) / kHugepageSize * kHugepageSize;
    const uint64_t needed = length / kHugepageSize;
    AMBER_TRY_ASSIGN(const uint64_t free, free_hugepages());
    if (free < needed) return Error(ErrorKind::kNoSpace, hugepage_advice(needed, free));
    flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE;
  }
  void* host = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (host == MAP_FAILED) {
    if (hugepages == Hugepages::kOn) {
      const uint64_t free = free_hugepages().ok() ? *free_hugepages() : 0;
      return Error(ErrorKind::kNoSpace, hugepage_advice(length / kHugepageSize, free) +
                                            " (mmap MAP_HUGETLB failed: " + std::strerror(errno) +
                                            ")");
    }
    return Error::from_errno(errno, "allocating guest RAM");
  }
  if (hugepages == Hugepages::kOff) ::madvise(host, length, MADV_HUGEPAGE);
  ram.host_ = static_cast<uint8_t*>(host);
  ram.mapped_ = length;
  const RamLayout& l = ram.layout_;
  ram.memory_.add_region(0, kVgaHoleStart, ram.host_);
  ram.memory_.add_region(kVgaHoleEnd, l.below_4g - kVgaHoleEnd, ram.host_ + kVgaHoleEnd);
  if (l.above_4g != 0) ram.memory_.add_region(k4GiB, l.above_4g, ram.high_host());
  return ram;
}

GuestRam::GuestRam(GuestRam&& other) noexcept
    : layout_(other.layout_), host_(other.host_), mapped_(other.mapped_), memory_(other.memory_) {
  other.host_ = nullptr;
  other.mapped_ = 0;
}

GuestRam::~GuestRam() {
  if (host_ != nullptr) ::munmap(host_, mapped_);
}

}  // namespace amber::hv
