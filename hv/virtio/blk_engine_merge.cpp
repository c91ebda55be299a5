// SPDX-License-Identifier: GPL-2.0-or-later
// BlkEngine's READ/WRITE path: per-request checks, then merging of
// contiguous requests of one direction into a single Image call.
//
// A stretch of READs (or WRITEs) that arrived together, with no other
// request between them, is checked request by request; the valid ones are
// ordered by sector and cut into runs of contiguous requests, each run
// bounded by kBlkMaxIovecs and kBlkMaxMergeBytes. A run is one readv or
// writev (plus one flush in write-through mode, before any completion);
// each constituent then completes on its own with the shared result and
// counts as one operation with its own bytes and latency. When the merged
// call fails, every constituent is served again on its own so that each
// gets its own status, as if it had never been merged.
#include <algorithm>

#include "hv/virtio/blk_engine.h"
#include "hv/virtio/virtio_spec.h"

namespace amber::hv::virtio {

bool BlkEngine::read_write_valid(const BlkRequest& r) const {
  const bool is_read = r.type == kBlkTypeIn;
  // Direction: a read fills device-writable buffers, a write reads
  // device-readable ones; mixed chains are refused before any I/O.
  if (is_read ? r.any_readable : r.any_writable) return false;
  if (r.bytes % block::kSectorSize != 0 || r.bytes > kBlkMaxRequestBytes ||
      r.iov_count > kBlkMaxIovecs)
    return false;
  if (!range_ok(r.sector, r.bytes / block::kSectorSize)) return false;
  return is_read || writes_allowed();  // RO: no write reaches the image
}

Result<void> BlkEngine::transfer(uint32_t type, uint64_t sector, std::span<const iovec> iov) {
  // sector * 512 cannot overflow: range_ok() bounded sector by the capacity.
  const uint64_t offset = sector * block::kSectorSize;
  if (type == kBlkTypeIn) return image_->readv(offset, iov);
  AMBER_TRY(image_->writev(offset, iov));
  if (write_cache() == WriteCache::kWritethrough) return image_->flush();
  return ok();
}

void BlkEngine::serve_read_write(BlkBatch& batch, BlkRequest& r) {
  if (hold_if_stopped(batch, r)) return;
  const bool is_read = r.type == kBlkTypeIn;
  const Op op = is_read ? kRead : kWrite;
  // r.bytes <= kBlkMaxRequestBytes (1 GiB), checked by read_write_valid().
  const auto data_bytes = is_read ? static_cast<uint32_t>(r.bytes) : 0;
  const Result<void> transferred = transfer(r.type, r.sector, batch.data(r));
  if (transferred.ok()) {
    record(op, r.bytes, r.start_ns, true);
    complete(r, kBlkStatusOk, data_bytes);
    return;
  }
  switch (host_error(is_read ? BlkOperation::kRead : BlkOperation::kWrite, transferred.error())) {
    case BlkErrorAction::kStop:
      finish(batch, r, kHold, 0);
      return;
    case BlkErrorAction::kIgnore:
      // As QEMU: the guest is told it worked (a read's buffer holds
      // whatever the failed call left there).
      record(op, 0, r.start_ns, true);
      complete(r, kBlkStatusOk, data_bytes);
      return;
    case BlkErrorAction::kReport:
      break;
  }
  record(op, 0, r.start_ns, false);
  complete(r, kBlkStatusIoErr, 0);
}

void BlkEngine::execute_read_write(BlkBatch& batch, size_t first, size_t last) {
  std::vector<BlkRequest>& requests = batch.requests_;
  std::vector<uint32_t>& order = batch.order_;
  order.clear();
  for (size_t i = first; i < last; ++i) {
    BlkRequest& r = requests[i];
    const Op op = r.type == kBlkTypeIn ? kRead : kWrite;
    if (hold_if_stopped(batch, r)) continue;
    if (!read_write_valid(r)) {
      record(op, 0, r.start_ns, false);
      complete(r, kBlkStatusIoErr, 0);
    } else if (r.bytes == 0) {
      record(op, 0, r.start_ns, true);
      complete(r, kBlkStatusOk, 0);
    } else {
      order.push_back(static_cast<uint32_t>(i));  // i < kBlkMaxBatch
    }
  }
  if (order.empty()) return;

  // By sector, ties in submission order (std::sort with the index as the
  // second key: stable without stable_sort's temporary buffer).
  auto by_sector = [&requests](uint32_t a, uint32_t b) {
    return requests[a].sector != requests[b].sector ? requests[a].sector < requests[b].sector
                                                    : a < b;
  };
  if (!std::is_sorted(order.begin(), order.end(), by_sector)) {
    std::sort(order.begin(), order.end(), by_sector);
    // Overlapping requests keep their submission order: no reordering may
    // change what the disk holds afterwards. Sums cannot overflow:
    // read_write_valid() bounded sector + sectors by the capacity.
    uint64_t reach = 0;
    bool overlap = false;
    for (const uint32_t i : order) {
      overlap = overlap || requests[i].sector < reach;
      reach = std::max(reach, requests[i].sector + requests[i].bytes / block::kSectorSize);
    }
    if (overlap) std::sort(order.begin(), order.end());
  }

  // Runs of contiguous requests, within the merge bounds.
  size_t begin = 0;
  while (begin < order.size()) {
    const BlkRequest& head = requests[order[begin]];
    uint64_t bytes = head.bytes;
    size_t iovecs = head.iov_count;
    uint64_t next = head.sector + head.bytes / block::kSectorSize;
    size_t end = begin + 1;
    for (; end < order.size(); ++end) {
      const BlkRequest& r = requests[order[end]];
      if (r.sector != next || bytes + r.bytes > kBlkMaxMergeBytes ||
          iovecs + r.iov_count > kBlkMaxIovecs)
        break;
      bytes += r.bytes;
      iovecs += r.iov_count;
      next += r.bytes / block::kSectorSize;
    }
    execute_run(batch, begin, end);
    begin = end;
  }
}

void BlkEngine::execute_run(BlkBatch& batch, size_t begin, size_t end) {
  std::vector<BlkRequest>& requests = batch.requests_;
  const std::vector<uint32_t>& order = batch.order_;
  if (end - begin == 1 || batch.stopped_) {
    // One request, or (held already) each is held on its own.
    for (size_t k = begin; k < end; ++k) serve_read_write(batch, requests[order[k]]);
    return;
  }
  // At most kBlkMaxIovecs entries: the capacity reserved up front.
  std::vector<iovec>& merged = batch.merged_;
  merged.clear();
  for (size_t k = begin; k < end; ++k) {
    const std::span<const iovec> data = batch.data(requests[order[k]]);
    merged.insert(merged.end(), data.begin(), data.end());
  }
  const BlkRequest& head = requests[order[begin]];
  if (!transfer(head.type, head.sector, merged).ok()) {
    // Each request again on its own, so that each gets its own status.
    for (size_t k = begin; k < end; ++k) serve_read_write(batch, requests[order[k]]);
    return;
  }
  const bool is_read = head.type == kBlkTypeIn;
  for (size_t k = begin; k < end; ++k) {
    BlkRequest& r = requests[order[k]];
    record(is_read ? kRead : kWrite, r.bytes, r.start_ns, true);
    // r.bytes <= kBlkMaxMergeBytes here (a constituent of a merged run).
    complete(r, kBlkStatusOk, is_read ? static_cast<uint32_t>(r.bytes) : 0);
  }
}

}  // namespace amber::hv::virtio
