// SPDX-License-Identifier: GPL-2.0-or-later
// blk_stats.h: the per-disk counters of a virtio-blk device (query-block).
//
// Plain values: a snapshot taken with BlkEngine::stats(), safe to copy
// between threads.
#pragma once

#include <array>
#include <cstdint>

#include "hv/virtio/blk_io_error.h"

namespace amber::hv::virtio {

// Counters for one kind of request, since the device was created.
struct OpStats {
  uint64_t ops = 0;       // completed requests (success or failure)
  uint64_t bytes = 0;     // bytes moved (successful requests)
  uint64_t total_ns = 0;  // sum of request latencies
  uint64_t failed = 0;    // requests answered with IOERR
};

struct BlkStats {
  OpStats read;
  OpStats write;
  OpStats flush;
  OpStats discard;           // DISCARD and WRITE_ZEROES requests
  uint64_t unsupported = 0;  // requests answered with UNSUPP
  // Host I/O errors (blk_io_error.h), by operation and errno class; each
  // one also counts in that operation's OpStats::failed.
  std::array<std::array<uint64_t, kIoErrorClassCount>, kBlkOperationCount> io_errors{};

  uint64_t io_error_count(BlkOperation operation, IoErrorClass error_class) const {
    return io_errors[static_cast<unsigned>(operation)][static_cast<unsigned>(error_class)];
  }
};

}  // namespace amber::hv::virtio
