// SPDX-License-Identifier: GPL-2.0-or-later
// FlakyImage: a disk in memory (kDiskSize bytes) whose writes, reads and
// flushes fail with a chosen errno until heal(); logs the offsets of the
// writes that succeeded. For the error-policy tests of virtio-blk, IDE
// and SCSI disks. Thread-safe (one mutex).
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "block/image.h"

namespace amber::hv::virtio::test {

inline constexpr uint64_t kDiskSize = 4 << 20;

class FlakyImage final : public block::Image {
 public:
  FlakyImage() : data_(kDiskSize) {}
  block::ImageFormat format() const override { return block::ImageFormat::kRaw; }
  uint64_t size() const override { return data_.size(); }
  const std::string& filename() const override { return name_; }
  bool read_only() const override { return false; }
  Result<void> readv(uint64_t offset, std::span<const iovec> iov) override {
    std::lock_guard lock(mutex_);
    if (read_errno_ != 0) return Error::from_errno(read_errno_, "flaky: read");
    for (const auto& v : iov) {
      std::memcpy(v.iov_base, data_.data() + offset, v.iov_len);
      offset += v.iov_len;
    }
    return ok();
  }
  Result<void> writev(uint64_t offset, std::span<const iovec> iov) override {
    std::lock_guard lock(mutex_);
    ++write_calls_;
    int error = write_errno_;
    if (error == 0 && enospc_sector_ && offset / 512 == *enospc_sector_) error = ENOSPC;
    if (error != 0) return Error::from_errno(error, "flaky: write");
    written_.push_back(offset / 512);
    for (const auto& v : iov) {
      std::memcpy(data_.data() + offset, v.iov_base, v.iov_len);
      offset += v.iov_len;
    }
    return ok();
  }
  Result<void> flush() override {
    std::lock_guard lock(mutex_);
    ++flushes_;
    if (flush_errno_ != 0) return Error::from_errno(flush_errno_, "flaky: flush");
    return ok();
  }
  Result<void> discard(uint64_t, uint64_t) override { return ok(); }
  Result<void> write_zeroes(uint64_t, uint64_t, block::ZeroMode) override { return ok(); }
  Result<block::BlockStatus> block_status(uint64_t, uint64_t) override {
    return Error(ErrorKind::kUnsupported, "test image");
  }
  Result<void> resize(uint64_t, block::Preallocation) override {
    return Error(ErrorKind::kUnsupported, "test image");
  }
  Result<block::ImageInfo> info() override { return block::ImageInfo{}; }
  block::Image* backing() override { return nullptr; }
  Result<void> close() override { return ok(); }

  void fail_writes(int error) {
    std::lock_guard lock(mutex_);
    write_errno_ = error;
  }
  void fail_reads(int error) {
    std::lock_guard lock(mutex_);
    read_errno_ = error;
  }
  void fail_flushes(int error) {
    std::lock_guard lock(mutex_);
    flush_errno_ = error;
  }
  // Writes that start at `sector` fail with ENOSPC.
  void fail_sector_with_enospc(uint64_t sector) {
    std::lock_guard lock(mutex_);
    enospc_sector_ = sector;
  }
  void heal() {
    std::lock_guard lock(mutex_);
    write_errno_ = read_errno_ = flush_errno_ = 0;
    enospc_sector_.reset();
  }
  std::vector<uint64_t> written() {
    std::lock_guard lock(mutex_);
    return written_;
  }
  int write_calls() {
    std::lock_guard lock(mutex_);
    return write_calls_;
  }
  int flushes() {
    std::lock_guard lock(mutex_);
    return flushes_;
  }
  uint8_t byte(uint64_t offset) {
    std::lock_guard lock(mutex_);
    return static_cast<uint8_t>(data_[offset]);
  }

 private:
  std::mutex mutex_;
  std::vector<std::byte> data_;
  std::string name_ = "flaky";
  int write_errno_ = 0, read_errno_ = 0, flush_errno_ = 0;
  std::optional<uint64_t> enospc_sector_;
  std::vector<uint64_t> written_;
  int write_calls_ = 0, flushes_ = 0;
};

}  // namespace amber::hv::virtio::test
