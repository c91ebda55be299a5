// SPDX-License-Identifier: GPL-2.0-or-later
// BlkEngine: turns virtio-blk request chains into block::Image calls.
//
// One engine per disk, shared by all of its queues' iothreads. It parses a
// request (header, data, status byte; any layout across descriptors),
// checks every guest-controlled field (type, sector, lengths, buffer
// directions, discard segments) and answers with VIRTIO_BLK_S_OK / IOERR /
// UNSUPP. Data moves straight between guest RAM and the image through
// iovecs built from the already-translated chain segments.
//
// Requests are parsed into a BlkBatch and executed in submission order,
// with one exception: a run of READs (or of WRITEs) between two other
// requests may be sorted by sector, and contiguous valid requests in it
// are served by one readv/writev (blk_engine_merge.cpp). Nothing moves across a
// FLUSH, DISCARD, WRITE_ZEROES or GET_ID, nor across a change of direction.
//
// Thread-safety: set_negotiated_features() runs before the iothreads start
// (thread start orders it); parse(), execute(), set_write_cache() and
// stats() may be called from any thread concurrently (each thread with its
// own BlkBatch): the Image is thread-safe, the counters and the cache mode
// are atomics. set_io_error_sink() runs before the iothreads start, as
// set_negotiated_features() does.
//
// Host I/O errors (a failed Image call) are counted per operation and
// errno class, logged on stderr and handed to the error sink, and the
// disk's policy (BlkOptions::write_error / read_error) picks the action:
//  - report: the guest gets VIRTIO_BLK_S_IOERR;
//  - ignore: the guest gets VIRTIO_BLK_S_OK (counted as a completed,
//    not failed, request that moved no bytes);
//  - stop: the request is held (BlkRequest::held: no status, not counted
//    in OpStats until it completes), and so is every request of the batch
//    executed after it, without I/O; the caller keeps them and executes
//    them again, in the same order, after the VM resumes.
// Report and ignore are logged and reported at most kGuestLogBurst times
// per kGuestLogInterval (a guest can retry a failing request forever); a
// stop always is (it recurs only after a host resume).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "block/image.h"
#include "common/rate_limit.h"
#include "common/result.h"
#include "hv/virtio/blk_io_error.h"
#include "hv/virtio/blk_request.h"
#include "hv/virtio/blk_settings.h"
#include "hv/virtio/blk_stats.h"
#include "hv/virtio/queue.h"

namespace amber::hv::virtio {

// Limits advertised in the config space and enforced on requests.
// seg_max: the queue size minus the header and status descriptors, so a
// request always fits one direct ring (what QEMU advertises too).
inline constexpr uint32_t kBlkSegMax = kMaxQueueSize - 2;
// size_max: largest single segment we advertise; any larger segment is
// still handled, the value only shapes the guest's requests.
inline constexpr uint32_t kBlkSizeMax = 4u << 20;
// One request may move at most this much: keeps the used length within
// 32 bits and bounds how long one request occupies its iothread.
inline constexpr uint64_t kBlkMaxRequestBytes = 1ull << 30;
// Discard / write-zeroes: at most 2^22 sectors (2 GiB) per segment and 32
// segments per request, so one request cannot stall the queue for long.
inline constexpr uint32_t kBlkMaxDiscardSectors = 1u << 22;
inline constexpr uint32_t kBlkMaxDiscardSegments = 32;

enum class WriteCache { kWriteback, kWritethrough };

class BlkEngine {
 public:
  BlkEngine(std::shared_ptr<block::Image> image, const BlkOptions& options);

  uint64_t capacity_sectors() const { return capacity_sectors_; }
  const BlkOptions& options() const { return options_; }
  // Device feature bits (without the transport/ring bits).
  uint64_t offered_features() const;

  void set_negotiated_features(uint64_t features) { negotiated_ = features; }
  uint64_t negotiated_features() const { return negotiated_; }
  void set_write_cache(WriteCache mode) { write_cache_.store(mode, std::memory_order_relaxed); }
  WriteCache write_cache() const { return write_cache_.load(std::memory_order_relaxed); }

  // Parses one chain into `batch` (no I/O yet; full() batches are the
  // caller's to bound). An Error when the chain has no place for a status
  // byte: nothing is added and the device must be reset.
  Result<void> parse(const DescriptorChain& chain, BlkBatch& batch) const;
  // Executes every request of the batch, writes each status byte and sets
  // each BlkRequest::written (the used length), or sets BlkRequest::held
  // (a stop policy: see above). The caller pushes the others.
  void execute(BlkBatch& batch);
  // One request on its own: parse + execute. Returns the used length; a
  // request the policy would hold is a kIo Error instead (this path has
  // nowhere to keep it; its status byte is not written).
  Result<uint32_t> execute(const DescriptorChain& chain);

  BlkStats stats() const;

  // `label` names the disk in log lines ("disk0"); `sink` (may be empty)
  // gets each reported host I/O error, from the iothreads.
  void set_io_error_sink(std::string label, BlkIoErrorSink sink) {
    label_ = std::move(label);
    io_error_sink_ = std::move(sink);
  }
  const std::string& label() const { return label_; }

 private:
  enum Op : unsigned { kRead, kWrite, kFlush, kDiscard, kOpCount };
  struct Counters {
    std::atomic<uint64_t> ops{0};
    std::atomic<uint64_t> bytes{0};
    std::atomic<uint64_t> total_ns{0};
    std::atomic<uint64_t> failed{0};
  };

  // Not a virtio status: do_*() results meaning "hold the request".
  static constexpr uint8_t kHold = 0xFF;

  // One request that is not a READ/WRITE (or has no valid header).
  void execute_other(BlkBatch& batch, BlkRequest& r);
  // READs or WRITEs [first, last) of the batch, all of one type (blk_engine_merge.cpp).
  void execute_read_write(BlkBatch& batch, size_t first, size_t last);
  // Serves order_[begin, end) (contiguous, one type) with one Image call;
  // on failure falls back to one call per request.
  void execute_run(BlkBatch& batch, size_t begin, size_t end);
  // Per-request READ/WRITE checks that need no I/O.
  bool read_write_valid(const BlkRequest& r) const;
  // readv/writev (+ the write-through flush) of already checked data.
  Result<void> transfer(uint32_t type, uint64_t sector, std::span<const iovec> iov);
  // One checked READ/WRITE on its own: I/O, statistics, status.
  void serve_read_write(BlkBatch& batch, BlkRequest& r);
  void complete(BlkRequest& r, uint8_t status, uint32_t written_data);
  // complete(), or hold the request (status kHold) and stop the batch.
  void finish(BlkBatch& batch, BlkRequest& r, uint8_t status, uint32_t written_data);
  // True (and r held) when an earlier request of the batch was held.
  static bool hold_if_stopped(BlkBatch& batch, BlkRequest& r);
  uint8_t do_flush(uint64_t start_ns);
  uint8_t do_get_id(std::span<const iovec> data, bool any_readable, uint32_t& written);
  uint8_t do_discard(uint32_t type, const BlkRequest& request, std::span<const iovec> data);
  bool range_ok(uint64_t sector, uint64_t sectors) const;
  void record(Op op, uint64_t bytes, uint64_t start_ns, bool ok);
  bool writes_allowed() const;
  // Counts a failed Image call, logs and reports it (rate-limited unless
  // the action is stop) and returns what the policy does with it.
  BlkErrorAction host_error(BlkOperation operation, const Error& error);

  std::shared_ptr<block::Image> image_;
  BlkOptions options_;
  uint64_t capacity_sectors_ = 0;
  uint64_t negotiated_ = 0;
  std::atomic<WriteCache> write_cache_{WriteCache::kWriteback};
  std::array<Counters, kOpCount> counters_;
  std::atomic<uint64_t> unsupported_{0};
  std::array<std::array<std::atomic<uint64_t>, kIoErrorClassCount>, kBlkOperationCount>
      io_errors_{};
  std::string label_ = "virtio-blk";
  BlkIoErrorSink io_error_sink_;
  RateLimiter io_error_limiter_{kGuestLogBurst, kGuestLogInterval};
};

}  // namespace amber::hv::virtio
