// SPDX-License-Identifier: GPL-2.0-or-later
#include "block/io/fault_file.h"

#include <cerrno>
#include <random>

namespace amber::block::io {

void FaultFile::fail_after(FaultOp op, uint64_t calls, int error_number, FaultKind kind) {
  std::lock_guard lock(mutex_);
  fault_op_ = op;
  countdown_ = calls;
  errno_ = error_number;
  kind_ = kind;
  short_written_ = false;
  armed_ = true;
}

void FaultFile::clear_faults() {
  std::lock_guard lock(mutex_);
  armed_ = false;
  crashed_ = false;
}

size_t FaultFile::pending_updates() const {
  std::lock_guard lock(mutex_);
  return undo_.size();
}

uint64_t FaultFile::operations() const {
  std::lock_guard lock(mutex_);
  return operations_;
}

uint64_t FaultFile::failures() const {
  std::lock_guard lock(mutex_);
  return failures_;
}

FaultFile::Verdict FaultFile::check(FaultOp op) {
  std::lock_guard lock(mutex_);
  ++operations_;
  if (crashed_) {
    ++failures_;
    return Verdict::kFail;
  }
  if (!armed_ || (fault_op_ != FaultOp::kAny && fault_op_ != op)) return Verdict::kPass;
  if (countdown_ > 0) {
    --countdown_;
    return Verdict::kPass;
  }
  ++failures_;
  if (kind_ == FaultKind::kShortWrite && op == FaultOp::kWrite && !short_written_) {
    short_written_ = true;
    return Verdict::kFailShort;
  }
  return Verdict::kFail;
}

Result<void> FaultFile::failure() {
  std::lock_guard lock(mutex_);
  if (crashed_) return Error::from_errno(EIO, "'" + inner_->name() + "': device lost (crash)");
  return Error::from_errno(errno_, "'" + inner_->name() + "': injected fault");
}

Result<void> FaultFile::remember(uint64_t offset, uint64_t length) {
  AMBER_TRY_ASSIGN(uint64_t old_size, inner_->size());
  Undo undo{offset, std::vector<std::byte>(length), old_size};
  AMBER_TRY(inner_->read_at(offset, undo.old_data));
  std::lock_guard lock(mutex_);
  undo_.push_back(std::move(undo));
  return ok();
}

size_t FaultFile::crash(uint64_t seed) {
  std::lock_guard lock(mutex_);
  std::mt19937_64 rng(seed);
  size_t reverted = 0;
  uint64_t smallest_size = UINT64_MAX;
  bool revert_size = false;
  for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) {
    if (rng() % 2 == 0) continue;
    (void)inner_->write_at(it->offset, it->old_data);
    smallest_size = std::min(smallest_size, it->old_size);
    revert_size = true;
    ++reverted;
  }
  if (revert_size) {
    auto current = inner_->size();
    if (current.ok() && *current > smallest_size && rng() % 2 == 0)
      (void)inner_->truncate(smallest_size);
  }
  undo_.clear();
  crashed_ = true;
  return reverted;
}

Result<void> FaultFile::read_at(uint64_t offset, std::span<std::byte> buffer) {
  if (check(FaultOp::kRead) != Verdict::kPass) return failure();
  return inner_->read_at(offset, buffer);
}

Result<void> FaultFile::write_at(uint64_t offset, std::span<const std::byte> data) {
  const Verdict verdict = check(FaultOp::kWrite);
  if (verdict == Verdict::kFailShort) {
    // Sectors are stored whole (kSector), as a disk does.
    constexpr uint64_t kSector = 512;
    const uint64_t stored = data.size() / 2 / kSector * kSector;
    if (stored != 0) {
      AMBER_TRY(remember(offset, stored));
      AMBER_TRY(inner_->write_at(offset, data.first(stored)));
    }
  }
  if (verdict != Verdict::kPass) return failure();
  AMBER_TRY(remember(offset, data.size()));
  return inner_->write_at(offset, data);
}

Result<void> FaultFile::flush() {
  if (check(FaultOp::kFlush) != Verdict::kPass) return failure();
  AMBER_TRY(inner_->flush());
  std::lock_guard lock(mutex_);
  undo_.clear();
  return ok();
}

Result<void> FaultFile::punch_hole(uint64_t offset, uint64_t length) {
  if (check(FaultOp::kDiscard) != Verdict::kPass) return failure();
  AMBER_TRY(remember(offset, length));
  return inner_->punch_hole(offset, length);
}

Result<void> FaultFile::write_zeroes(uint64_t offset, uint64_t length) {
  if (check(FaultOp::kZero) != Verdict::kPass) return failure();
  AMBER_TRY(remember(offset, length));
  return inner_->write_zeroes(offset, length);
}

Result<ZeroOutcome> FaultFile::zero_range_no_fallback(uint64_t offset, uint64_t length) {
  if (check(FaultOp::kZero) != Verdict::kPass) return std::move(failure()).error();
  AMBER_TRY(remember(offset, length));
  return inner_->zero_range_no_fallback(offset, length);
}

Result<void> FaultFile::allocate(uint64_t offset, uint64_t length) {
  if (check(FaultOp::kWrite) != Verdict::kPass) return failure();
  return inner_->allocate(offset, length);
}

Result<uint64_t> FaultFile::size() {
  return inner_->size();
}

Result<void> FaultFile::truncate(uint64_t new_size) {
  if (check(FaultOp::kTruncate) != Verdict::kPass) return failure();
  return inner_->truncate(new_size);
}

Result<uint64_t> FaultFile::allocated_size() {
  return inner_->allocated_size();
}

}  // namespace amber::block::io
