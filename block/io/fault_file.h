// FaultFile: a File wrapper that fails on command or "loses power".
//
// Failure injection: fail_after(op, n, errno) makes the n-th following call
// of that operation (0 = the next one) and every later one fail with errno
// until clear_faults().
// Crash simulation: every write, punch and zero since the last successful
// flush() is kept in an undo log; crash(seed) reverts a random subset of
// them (newest first), as if the host lost power with those writes still in
// its cache, and then fails every call until clear_faults().
//
// Thread-safety: a mutex guards the bookkeeping; the inner File must be
// thread-safe itself.
#pragma once

#include <cstdint>
#include <mutex>
#include <vector>

#include "block/io/file.h"

namespace amber::block::io {

enum class FaultOp { kRead, kWrite, kFlush, kDiscard, kZero, kTruncate, kAny };

class FaultFile final : public File {
 public:
  explicit FaultFile(std::unique_ptr<File> inner) : inner_(std::move(inner)) {}

  void fail_after(FaultOp op, uint64_t calls, int error_number);
  void clear_faults();
  // Reverts a random subset of unflushed updates; returns how many.
  size_t crash(uint64_t seed);
  size_t pending_updates() const;

  Result<void> read_at(uint64_t offset, std::span<std::byte> buffer) override;
  Result<void> write_at(uint64_t offset, std::span<const std::byte> data) override;
  Result<void> flush() override;
  Result<void> punch_hole(uint64_t offset, uint64_t length) override;
  Result<void> write_zeroes(uint64_t offset, uint64_t length) override;
  Result<void> allocate(uint64_t offset, uint64_t length) override;
  Result<uint64_t> size() override;
  Result<void> truncate(uint64_t new_size) override;
  Result<uint64_t> allocated_size() override;
  const std::string& name() const override { return inner_->name(); }

  File& inner() { return *inner_; }

 private:
  struct Undo {
    uint64_t offset;
    std::vector<std::byte> old_data;
    uint64_t old_size;
  };
  Result<void> check(FaultOp op);
  Result<void> remember(uint64_t offset, uint64_t length);

  std::unique_ptr<File> inner_;
  mutable std::mutex mutex_;
  FaultOp fault_op_ = FaultOp::kAny;
  bool armed_ = false;
  bool crashed_ = false;
  uint64_t countdown_ = 0;
  int errno_ = 0;
  std::vector<Undo> undo_;
};

}  // namespace amber::block::io
