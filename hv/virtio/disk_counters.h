// SPDX-License-Identifier: GPL-2.0-or-later
// DiskCounters: the query-block counters and the error policy of one IDE
// or SCSI disk, the same numbers and choices virtio-blk's BlkEngine keeps
// for its disks, so `virsh domblkstat` and werror= / rerror= work alike on
// every bus.
//
// record(): one finished host call (read, write, flush or discard) with
// its bytes and latency. host_error(): a failed host call: counted by
// operation and errno class, the action picked from the policy (as
// BlkEngine::host_error: report, ignore, or stop), logged on stderr and
// handed to the error sink; report and ignore at most kGuestLogBurst times
// per kGuestLogInterval, stop every time. The caller records the request
// once it completes (ignore: as a success; report: as a failure; a held
// request is not recorded until its retry completes).
//
// Thread-safety: record(), host_error() and stats() from any thread at
// once (atomics; the rate limiter has its own lock); set_sink() before the
// device runs.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <utility>

#include "common/rate_limit.h"
#include "common/result.h"
#include "hv/virtio/blk_io_error.h"
#include "hv/virtio/blk_stats.h"

namespace amber::hv::virtio {

// The counter a request of `operation` lands in (write-zeroes counts as
// discard, as BlkStats does).
enum class DiskCounter : unsigned { kRead, kWrite, kFlush, kDiscard };

// Nanoseconds of CLOCK_MONOTONIC (request latencies).
uint64_t disk_clock_ns();

class DiskCounters {
 public:
  DiskCounters(std::string label, BlkErrorPolicy write_error, BlkErrorPolicy read_error)
      : label_(std::move(label)), write_error_(write_error), read_error_(read_error) {}

  void set_sink(BlkIoErrorSink sink) { sink_ = std::move(sink); }
  const std::string& label() const { return label_; }

  void record(DiskCounter counter, uint64_t bytes, uint64_t start_ns, bool ok);
  BlkErrorAction host_error(BlkOperation operation, const Error& error);
  // As host_error() but always kReport, whatever the policy (CD-ROMs: QEMU
  // applies no werror/rerror to ATAPI reads).
  BlkErrorAction host_error_report(BlkOperation operation, const Error& error);
  BlkStats stats() const;

 private:
  struct Counters {
    std::atomic<uint64_t> ops{0}, bytes{0}, total_ns{0}, failed{0};
  };
  BlkErrorAction report(BlkOperation operation, const Error& error, BlkErrorAction action);

  const std::string label_;
  const BlkErrorPolicy write_error_;
  const BlkErrorPolicy read_error_;
  std::array<Counters, 4> counters_;
  std::array<std::array<std::atomic<uint64_t>, kIoErrorClassCount>, kBlkOperationCount>
      io_errors_{};
  BlkIoErrorSink sink_;
  RateLimiter limiter_{kGuestLogBurst, kGuestLogInterval};
};

}  // namespace amber::hv::virtio
