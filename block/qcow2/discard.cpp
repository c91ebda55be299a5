// SPDX-License-Identifier: GPL-2.0-or-later
// Qcow2Image: discard, write_zeroes, resize (grow with preallocation,
// shrink) and L1 growth.
#include <algorithm>
#include <array>

#include "block/qcow2/format.h"
#include "block/qcow2/image.h"
#include "block/qcow2/iov.h"
#include "block/unaligned.h"

namespace amber::block::qcow2 {
namespace {

Result<void> check_request(const Image& image, uint64_t offset, uint64_t length) {
  if (image.read_only())
    return Error(ErrorKind::kReadOnly, "'" + image.filename() + "' is read-only");
  if (offset > image.size() || length > image.size() - offset)
    return Error(ErrorKind::kOutOfRange, "request beyond the end of '" + image.filename() + "'");
  return ok();
}

}  // namespace

// Frees (or zeroes) one whole guest cluster. meta_ held.
Result<void> Qcow2Image::unmap_cluster(uint64_t guest, UnmapReads reads, UnmapHost host_mode) {
  const bool want_zero = reads == UnmapReads::kZeros;
  const uint64_t gc = guest >> cluster_bits_;
  const uint64_t l1_index = gc / l2_entries_;
  if (l1_index >= header_.l1_size) return ok();
  if ((l1(l1_index) & kL1OffsetMask) == 0 && !want_zero) return ok();
  AMBER_TRY_ASSIGN(uint64_t l2_offset, l2_for_write(l1_index));
  uint64_t w0, w1;
  AMBER_TRY(read_entry(l2_offset, gc % l2_entries_, w0, w1));
  Mapping check;
  AMBER_TRY(classify(w0, w1, gc, 0, check));
  uint64_t host = 0;
  if (w0 & kOflagCompressed) {
    AMBER_TRY_ASSIGN(CompressedDescriptor d, decode_compressed(w0, cluster_bits_));
    defer_free(d.aligned_offset, d.aligned_bytes);
  } else {
    host = w0 & kL2OffsetMask;
  }
  bool own = owns_data(w0);
  const bool has_host = host != 0 || own;
  if (host != 0 && !data_file_) {
    AMBER_TRY_ASSIGN(uint64_t rc, refcounts_->get(host >> cluster_bits_));
    own = rc == 1;
  }
  const bool keep = host_mode == UnmapHost::kKeepOwned && own;
  uint64_t n0 = 0, n1 = 0;
  if (extended_) {
    n0 = keep ? (host | kOflagCopied) : 0;
    n1 = want_zero ? (0xffffffffull << 32) : 0;
  } else if (want_zero && header_.version >= 3) {
    n0 = kOflagZero | (keep ? (host | kOflagCopied) : 0);
  }
  if (w0 == n0 && w1 == n1) return ok();
  AMBER_TRY(write_entry(l2_offset, gc % l2_entries_, n0, n1));
  if (has_host && !keep) {
    if (own) defer_punch(host, cluster_size_, data_file_ != nullptr);
    if (!data_file_) defer_free(host, cluster_size_);
  }
  return ok();
}

Result<void> Qcow2Image::discard(uint64_t offset, uint64_t length) {
  AMBER_TRY(check_request(*this, offset, length));
  if (options_.discard == DiscardMode::kIgnore || length == 0) return ok();
  std::unique_lock rw(rw_);
  std::lock_guard meta(meta_);
  AMBER_TRY(mark_dirty());
  const bool has_backing = !header_.backing_file.empty();
  const uint64_t end = offset + length;
  const uint64_t cs = cluster_size_;
  for (uint64_t c = offset & ~(cs - 1); c < end; c += cs) {
    const uint64_t c_end = std::min(c + cs, header_.size);
    if (c >= offset && c_end <= end) {
      // A tail cluster past the virtual size counts as whole.
      // With a data file QEMU leaves a zero entry (the data file is v3 only).
      const bool zeros = (has_backing || data_file_) && header_.version >= 3;
      AMBER_TRY(
          unmap_cluster(c, zeros ? UnmapReads::kZeros : UnmapReads::kBelow, UnmapHost::kFree));
      continue;
    }
    if (!extended_) continue;  // QEMU ignores unaligned discard parts
    // Extended L2: drop the fully covered subclusters.
    const uint64_t gc = c >> cluster_bits_;
    if ((l1(gc / l2_entries_) & kL1OffsetMask) == 0) continue;
    AMBER_TRY_ASSIGN(uint64_t l2_offset, l2_for_write(gc / l2_entries_));
    uint64_t w0, w1;
    AMBER_TRY(read_entry(l2_offset, gc % l2_entries_, w0, w1));
    if (w0 & kOflagCompressed) continue;
    uint32_t alloc = static_cast<uint32_t>(w1), zero = static_cast<uint32_t>(w1 >> 32);
    const uint64_t host = w0 & kL2OffsetMask;
    for (unsigned s = 0; s < kSubclustersPerCluster; ++s) {
      const uint64_t s0 = c + s * subcluster_size_;
      if (s0 < offset || s0 + subcluster_size_ > end) continue;
      if ((alloc & (1u << s)) && host != 0 && (w0 & kOflagCopied))
        defer_punch(host + s * subcluster_size_, subcluster_size_, true);
      alloc &= ~(1u << s);
      if (has_backing)
        zero |= 1u << s;
      else
        zero &= ~(1u << s);
    }
    AMBER_TRY(write_entry(l2_offset, gc % l2_entries_, w0, (uint64_t{zero} << 32) | alloc));
  }
  AMBER_TRY(punch_unmapped());
  return maybe_write_back();
}

Result<void> Qcow2Image::write_zeroes(uint64_t offset, uint64_t length, ZeroMode mode) {
  AMBER_TRY(check_request(*this, offset, length));
  if (length == 0) return ok();
  if (!sector_aligned(offset, length)) {
    // As qemu: the partial sectors at either end are written as zero
    // data (a read-modify-write), the whole sectors between zeroed.
    const uint64_t end = offset + length;
    const uint64_t a0 = div_round_up(offset, kSectorSize) * kSectorSize;
    const uint64_t a1 = end / kSectorSize * kSectorSize;
    static const std::array<uint8_t, 2 * kSectorSize> kZeros{};
    auto zero_data = [this](uint64_t from, uint64_t to) -> Result<void> {
      if (from >= to) return ok();
      iovec v{const_cast<uint8_t*>(kZeros.data()), to - from};  // writev only reads it
      return writev(from, std::span(&v, 1));
    };
    if (a0 >= a1) return zero_data(offset, end);  // inside at most two sectors
    AMBER_TRY(zero_data(offset, a0));
    AMBER_TRY(write_zeroes(a0, a1 - a0, mode));
    return zero_data(a1, end);
  }
  std::unique_lock rw(rw_);
  std::unique_lock meta(meta_);
  AMBER_TRY(mark_dirty());
  const bool has_backing = !header_.backing_file.empty();
  const bool keep = mode == ZeroMode::kAllocate || options_.discard == DiscardMode::kIgnore;
  const uint64_t end = offset + length;
  const uint64_t cs = cluster_size_;
  std::vector<uint8_t> zeros;
  auto write_zero_buffer = [&](uint64_t from, uint64_t to) -> Result<void> {
    if (zeros.empty()) zeros.assign(cs, 0);
    while (from < to) {
      const uint64_t n = std::min(to - from, cs - (from & (cs - 1)));
      iovec v{zeros.data(), n};
      uint64_t done = 0;
      while (done < n) {
        AMBER_TRY_ASSIGN(uint64_t step, write_slow(from + done, std::span(&v, 1), done, n - done,
                                                   {meta, MetaLockMode::kHoldThroughout}));
        done += step;
      }
      from += n;
    }
    return ok();
  };
  for (uint64_t c = offset & ~(cs - 1); c < end; c += cs) {
    const uint64_t c_end = std::min(c + cs, header_.size);
    const uint64_t from = std::max(c, offset), to = std::min(c_end, end);
    const bool whole = c >= offset && c_end <= end;
    if (whole && (header_.version >= 3)) {
      AMBER_TRY(
          unmap_cluster(c, UnmapReads::kZeros, keep ? UnmapHost::kKeepOwned : UnmapHost::kFree));
    } else if (whole && !has_backing && !keep) {
      // v2: unallocated reads as zeros.
      AMBER_TRY(unmap_cluster(c, UnmapReads::kBelow, UnmapHost::kFree));
    } else {
      AMBER_TRY(write_zero_buffer(from, to));
    }
    AMBER_TRY(maybe_write_back());
  }
  return punch_unmapped();
}

Result<void> Qcow2Image::grow_l1(uint64_t new_l1_size) {
  if (new_l1_size * 8 > kMaxL1Bytes)
    return Error(ErrorKind::kInvalidArgument, "the L1 table would exceed QEMU's 32 MiB limit");
  const uint64_t old_size = header_.l1_size;
  auto table = std::make_unique<std::atomic<uint64_t>[]>(new_l1_size);
  for (uint64_t i = 0; i < old_size; ++i) table[i].store(l1(i), std::memory_order_relaxed);
  const uint64_t cs = cluster_size_;
  const uint64_t old_clusters = header_.l1_table_offset ? div_round_up(old_size * 8, cs) : 0;
  const uint64_t new_clusters = div_round_up(new_l1_size * 8, cs);
  AMBER_TRY(write_back_metadata());
  // The header names the larger table before memory does: until it is
  // durable every L1 update goes to the table the file's header names. A
  // header write that fails may still have landed, so the next write-back
  // rewrites the header from memory (header_stale_) before any table.
  Header next = header_;
  next.l1_size = static_cast<uint32_t>(new_l1_size);
  auto switch_to = [&](std::unique_ptr<std::atomic<uint64_t>[]> grown) -> Result<void> {
    Result<void> stored = write_header_of(next);
    if (stored.ok()) stored = file_->flush();
    if (!stored.ok()) {
      header_stale_ = true;
      return stored;
    }
    header_ = next;
    l1_ = std::move(grown);
    l1_capacity_ = new_l1_size;
    return ok();
  };
  if (old_clusters != 0 && new_clusters <= old_clusters) {
    AMBER_TRY(
        file_->write_zeroes(header_.l1_table_offset + old_size * 8, (new_l1_size - old_size) * 8));
    AMBER_TRY(file_->flush());
    return switch_to(std::move(table));
  }
  AMBER_TRY_ASSIGN(uint64_t offset, allocate_clusters(new_clusters));
  std::vector<uint64_t> be(new_l1_size);
  for (uint64_t i = 0; i < new_l1_size; ++i) be[i] = __builtin_bswap64(table[i].load());
  AMBER_TRY(refcounts_->write_back(WriteBackOrder::kFlushBeforeTable));
  AMBER_TRY(io::write_exact(*file_, offset, be.data(), be.size() * 8));
  AMBER_TRY(file_->flush());
  const uint64_t old_offset = header_.l1_table_offset;
  next.l1_table_offset = offset;
  // On failure the new table's clusters leak: the header on disk may name it.
  AMBER_TRY(switch_to(std::move(table)));
  if (old_clusters != 0) AMBER_TRY(refcounts_->update_range(old_offset, old_clusters * cs, -1));
  return ok();
}

Result<void> Qcow2Image::preallocate(uint64_t from, uint64_t to, Preallocation prealloc) {
  if (prealloc == Preallocation::kOff || from >= to) return ok();
  const uint64_t cs = cluster_size_;
  uint64_t run_start = 0, run_end = 0;
  auto finish_run = [&]() -> Result<void> {
    if (run_end == run_start) return ok();
    if (prealloc == Preallocation::kFalloc)
      AMBER_TRY(file_->allocate(run_start, run_end - run_start));
    if (prealloc == Preallocation::kFull)
      AMBER_TRY(io::write_zero_bytes(*file_, run_start, run_end - run_start));
    return ok();
  };
  uint64_t last_end = 0;
  for (uint64_t c = from & ~(cs - 1); c < to; c += cs) {
    const uint64_t gc = c >> cluster_bits_;
    AMBER_TRY_ASSIGN(uint64_t l2_offset, l2_for_write(gc / l2_entries_));
    uint64_t w0, w1;
    AMBER_TRY(read_entry(l2_offset, gc % l2_entries_, w0, w1));
    if (w0 != 0 || w1 != 0) continue;
    if (data_file_) {
      // The data file's cluster at the guest offset, not refcounted.
      AMBER_TRY(write_entry(l2_offset, gc % l2_entries_, c | kOflagCopied, 0));
      AMBER_TRY(maybe_write_back());
      continue;
    }
    AMBER_TRY_ASSIGN(uint64_t host, allocate_clusters(1));
    // Extended L2: the subclusters stay unallocated, as QEMU links
    // preallocated clusters: they read as the backing file or as zeros.
    AMBER_TRY(write_entry(l2_offset, gc % l2_entries_, host | kOflagCopied, 0));
    if (host != run_end) {
      AMBER_TRY(finish_run());
      run_start = host;
    }
    run_end = host + cs;
    last_end = std::max(last_end, host + cs);
    AMBER_TRY(maybe_write_back());
  }
  AMBER_TRY(finish_run());
  AMBER_TRY_ASSIGN(uint64_t file_size, file_->size());
  if (last_end > file_size) AMBER_TRY(file_->truncate(last_end));
  return ok();
}

Result<Qcow2Image::PreallocArea> Qcow2Image::reserve_prealloc_area(uint64_t old_size,
                                                                   uint64_t new_size,
                                                                   Preallocation prealloc) {
  const uint64_t cs = cluster_size_;
  PreallocArea area;
  area.guest_first = old_size & ~(cs - 1);
  // An allocated partial last cluster stays where it is (QEMU moves it;
  // the zeroing of its tail is grow's).
  if (area.guest_first < old_size) {
    const uint64_t gc = area.guest_first >> cluster_bits_;
    const uint64_t l2_offset = l1(gc / l2_entries_) & kL1OffsetMask;
    uint64_t w0 = 0, w1 = 0;
    if (l2_offset != 0) AMBER_TRY(read_entry(l2_offset, gc % l2_entries_, w0, w1));
    if (w0 != 0 || w1 != 0) area.guest_first += cs;
  }
  const uint64_t end = align_up(new_size, cs);
  if (area.guest_first >= end) return area;
  area.clusters = (end - area.guest_first) >> cluster_bits_;
  // The area starts after the last cluster in use (or at the rounded-up
  // end of a file with none).
  AMBER_TRY_ASSIGN(uint64_t file_size, file_->size());
  uint64_t used_end = div_round_up(file_size, cs);
  while (used_end > 0) {
    AMBER_TRY_ASSIGN(uint64_t rc, refcounts_->get(used_end - 1));
    if (rc != 0) break;
    --used_end;
  }
  if (used_end == 0) used_end = div_round_up(file_size, cs);
  // The refcount blocks must also cover the L2 tables the linking may need
  // (one more for an unaligned head or tail), wherever they land.
  const uint64_t l2_tables = div_round_up(area.clusters, l2_entries_) + 1;
  AMBER_TRY_ASSIGN(uint64_t data_cluster,
                   refcounts_->relocate_table(used_end, area.clusters + l2_tables));
  AMBER_TRY(refcounts_->allocate_at(data_cluster, area.clusters));
  area.host = data_cluster << cluster_bits_;
  const uint64_t data_end = area.host + area.clusters * cs;
  note_host_end(data_end);
  // Host space: bytes already in the file there may be stale, so they are
  // zeroed; the rest is reserved or written as the mode says.
  AMBER_TRY_ASSIGN(uint64_t now_size, file_->size());
  const uint64_t inside_end = std::min(now_size, data_end);
  if (inside_end > area.host) {
    if (prealloc == Preallocation::kFull)
      AMBER_TRY(io::write_zero_bytes(*file_, area.host, inside_end - area.host));
    else
      AMBER_TRY(file_->write_zeroes(area.host, inside_end - area.host));
  }
  const uint64_t tail_start = std::max(now_size, area.host);
  if (data_end > tail_start) {
    if (prealloc == Preallocation::kFull)
      AMBER_TRY(io::write_zero_bytes(*file_, tail_start, data_end - tail_start));
    else
      AMBER_TRY(file_->allocate(tail_start, data_end - tail_start));
  }
  return area;
}

Result<void> Qcow2Image::link_prealloc_area(const PreallocArea& area) {
  const uint64_t cs = cluster_size_;
  for (uint64_t i = 0; i < area.clusters; ++i) {
    const uint64_t gc = (area.guest_first >> cluster_bits_) + i;
    AMBER_TRY_ASSIGN(uint64_t l2_offset, l2_for_write(gc / l2_entries_));
    uint64_t w0, w1;
    AMBER_TRY(read_entry(l2_offset, gc % l2_entries_, w0, w1));
    // A stale entry past the old size (none after a shrink) keeps its
    // cluster; the preallocated one then leaks, which check may repair.
    // Extended L2: the subclusters stay unallocated (they read as zeros
    // without a backing file), as QEMU links preallocated clusters.
    if (w0 == 0 && w1 == 0)
      AMBER_TRY(write_entry(l2_offset, gc % l2_entries_, (area.host + i * cs) | kOflagCopied, 0));
    AMBER_TRY(maybe_write_back());
  }
  return ok();
}

Result<void> Qcow2Image::shrink(uint64_t new_size) {
  const uint64_t cs = cluster_size_;
  const uint64_t first = align_up(new_size, cs);
  for (uint64_t c = first; c < header_.size; c += cs)
    AMBER_TRY(unmap_cluster(c, UnmapReads::kBelow, UnmapHost::kFree));
  AMBER_TRY(punch_unmapped());
  const uint64_t keep_l1 = div_round_up(div_round_up(new_size, cs), l2_entries_);
  for (uint64_t i = keep_l1; i < header_.l1_size; ++i) {
    const uint64_t table = l1(i) & kL1OffsetMask;
    if (table == 0) continue;
    set_l1(i, 0);
    AMBER_TRY(l2_cache_->write_back());
    {
      std::lock_guard lock(l2_cache_->mutex());
      l2_cache_->drop(table, cs);
    }
    defer_free(table, cs);
  }
  AMBER_TRY(write_back_metadata());
  // The new size reaches memory only once the header holding it is
  // written: a failed write leaves the old size in both (grow's rule). A
  // write that failed may still have landed in part, so the next
  // write-back rewrites the header (header_stale_).
  Header resized = header_;
  resized.size = new_size;
  if (auto written = write_header_of(resized); !written.ok()) {
    header_stale_ = true;
    return written;
  }
  header_ = resized;
  AMBER_TRY(apply_pending_frees());
  AMBER_TRY(refcounts_->write_back(WriteBackOrder::kFlushBeforeTable));
  AMBER_TRY(file_->flush());
  AMBER_TRY(refcounts_->release_unused_blocks());
  AMBER_TRY(refcounts_->write_back(WriteBackOrder::kFlushBeforeTable));
  AMBER_TRY(file_->flush());
  // Truncate the unused tail of the file.
  AMBER_TRY_ASSIGN(uint64_t file_size, file_->size());
  uint64_t c = div_round_up(file_size, cs);
  while (c > 0) {
    AMBER_TRY_ASSIGN(uint64_t rc, refcounts_->get(c - 1));
    if (rc != 0) break;
    --c;
  }
  if (c * cs < file_size) AMBER_TRY(file_->truncate(c * cs));
  return ok();
}

Result<void> Qcow2Image::resize(uint64_t new_size, Preallocation prealloc) {
  if (read_only()) return Error(ErrorKind::kReadOnly, "'" + file_->name() + "' is read-only");
  if (new_size % kSectorSize != 0)
    return Error(ErrorKind::kInvalidArgument, "new size must be a multiple of 512 bytes");
  // v2 snapshots have no size of their own: QEMU refuses any resize.
  if (header_.version < 3 && !snapshots_.empty())
    return Error(ErrorKind::kUnsupported, "Can't resize a v2 image which has snapshots");
  // Preallocated clusters hold plain zeros, which do not decrypt to zeros.
  if (encrypted() && prealloc != Preallocation::kOff && new_size > header_.size)
    return Error(ErrorKind::kUnsupported,
                 "Preallocation is not supported with encryption in amber-img");
  if (data_file_ && prealloc != Preallocation::kOff && prealloc != Preallocation::kMetadata &&
      new_size > header_.size)
    return Error(ErrorKind::kUnsupported,
                 "Preallocation is not supported with an external data file in amber-img");
  const uint64_t old_size = header_.size;
  if (data_file_ && new_size > old_size) {
    // The data file covers the whole guest (QEMU grows it with the image).
    AMBER_TRY_ASSIGN(uint64_t data_size, data_file_->size());
    if (data_size < new_size) AMBER_TRY(data_file_->truncate(new_size));
  }
  if (new_size > old_size) {
    // The new size is in memory before it is on disk (the zeroing needs
    // it); if the grow fails, acknowledged writes must not go past the size
    // the file's header holds. The header may have been written already,
    // so the next write-back rewrites it (header_stale_).
    auto grown = grow(old_size, new_size, prealloc);
    if (!grown.ok()) {
      std::unique_lock rw(rw_);
      std::lock_guard meta(meta_);
      header_.size = old_size;
      header_stale_ = true;
    }
    return grown;
  }
  {
    std::unique_lock rw(rw_);
    std::lock_guard meta(meta_);
    AMBER_TRY(mark_dirty());
    if (new_size == old_size) return ok();
    return shrink(new_size);
  }
}

Result<void> Qcow2Image::grow(uint64_t old_size, uint64_t new_size, Preallocation prealloc) {
  // The grown area must read as zeros. A backing file longer than the old
  // size would show through there, so (as QEMU's BDRV_REQ_ZERO_WRITE
  // truncate) the whole new area is zeroed; v2 cannot express that and
  // QEMU refuses. Otherwise only the old last cluster's tail needs it: its
  // bytes past the old size may be stale data from before a shrink.
  const bool backing_shows = backing_ != nullptr && backing_->size() > old_size;
  if (backing_shows && header_.version < 3)
    return Error(ErrorKind::kUnsupported,
                 "Failed to zero out new clusters: Operation not supported");
  const uint64_t zero_start = align_up(old_size, kSectorSize);
  uint64_t zero_end =
      backing_shows ? new_size : std::min(new_size, align_up(old_size, cluster_size_));
  if (!backing_shows && zero_start < zero_end) {
    // Without a backing file an unallocated or zero tail already reads as
    // zeros: nothing to write.
    bool stale = false;
    for (uint64_t at = zero_start; at < zero_end && !stale;) {
      AMBER_TRY_ASSIGN(Mapping tail, lookup(at, zero_end - at));
      stale = tail.kind == MapKind::kData || tail.kind == MapKind::kCompressed;
      at += std::max<uint64_t>(tail.length, kSectorSize);
    }
    if (!stale) zero_end = zero_start;
  }
  // Over a backing file the old last cluster's head keeps the backing
  // data: it is copied up with the zeroed tail first (QEMU's
  // preallocation COWs it the same way), then the whole clusters after it
  // are preallocated and zeroed.
  const uint64_t head_end =
      backing_shows ? std::min(new_size, align_up(old_size, cluster_size_)) : zero_start;
  {
    std::unique_lock rw(rw_);
    std::lock_guard meta(meta_);
    AMBER_TRY(mark_dirty());
    const uint64_t needed = div_round_up(div_round_up(new_size, cluster_size_), l2_entries_);
    if (needed > header_.l1_size) AMBER_TRY(grow_l1(needed));
    const bool host_prealloc =
        !backing_shows && (prealloc == Preallocation::kFalloc || prealloc == Preallocation::kFull);
    PreallocArea area;
    if (host_prealloc) {
      AMBER_TRY_ASSIGN(area, reserve_prealloc_area(old_size, new_size, prealloc));
    }
    // In memory first: preallocation and zeroing work inside the new size.
    // The header on disk gets it last, so a crash before then leaves the
    // old size and nothing of the new area visible (QEMU's order).
    header_.size = new_size;
    if (host_prealloc)
      AMBER_TRY(link_prealloc_area(area));
    else if (!backing_shows)
      AMBER_TRY(preallocate(old_size, new_size, prealloc));
    AMBER_TRY(write_back_metadata());
  }
  if (head_end > zero_start)
    AMBER_TRY(write_zeroes(zero_start, head_end - zero_start, ZeroMode::kAllocate));
  if (backing_shows) {
    {
      std::unique_lock rw(rw_);
      std::lock_guard meta(meta_);
      AMBER_TRY(preallocate(head_end, new_size, prealloc));
      AMBER_TRY(write_back_metadata());
    }
    if (new_size > head_end)
      AMBER_TRY(write_zeroes(head_end, new_size - head_end, ZeroMode::kAllocate));
  } else if (zero_end > zero_start) {
    AMBER_TRY(write_zeroes(zero_start, zero_end - zero_start, ZeroMode::kAllocate));
  }
  std::unique_lock rw(rw_);
  std::lock_guard meta(meta_);
  AMBER_TRY(write_back_metadata());
  return write_header_durably();
}

}  // namespace amber::block::qcow2
