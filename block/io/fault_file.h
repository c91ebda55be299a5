// SPDX-License-Identifier: GPL-2.0-or-later
// FaultFile: a File wrapper that fails on command or "loses power".
//
// Failure injection: fail_after(op, n, errno) makes the n-th following call
// of that operation (0 = the next one) and every later one fail with errno
// until clear_faults(). With FaultKind::kShortWrite the first failing write
// first stores a prefix of its data (half of it, rounded down to whole
// 512-byte sectors, as a disk stores sectors atomically) and then fails, as
// a write(2) that returns short and then ENOSPC does.
// operations() counts every call that can fail (each I/O: read, write,
// flush, discard, zero, allocate, truncate), so a test can measure a
// workload and then fail its 1st, 2nd, ... N-th I/O in turn (kAny).
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
// How an injected failure looks: a plain error, or a write that stores part
// of its data first (other operations just fail).
enum class FaultKind { kError, kShortWrite };

class FaultFile final : public File {
 public:
  explicit FaultFile(std::unique_ptr<File> inner) : inner_(std::move(inner)) {}

  void fail_after(FaultOp op, uint64_t calls, int error_number, FaultKind kind = FaultKind::kError);
  void clear_faults();
  // Reverts a random subset of unflushed updates; returns how many.
  size_t crash(uint64_t seed);
  size_t pending_updates() const;
  // I/O calls made so far (failed ones included).
  uint64_t operations() const;
  // Injected failures returned so far.
  uint64_t failures() const;

  Result<void> read_at(uint64_t offset, std::span<std::byte> buffer) override;
  Result<void> write_at(uint64_t offset, std::span<const std::byte> data) override;
  Result<void> flush() override;
  Result<void> punch_hole(uint64_t offset, uint64_t length) override;
  Result<void> write_zeroes(uint64_t offset, uint64_t length) override;
  // A kZero operation, remembered for crash() as a write is.
  Result<ZeroOutcome> zero_range_no_fallback(uint64_t offset, uint64_t length) override;
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
  // What check() decided for one call.
  enum class Verdict { kPass, kFail, kFailShort };
  Verdict check(FaultOp op);
  Result<void> failure();
  Result<void> remember(uint64_t offset, uint64_t length);

  std::unique_ptr<File> inner_;
  mutable std::mutex mutex_;
  FaultOp fault_op_ = FaultOp::kAny;
  bool armed_ = false;
  bool crashed_ = false;
  uint64_t countdown_ = 0;
  int errno_ = 0;
  FaultKind kind_ = FaultKind::kError;
  bool short_written_ = false;  // the one short write of this fault is done
  uint64_t operations_ = 0;
  uint64_t failures_ = 0;
  std::vector<Undo> undo_;
};

}  // namespace amber::block::io
