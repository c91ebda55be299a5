// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/virtio/disk_counters.h"

#include <time.h>

#include <cstdio>

namespace amber::hv::virtio {

uint64_t disk_clock_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

void DiskCounters::record(DiskCounter counter, uint64_t bytes, uint64_t start_ns, bool ok) {
  Counters& c = counters_[static_cast<unsigned>(counter)];
  c.ops.fetch_add(1, std::memory_order_relaxed);
  if (ok)
    c.bytes.fetch_add(bytes, std::memory_order_relaxed);
  else
    c.failed.fetch_add(1, std::memory_order_relaxed);
  const uint64_t now = disk_clock_ns();
  c.total_ns.fetch_add(now > start_ns ? now - start_ns : 0, std::memory_order_relaxed);
}

BlkErrorAction DiskCounters::host_error(BlkOperation operation, const Error& error) {
  const BlkErrorPolicy policy = is_read(operation) ? read_error_ : write_error_;
  return report(operation, error, action_for(policy, classify(error)));
}

BlkErrorAction DiskCounters::host_error_report(BlkOperation operation, const Error& error) {
  return report(operation, error, BlkErrorAction::kReport);
}

BlkErrorAction DiskCounters::report(BlkOperation operation, const Error& error,
                                    BlkErrorAction action) {
  const IoErrorClass error_class = classify(error);
  io_errors_[static_cast<unsigned>(operation)][static_cast<unsigned>(error_class)].fetch_add(
      1, std::memory_order_relaxed);
  uint64_t suppressed = 0;
  if (action != BlkErrorAction::kStop) {
    const auto allowed = limiter_.allow();
    if (!allowed) return action;
    suppressed = *allowed;
  }
  const std::string what =
      action == BlkErrorAction::kReport ? "" : " (" + std::string(to_string(action)) + ")";
  std::fprintf(stderr, "amber-vmm: %s: %s failed: %s%s%s\n", label_.c_str(),
               std::string(to_string(operation)).c_str(), error.message().c_str(), what.c_str(),
               suppressed_note(suppressed).c_str());
  if (sink_)
    sink_(BlkIoError{operation, action, error_class, error.error_number(), error.kind(),
                     error.message(), suppressed});
  return action;
}

BlkStats DiskCounters::stats() const {
  auto get = [this](DiskCounter counter) {
    const Counters& c = counters_[static_cast<unsigned>(counter)];
    return OpStats{c.ops.load(std::memory_order_relaxed), c.bytes.load(std::memory_order_relaxed),
                   c.total_ns.load(std::memory_order_relaxed),
                   c.failed.load(std::memory_order_relaxed)};
  };
  BlkStats s;
  s.read = get(DiskCounter::kRead);
  s.write = get(DiskCounter::kWrite);
  s.flush = get(DiskCounter::kFlush);
  s.discard = get(DiskCounter::kDiscard);
  for (size_t op = 0; op < kBlkOperationCount; ++op)
    for (size_t c = 0; c < kIoErrorClassCount; ++c)
      s.io_errors[op][c] = io_errors_[op][c].load(std::memory_order_relaxed);
  return s;
}

}  // namespace amber::hv::virtio
