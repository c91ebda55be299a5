// SPDX-License-Identifier: GPL-2.0-or-later
#include "block/io/memory_file.h"

#include <algorithm>
#include <cstring>

namespace amber::block::io {

void MemoryFile::grow_locked(uint64_t end) {
  if (end > bytes_.size()) bytes_.resize(end, std::byte{0});
  allocated_.resize((bytes_.size() + kBlock - 1) / kBlock, false);
}

void MemoryFile::mark_locked(uint64_t offset, uint64_t length, bool allocated) {
  if (length == 0) return;
  uint64_t first = offset / kBlock;
  uint64_t last = (offset + length - 1) / kBlock;
  for (uint64_t b = first; b <= last && b < allocated_.size(); ++b) {
    if (allocated) {
      allocated_[b] = true;
    } else if (b * kBlock >= offset && (b + 1) * kBlock <= offset + length) {
      allocated_[b] = false;  // only whole blocks are deallocated, as with punch hole
    }
  }
}

Result<void> MemoryFile::read_at(uint64_t offset, std::span<std::byte> buffer) {
  std::lock_guard lock(mutex_);
  std::fill(buffer.begin(), buffer.end(), std::byte{0});
  if (offset < bytes_.size()) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(buffer.size(), bytes_.size() - offset));
    std::memcpy(buffer.data(), bytes_.data() + offset, n);
  }
  return ok();
}

Result<void> MemoryFile::write_at(uint64_t offset, std::span<const std::byte> data) {
  std::lock_guard lock(mutex_);
  if (offset + data.size() < offset) return Error(ErrorKind::kOutOfRange, "offset overflow");
  grow_locked(offset + data.size());
  if (!data.empty()) std::memcpy(bytes_.data() + offset, data.data(), data.size());
  mark_locked(offset, data.size(), true);
  return ok();
}

Result<void> MemoryFile::flush() {
  std::lock_guard lock(mutex_);
  ++flushes_;
  return ok();
}

Result<void> MemoryFile::punch_hole(uint64_t offset, uint64_t length) {
  std::lock_guard lock(mutex_);
  if (offset >= bytes_.size()) return ok();
  uint64_t end = std::min<uint64_t>(offset + length, bytes_.size());
  std::fill(bytes_.begin() + static_cast<ptrdiff_t>(offset),
            bytes_.begin() + static_cast<ptrdiff_t>(end), std::byte{0});
  mark_locked(offset, end - offset, false);
  return ok();
}

Result<void> MemoryFile::write_zeroes(uint64_t offset, uint64_t length) {
  std::lock_guard lock(mutex_);
  grow_locked(offset + length);
  std::fill(bytes_.begin() + static_cast<ptrdiff_t>(offset),
            bytes_.begin() + static_cast<ptrdiff_t>(offset + length), std::byte{0});
  mark_locked(offset, length, true);
  return ok();
}

Result<ZeroOutcome> MemoryFile::zero_range_no_fallback(uint64_t offset, uint64_t length) {
  AMBER_TRY(write_zeroes(offset, length));
  return ZeroOutcome::kZeroed;
}

Result<void> MemoryFile::allocate(uint64_t offset, uint64_t length) {
  std::lock_guard lock(mutex_);
  grow_locked(offset + length);
  mark_locked(offset, length, true);
  return ok();
}

Result<uint64_t> MemoryFile::size() {
  std::lock_guard lock(mutex_);
  return static_cast<uint64_t>(bytes_.size());
}

Result<void> MemoryFile::truncate(uint64_t new_size) {
  std::lock_guard lock(mutex_);
  bytes_.resize(new_size, std::byte{0});
  allocated_.resize((new_size + kBlock - 1) / kBlock, false);
  return ok();
}

Result<uint64_t> MemoryFile::allocated_size() {
  std::lock_guard lock(mutex_);
  return static_cast<uint64_t>(std::count(allocated_.begin(), allocated_.end(), true)) * kBlock;
}

Result<FileExtent> MemoryFile::extent_at(uint64_t offset, uint64_t max_length) {
  std::lock_guard lock(mutex_);
  const uint64_t size = bytes_.size();
  if (offset >= size || max_length == 0) return FileExtent{true, max_length};
  const auto allocated = [&](uint64_t at) {
    const uint64_t block = at / kBlock;
    return block < allocated_.size() && allocated_[block];
  };
  const bool hole = !allocated(offset);
  uint64_t end = (offset / kBlock + 1) * kBlock;
  while (end < size && end - offset < max_length && allocated(end) != hole) end += kBlock;
  if (hole && end >= size) return FileExtent{true, max_length};  // a trailing hole
  if (!hole) end = std::min(end, size);
  return FileExtent{hole, std::min(max_length, end - offset)};
}

std::vector<std::byte> MemoryFile::contents() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

uint64_t MemoryFile::flush_count() const {
  std::lock_guard lock(mutex_);
  return flushes_;
}

}  // namespace amber::block::io
