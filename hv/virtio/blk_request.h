// SPDX-License-Identifier: GPL-2.0-or-later
// BlkRequest / BlkBatch: virtio-blk requests parsed out of their chains,
// waiting to be executed together so that neighbouring reads or writes
// can be merged into one Image call (see BlkEngine::execute(BlkBatch&)).
//
// A request keeps only host pointers that the queue already translated and
// bounds-checked (its data iovecs and its status byte), so the chain it
// came from can be reused for the next pop. The batch owns every vector it
// needs and keeps their capacity across clear(): once warm, parsing and
// executing a batch does not allocate.
//
// Thread-safety: none; one batch per iothread, used by that thread only.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace amber::hv::virtio {

// At most this many requests are popped before they are executed: bounds
// how long the first request of a batch waits for its completion, and the
// work one batch does. Half the largest queue; a guest keeping 32 requests
// in flight still has all of them in one batch.
inline constexpr size_t kBlkMaxBatch = 128;
// preadv/pwritev accept at most IOV_MAX (1024) vectors per call; a single
// request with more is refused, a merged run never grows past it.
inline constexpr size_t kBlkMaxIovecs = 1024;
// A merged run moves at most this much in one Image call (requests larger
// than this on their own are still served, just never merged): bounds the
// guest memory one host call touches and how long it holds the image.
// Merging never changes the limits advertised per request (seg_max,
// size_max), which stay about one request.
inline constexpr uint64_t kBlkMaxMergeBytes = 2ull << 20;

struct BlkRequest {
  uint16_t head = 0;          // descriptor head, for the used ring
  bool header_ok = false;     // 16 device-readable header bytes present
  uint32_t type = 0;          // guest-controlled, checked on execution
  uint64_t sector = 0;        // guest-controlled, checked on execution
  uint8_t* status = nullptr;  // the chain's last byte, device-writable
  uint32_t iov_first = 0;     // data iovecs: BlkBatch iov [first, first + count)
  uint32_t iov_count = 0;
  uint64_t bytes = 0;         // sum of the data iovecs
  bool any_readable = false;  // some data byte is device-readable
  bool any_writable = false;  // some data byte is device-writable
  uint64_t start_ns = 0;      // when it was parsed (latency statistics)
  uint32_t written = 0;       // set on execution: the used length
  // Set on execution instead of a status: a stop policy holds the request
  // (not completed, status byte untouched) for a retry after resume.
  bool held = false;
};

class BlkBatch {
 public:
  BlkBatch() {
    requests_.reserve(kBlkMaxBatch);
    order_.reserve(kBlkMaxBatch);
    iov_.reserve(4 * kBlkMaxBatch);
    merged_.reserve(kBlkMaxIovecs);
  }
  void clear() {
    requests_.clear();
    iov_.clear();
    stopped_ = false;
  }
  size_t size() const { return requests_.size(); }
  bool empty() const { return requests_.empty(); }
  bool full() const { return requests_.size() >= kBlkMaxBatch; }
  std::span<const BlkRequest> requests() const { return requests_; }
  // Whether the last execution held requests (a stop policy fired).
  bool stopped() const { return stopped_; }
  size_t held_count() const {
    size_t n = 0;
    for (const BlkRequest& r : requests_) n += r.held ? 1 : 0;
    return n;
  }
  // Appends the held requests of `from` (with their data iovecs), in
  // from's order, ready to be executed again (no longer marked held).
  void take_held_from(const BlkBatch& from) {
    for (const BlkRequest& r : from.requests_) {
      if (!r.held) continue;
      BlkRequest& copy = requests_.emplace_back(r);
      copy.held = false;
      // At most kBlkMaxBatch requests of bounded iovecs (see parse()).
      copy.iov_first = static_cast<uint32_t>(iov_.size());
      const auto data = from.data(r);
      iov_.insert(iov_.end(), data.begin(), data.end());
    }
  }

 private:
  friend class BlkEngine;
  std::span<const iovec> data(const BlkRequest& r) const {
    return std::span<const iovec>(iov_).subspan(r.iov_first, r.iov_count);
  }

  std::vector<BlkRequest> requests_;  // in pop order
  std::vector<iovec> iov_;            // every request's data iovecs, back to back
  std::vector<uint32_t> order_;       // one segment's mergeable requests, by sector
  std::vector<iovec> merged_;         // the concatenated iovecs of one merged run
  // A request of this execution was held by a stop policy: every request
  // executed after it is held too, without I/O, so that on resume the
  // disk sees them in the order it would have seen them.
  bool stopped_ = false;
};

}  // namespace amber::hv::virtio
