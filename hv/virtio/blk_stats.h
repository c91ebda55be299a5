// SPDX-License-Identifier: GPL-2.0-or-later
// blk_stats.h: the per-disk counters of a virtio-blk device (query-block).
//
// Plain values: a snapshot taken with BlkEngine::stats(), safe to copy
// between threads.
#pragma once

#include <cstdint>

namespace amber::hv::virtio {

// Counters for one kind of request, since the device was created.
struct OpStats {
  uint64_t ops = 0;          // completed requests (success or failure)
  uint64_t bytes = 0;        // bytes moved (successful requests)
  uint64_t total_ns = 0;     // sum of request latencies
  uint64_t failed = 0;       // requests answered with IOERR
};

struct BlkStats {
  OpStats read;
  OpStats write;
  OpStats flush;
  OpStats discard;       // DISCARD and WRITE_ZEROES requests
  uint64_t unsupported = 0;  // requests answered with UNSUPP
};

}  // namespace amber::hv::virtio
