// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/bus/io_bus.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace amber::hv::bus {
Result<void> IoBus::add(uint64_t base, uint64_t length, IoDevice* device, std::string owner) {
  if (length == 0 || base + length < base)
    return Error(ErrorKind::kInvalidArgument, name_ + ": empty or wrapping range for " + owner);
  std::unique_lock lock(mutex_);
  auto next = ranges_.lower_bound(base);
  if (next != ranges_.end() && next->first < base + length)
    return Error(ErrorKind::kInvalidArgument,
                 name_ + ": " + owner + " overlaps " + next->second.owner);
  if (next != ranges_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second.length > base)
      return Error(ErrorKind::kInvalidArgument,
                   name_ + ": " + owner + " overlaps " + prev->second.owner);
  }
  ranges_.emplace(base, Range{length, device, std::move(owner)});
  return ok();
}

bool IoBus::remove(uint64_t base) {
  std::unique_lock lock(mutex_);
  return ranges_.erase(base) != 0;
}

IoDevice* IoBus::find(uint64_t address, uint64_t length, uint64_t* offset) const {
  std::shared_lock lock(mutex_);
  auto it = ranges_.upper_bound(address);
  if (it == ranges_.begin()) return nullptr;
  --it;
  const uint64_t rel = address - it->first;
  if (rel >= it->second.length || length > it->second.length - rel) return nullptr;
  *offset = rel;
  return it->second.device;
}

void IoBus::log_unclaimed(const char* what, uint64_t address, size_t length) {
  if (std::getenv("AMBER_DEBUG") == nullptr) return;
  const auto suppressed = unclaimed_log_.allow();
  if (!suppressed) return;
  std::fprintf(stderr, "amber-vmm: debug: %s %s of %zu bytes at 0x%llx: no device%s\n",
               name_.c_str(), what, length, static_cast<unsigned long long>(address),
               suppressed_note(*suppressed).c_str());
}

bool IoBus::read(uint64_t address, std::span<uint8_t> data) {
  uint64_t offset = 0;
  if (IoDevice* device = find(address, data.size(), &offset)) {
    device->io_read(offset, data);
    return true;
  }
  std::fill(data.begin(), data.end(), 0xFF);
  log_unclaimed("read", address, data.size());
  return false;
}

bool IoBus::write(uint64_t address, std::span<const uint8_t> data) {
  uint64_t offset = 0;
  if (IoDevice* device = find(address, data.size(), &offset)) {
    device->io_write(offset, data);
    return true;
  }
  log_unclaimed("write", address, data.size());
  return false;
}

}  // namespace amber::hv::bus
