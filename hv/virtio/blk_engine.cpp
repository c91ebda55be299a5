// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/virtio/blk_engine.h"

#include <sys/uio.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "hv/virtio/virtio_spec.h"

namespace amber::hv::virtio {
namespace {

uint64_t now_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

uint32_t le32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t le64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

}  // namespace

// Copies the first out.size() bytes of `data` (caller checked its length).
void copy_out(std::span<const iovec> data, std::span<uint8_t> out) {
  size_t done = 0;
  for (const auto& v : data) {
    if (done == out.size()) break;
    const size_t n = std::min(v.iov_len, out.size() - done);
    std::memcpy(out.data() + done, v.iov_base, n);
    done += n;
  }
}

BlkEngine::BlkEngine(std::shared_ptr<block::Image> image, const BlkOptions& options)
    : image_(std::move(image)),
      options_(options),
      capacity_sectors_(image_->size() / block::kSectorSize) {}

uint64_t BlkEngine::offered_features() const {
  uint64_t f = feature_bit(kBlkFeatureSizeMax) | feature_bit(kBlkFeatureSegMax) |
               feature_bit(kBlkFeatureBlkSize) | feature_bit(kBlkFeatureFlush) |
               feature_bit(kBlkFeatureTopology) | feature_bit(kBlkFeatureConfigWce);
  if (options_.queues > 1) f |= feature_bit(kBlkFeatureMq);
  if (!writes_allowed()) {
    f |= feature_bit(kBlkFeatureRo);
  } else if (options_.discard == block::DiscardMode::kUnmap) {
    f |= feature_bit(kBlkFeatureDiscard) | feature_bit(kBlkFeatureWriteZeroes);
  }
  return f;
}

bool BlkEngine::writes_allowed() const {
  return options_.access == DiskAccess::kReadWrite && !image_->read_only();
}

bool BlkEngine::range_ok(uint64_t sector, uint64_t sectors) const {
  // Written so that no guest value can overflow: sector is checked first.
  return sector <= capacity_sectors_ && sectors <= capacity_sectors_ - sector;
}

void BlkEngine::record(Op op, uint64_t bytes, uint64_t start_ns, bool ok) {
  Counters& c = counters_[op];
  c.ops.fetch_add(1, std::memory_order_relaxed);
  if (ok) {
    c.bytes.fetch_add(bytes, std::memory_order_relaxed);
  } else {
    c.failed.fetch_add(1, std::memory_order_relaxed);
  }
  c.total_ns.fetch_add(now_ns() - start_ns, std::memory_order_relaxed);
}

BlkStats BlkEngine::stats() const {
  auto get = [this](Op op) {
    const Counters& c = counters_[op];
    return OpStats{c.ops.load(std::memory_order_relaxed), c.bytes.load(std::memory_order_relaxed),
                   c.total_ns.load(std::memory_order_relaxed),
                   c.failed.load(std::memory_order_relaxed)};
  };
  BlkStats s;
  s.read = get(kRead);
  s.write = get(kWrite);
  s.flush = get(kFlush);
  s.discard = get(kDiscard);
  s.unsupported = unsupported_.load(std::memory_order_relaxed);
  for (size_t op = 0; op < kBlkOperationCount; ++op)
    for (size_t c = 0; c < kIoErrorClassCount; ++c)
      s.io_errors[op][c] = io_errors_[op][c].load(std::memory_order_relaxed);
  return s;
}

BlkErrorAction BlkEngine::host_error(BlkOperation operation, const Error& error) {
  const IoErrorClass error_class = classify(error);
  io_errors_[static_cast<unsigned>(operation)][static_cast<unsigned>(error_class)].fetch_add(
      1, std::memory_order_relaxed);
  const BlkErrorAction action =
      action_for(is_read(operation) ? options_.read_error : options_.write_error, error_class);
  uint64_t suppressed = 0;
  if (action != BlkErrorAction::kStop) {
    const auto allowed = io_error_limiter_.allow();
    if (!allowed) return action;
    suppressed = *allowed;
  }
  const std::string message = error.message();
  const std::string what =
      action == BlkErrorAction::kReport ? "" : " (" + std::string(to_string(action)) + ")";
  std::fprintf(stderr, "amber-vmm: %s: %s failed: %s%s%s\n", label_.c_str(),
               std::string(to_string(operation)).c_str(), message.c_str(), what.c_str(),
               suppressed_note(suppressed).c_str());
  if (io_error_sink_)
    io_error_sink_(BlkIoError{operation, action, error_class, error.error_number(), error.kind(),
                              message, suppressed});
  return action;
}

Result<void> BlkEngine::parse(const DescriptorChain& chain, BlkBatch& batch) const {
  // The status byte is the last byte of the chain and must be writable;
  // without it we cannot answer at all.
  if (chain.segments.empty() || !chain.segments.back().device_writable)
    return Error(ErrorKind::kCorrupt, "virtio-blk: request without a writable status byte");
  const ChainSegment& last = chain.segments.back();
  BlkRequest& r = batch.requests_.emplace_back();
  r.head = chain.head;
  r.start_ns = now_ns();
  r.status = last.host + (last.length - 1);  // length >= 1: empty segments are dropped
  // iov_ holds at most kBlkMaxBatch chains of at most kMaxIndirectDescriptors
  // + kMaxQueueSize segments each, far below 2^32.
  r.iov_first = static_cast<uint32_t>(batch.iov_.size());

  // Header: the first 16 bytes, which must all be device-readable.
  uint8_t header[kBlkRequestHeaderSize];
  uint64_t have = 0;
  size_t seg = 0;
  uint64_t seg_offset = 0;
  bool header_ok = true;
  while (have < sizeof header && seg < chain.segments.size()) {
    const ChainSegment& s = chain.segments[seg];
    // The status byte is not part of the header/data area.
    const uint64_t usable = (seg + 1 == chain.segments.size()) ? s.length - 1 : s.length;
    const uint64_t n = std::min<uint64_t>(usable, sizeof header - have);
    if (n > 0 && s.device_writable) header_ok = false;
    std::memcpy(header + have, s.host, n);
    have += n;
    seg_offset = n;
    if (n == usable) {
      ++seg;
      seg_offset = 0;
    }
  }
  r.header_ok = have == sizeof header && header_ok;
  if (!r.header_ok) return ok();
  r.type = le32(header);
  r.sector = le64(header + 8);
  for (; seg < chain.segments.size(); ++seg, seg_offset = 0) {
    const ChainSegment& s = chain.segments[seg];
    const uint64_t usable = (seg + 1 == chain.segments.size()) ? s.length - 1 : s.length;
    const uint64_t length = usable - seg_offset;
    if (length == 0) continue;
    batch.iov_.push_back({s.host + seg_offset, length});
    ++r.iov_count;
    r.bytes += length;
    (s.device_writable ? r.any_writable : r.any_readable) = true;
  }
  return ok();
}

Result<uint32_t> BlkEngine::execute(const DescriptorChain& chain) {
  // One batch per thread, reused: no allocation per request once warm.
  thread_local BlkBatch batch;
  batch.clear();
  AMBER_TRY(parse(chain, batch));
  execute(batch);
  if (batch.requests_.front().held)
    return Error(ErrorKind::kIo, "virtio-blk: request held by the disk's stop policy");
  return batch.requests_.front().written;
}

void BlkEngine::execute(BlkBatch& batch) {
  auto is_read_write = [](const BlkRequest& r) {
    return r.header_ok && (r.type == kBlkTypeIn || r.type == kBlkTypeOut);
  };
  const size_t n = batch.requests_.size();
  for (size_t i = 0; i < n;) {
    if (!is_read_write(batch.requests_[i])) {
      execute_other(batch, batch.requests_[i]);
      ++i;
      continue;
    }
    // The longest stretch of one direction: everything else is a barrier.
    size_t end = i + 1;
    while (end < n && is_read_write(batch.requests_[end]) &&
           batch.requests_[end].type == batch.requests_[i].type)
      ++end;
    execute_read_write(batch, i, end);
    i = end;
  }
}

void BlkEngine::complete(BlkRequest& r, uint8_t status, uint32_t written_data) {
  if (status == kBlkStatusUnsupp) unsupported_.fetch_add(1, std::memory_order_relaxed);
  *r.status = status;
  r.written = written_data + 1;
}

void BlkEngine::finish(BlkBatch& batch, BlkRequest& r, uint8_t status, uint32_t written_data) {
  if (status != kHold) {
    complete(r, status, written_data);
    return;
  }
  r.held = true;
  batch.stopped_ = true;
}

bool BlkEngine::hold_if_stopped(BlkBatch& batch, BlkRequest& r) {
  if (!batch.stopped_) return false;
  r.held = true;
  return true;
}

void BlkEngine::execute_other(BlkBatch& batch, BlkRequest& r) {
  if (hold_if_stopped(batch, r)) return;
  if (!r.header_ok) {
    complete(r, kBlkStatusIoErr, 0);
    return;
  }
  uint32_t written = 0;
  uint8_t result = kBlkStatusUnsupp;
  switch (r.type) {
    case kBlkTypeFlush:
      result = do_flush(r.start_ns);
      break;
    case kBlkTypeGetId:
      result = do_get_id(batch.data(r), r.any_readable, written);
      break;
    case kBlkTypeDiscard:
    case kBlkTypeWriteZeroes:
      result = do_discard(r.type, r, batch.data(r));
      break;
    default:
      break;
  }
  finish(batch, r, result, written);
}

uint8_t BlkEngine::do_flush(uint64_t start_ns) {
  const Result<void> flushed = image_->flush();
  if (flushed.ok()) {
    record(kFlush, 0, start_ns, true);
    return kBlkStatusOk;
  }
  switch (host_error(BlkOperation::kFlush, flushed.error())) {
    case BlkErrorAction::kStop:
      return kHold;
    case BlkErrorAction::kIgnore:
      record(kFlush, 0, start_ns, true);
      return kBlkStatusOk;
    case BlkErrorAction::kReport:
      break;
  }
  record(kFlush, 0, start_ns, false);
  return kBlkStatusIoErr;
}

uint8_t BlkEngine::do_get_id(std::span<const iovec> data, bool any_readable, uint32_t& written) {
  if (any_readable) return kBlkStatusIoErr;
  uint8_t id[kBlkIdBytes] = {};
  std::memcpy(id, options_.serial.data(), std::min<size_t>(options_.serial.size(), sizeof id));
  // Fill at most 20 bytes of the guest's buffers (shorter buffers get a
  // truncated id, as QEMU does).
  size_t done = 0;
  for (const auto& v : data) {
    if (done == sizeof id) break;
    const size_t n = std::min(v.iov_len, sizeof id - done);
    std::memcpy(v.iov_base, id + done, n);
    done += n;
  }
  written = static_cast<uint32_t>(done);
  return kBlkStatusOk;
}

uint8_t BlkEngine::do_discard(uint32_t type, const BlkRequest& request,
                              std::span<const iovec> data) {
  const uint64_t start_ns = request.start_ns;
  const bool zeroes = type == kBlkTypeWriteZeroes;
  const unsigned feature = zeroes ? kBlkFeatureWriteZeroes : kBlkFeatureDiscard;
  if ((negotiated_ & feature_bit(feature)) == 0) return kBlkStatusUnsupp;
  auto fail = [&] {
    record(kDiscard, 0, start_ns, false);
    return kBlkStatusIoErr;
  };
  if (!writes_allowed() || request.any_writable) return fail();
  const uint64_t count = request.bytes / kBlkDiscardSegmentSize;
  if (request.bytes % kBlkDiscardSegmentSize != 0 || count == 0 || count > kBlkMaxDiscardSegments)
    return fail();
  // Copy the segments out first: the guest may change them under us.
  uint8_t raw[kBlkMaxDiscardSegments * kBlkDiscardSegmentSize];
  copy_out(data, std::span(raw, count * kBlkDiscardSegmentSize));
  for (uint64_t i = 0; i < count; ++i) {
    const uint8_t* s = raw + i * kBlkDiscardSegmentSize;
    const uint32_t flags = le32(s + 12);
    // Unknown flags, or UNMAP on a discard, are "unsupported" (spec 5.2.6.2).
    if ((flags & ~kBlkDiscardFlagUnmap) != 0 || (!zeroes && flags != 0)) return kBlkStatusUnsupp;
    if (le32(s + 8) > kBlkMaxDiscardSectors || !range_ok(le64(s), le32(s + 8))) return fail();
  }
  uint64_t bytes = 0;
  for (uint64_t i = 0; i < count; ++i) {
    const uint8_t* s = raw + i * kBlkDiscardSegmentSize;
    // Both values were range-checked above, so the products fit.
    const uint64_t offset = le64(s) * block::kSectorSize;
    const uint64_t length = uint64_t{le32(s + 8)} * block::kSectorSize;
    if (length == 0) continue;
    const auto mode = (le32(s + 12) & kBlkDiscardFlagUnmap) ? block::ZeroMode::kMayUnmap
                                                            : block::ZeroMode::kAllocate;
    Result<void> r =
        zeroes ? image_->write_zeroes(offset, length, mode) : image_->discard(offset, length);
    if (!r.ok()) {
      // A held request is executed again whole: discarding or zeroing a
      // range twice leaves it as once.
      switch (host_error(zeroes ? BlkOperation::kWriteZeroes : BlkOperation::kDiscard, r.error())) {
        case BlkErrorAction::kStop:
          return kHold;
        case BlkErrorAction::kIgnore:
          record(kDiscard, bytes, start_ns, true);
          return kBlkStatusOk;
        case BlkErrorAction::kReport:
          break;
      }
      return fail();
    }
    bytes += length;
  }
  record(kDiscard, bytes, start_ns, true);
  return kBlkStatusOk;
}

}  // namespace amber::hv::virtio
