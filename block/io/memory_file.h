// SPDX-License-Identifier: GPL-2.0-or-later
// MemoryFile: a File held in memory, for unit tests of the layers above.
//
// Tracks which 4 KiB blocks are "allocated" so punch_hole shows up in
// allocated_size() as on a real file system. flush() counts calls.
//
// Thread-safety: a mutex guards every call; safe from several threads.
#pragma once

#include <mutex>
#include <vector>

#include "block/io/file.h"

namespace amber::block::io {

class MemoryFile final : public File {
 public:
  explicit MemoryFile(std::string name = "<memory>") : name_(std::move(name)) {}

  Result<void> read_at(uint64_t offset, std::span<std::byte> buffer) override;
  Result<void> write_at(uint64_t offset, std::span<const std::byte> data) override;
  Result<void> flush() override;
  Result<void> punch_hole(uint64_t offset, uint64_t length) override;
  Result<void> write_zeroes(uint64_t offset, uint64_t length) override;
  // Always kZeroed (as write_zeroes): memory zeroes cheaply.
  Result<ZeroOutcome> zero_range_no_fallback(uint64_t offset, uint64_t length) override;
  Result<void> allocate(uint64_t offset, uint64_t length) override;
  Result<uint64_t> size() override;
  Result<void> truncate(uint64_t new_size) override;
  Result<uint64_t> allocated_size() override;
  // Holes are the unallocated kBlock blocks and everything past the end.
  Result<FileExtent> extent_at(uint64_t offset, uint64_t max_length) override;
  const std::string& name() const override { return name_; }

  // Test access to the bytes (a copy, taken under the lock).
  std::vector<std::byte> contents() const;
  uint64_t flush_count() const;

  // Blocks of this size are the unit of allocation tracking.
  static constexpr uint64_t kBlock = 4096;

 private:
  void grow_locked(uint64_t end);
  void mark_locked(uint64_t offset, uint64_t length, bool allocated);

  mutable std::mutex mutex_;
  std::string name_;
  std::vector<std::byte> bytes_;
  std::vector<bool> allocated_;  // one per kBlock
  uint64_t flushes_ = 0;
};

}  // namespace amber::block::io
