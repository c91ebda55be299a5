// SPDX-License-Identifier: GPL-2.0-or-later
// Qcow2Image: the write path. Writes to clusters this image owns alone
// (COPIED) go straight to the file under the shared lock; everything else
// (allocation, COW from the backing file, a snapshot-shared or compressed
// cluster, subcluster bitmap updates, L2 table COW) runs under meta_,
// one cluster at a time, re-checking the mapping first.
#include <algorithm>
#include <cstring>

#include "block/crypto/crypt_io.h"
#include "block/qcow2/cow.h"
#include "block/qcow2/format.h"
#include "block/qcow2/image.h"
#include "block/qcow2/iov.h"
#include "block/unaligned.h"

namespace amber::block::qcow2 {

Result<void> Qcow2Image::write_data(uint64_t host, uint64_t guest, std::span<const iovec> iov) {
  if (cipher_ == nullptr) return data_io().writev_at(host, iov);
  AMBER_TRY_ASSIGN(iovec enc, crypto::encrypt_copy(*cipher_, crypt_sector(host, guest), iov));
  return data_io().writev_at(host, std::span(&enc, 1));
}

Result<uint64_t> Qcow2Image::allocate_clusters(uint64_t count) {
  AMBER_TRY_ASSIGN(uint64_t offset, refcounts_->allocate(count));
  note_host_end(offset + count * cluster_size_);
  return offset;
}

Result<Qcow2Image::EntryRef> Qcow2Image::locate_entry(uint64_t l2_offset, uint64_t index) {
  const uint64_t slice_bytes = l2_cache_->slice_bytes();
  const uint64_t per_slice = slice_bytes / (8 * entry_words_);
  AMBER_TRY_ASSIGN(L2Cache::Slice * slice,
                   l2_cache_->get(l2_offset + (index / per_slice) * slice_bytes));
  return EntryRef{slice, slice->words.data() + (index % per_slice) * entry_words_};
}

Result<void> Qcow2Image::read_entry(uint64_t l2_offset, uint64_t index, uint64_t& w0,
                                    uint64_t& w1) {
  std::lock_guard lock(l2_cache_->mutex());
  AMBER_TRY_ASSIGN(EntryRef entry, locate_entry(l2_offset, index));
  w0 = entry.words[0];
  w1 = extended_ ? entry.words[1] : 0;
  return ok();
}

Result<void> Qcow2Image::write_entry(uint64_t l2_offset, uint64_t index, uint64_t w0, uint64_t w1) {
  std::lock_guard lock(l2_cache_->mutex());
  AMBER_TRY_ASSIGN(EntryRef entry, locate_entry(l2_offset, index));
  entry.words[0] = w0;
  if (extended_) entry.words[1] = w1;
  l2_cache_->mark_dirty(entry.slice);
  return ok();
}

Result<uint64_t> Qcow2Image::l2_for_write(uint64_t l1_index) {
  if (l1_index >= header_.l1_size) return Error(ErrorKind::kInternal, "L1 index beyond the table");
  const uint64_t entry = l1(l1_index);
  const uint64_t old = entry & kL1OffsetMask;
  if (old != 0 && (entry & kOflagCopied)) return old;
  if (old != 0) {
    AMBER_TRY_ASSIGN(uint64_t rc, refcounts_->get(old >> cluster_bits_));
    if (rc == 1) {
      set_l1(l1_index, old | kOflagCopied);
      return old;
    }
  }
  AMBER_TRY_ASSIGN(uint64_t table, allocate_clusters(1));
  {
    std::lock_guard lock(l2_cache_->mutex());
    l2_cache_->drop(table, cluster_size_);
  }
  if (old == 0) {
    AMBER_TRY(file_->write_zeroes(table, cluster_size_));
  } else {
    // COW of an L2 table shared with a snapshot: the copy's entries lose
    // COPIED (their clusters stay shared with the snapshot's table).
    std::vector<uint64_t> words(cluster_size_ / 8);
    AMBER_TRY(io::read_exact(*file_, old, words.data(), cluster_size_));
    for (size_t i = 0; i < words.size(); i += entry_words_)
      words[i] = __builtin_bswap64(__builtin_bswap64(words[i]) & ~kOflagCopied);
    AMBER_TRY(io::write_exact(*file_, table, words.data(), cluster_size_));
    defer_free(old, cluster_size_);
  }
  set_l1(l1_index, table | kOflagCopied);
  return table;
}

template <typename Cow>
Result<uint64_t> Qcow2Image::allocate_and_cow(uint64_t reuse, uint64_t first_cluster,
                                              uint64_t count, MetaLock meta, Cow&& cow) {
  uint64_t dest = reuse;
  if (data_file_) {
    // External data file: guest offset == host offset, no refcounts.
    dest = first_cluster << cluster_bits_;
  } else if (dest == 0) {
    AMBER_TRY_ASSIGN(dest, allocate_clusters(count));
  }
  Result<void> written = ok();
  if (meta.mode == MetaLockMode::kReleaseForDataIo) {
    for (uint64_t i = 0; i < count; ++i) inflight_.insert(first_cluster + i);
    meta.lock.unlock();
    written = cow(dest);
    meta.lock.lock();
    for (uint64_t i = 0; i < count; ++i) inflight_.erase(first_cluster + i);
    inflight_cv_.notify_all();
  } else {
    written = cow(dest);
  }
  if (!written.ok()) {
    // Nothing references freshly allocated clusters yet.
    if (reuse == 0 && !data_file_) (void)refcounts_->update_range(dest, count * cluster_size_, -1);
    return std::move(written).error();
  }
  return dest;
}

Result<void> Qcow2Image::cow_write(uint64_t guest_base, uint64_t dest, CowTarget target,
                                   CowFill head, CowFill tail, std::span<const iovec> data) {
  const uint64_t head_bytes = head.end - head.start;
  const uint64_t tail_bytes = tail.end - tail.start;
  if (head_bytes == 0 && tail_bytes == 0)
    return write_data(dest + head.start, guest_base + head.start, data);
  // Zeroed host blocks are not encrypted zeros: encrypted images write
  // their fills.
  if (target == CowTarget::kNewClusters && !encrypted() && (head_bytes == 0 || head.zeros) &&
      (tail_bytes == 0 || tail.zeros)) {
    // Zero fills only (QEMU's handle_alloc_space): the host file zeroes the
    // whole range without zero buffers and the guest's bytes go alone.
    // Only for clusters nothing references yet: zeroing first would expose
    // zeros, neither old nor new data, over a visible cluster on a crash.
    AMBER_TRY_ASSIGN(io::ZeroOutcome zeroed,
                     data_io().zero_range_no_fallback(dest + head.start, tail.end - head.start));
    if (zeroed == io::ZeroOutcome::kZeroed) return data_io().writev_at(dest + head.end, data);
  }
  const uint64_t cs = cluster_size_;
  // Head bytes live at their in-cluster offset; tail bytes too when the
  // tail is in the head's cluster, else in the buffer's second cluster.
  uint8_t* buf = CowScratch::get(2 * cs);
  if (buf == nullptr) return Error(ErrorKind::kNoSpace, "out of memory for a COW buffer");
  const bool same_cluster = tail.end <= cs;
  uint8_t* head_ptr = buf + head.start;
  uint8_t* tail_ptr = same_cluster ? buf + tail.start : buf + cs + tail.start % cs;
  auto read_into = [&](uint8_t* to, uint64_t from, uint64_t bytes) -> Result<void> {
    iovec v{to, bytes};
    return read_locked(guest_base + from, std::span(&v, 1), bytes);
  };
  const bool read_head = head_bytes != 0 && !head.zeros;
  const bool read_tail = tail_bytes != 0 && !tail.zeros;
  if (read_head && read_tail && same_cluster && !extended_) {
    // One read for both ends (QEMU merges them too): the middle is the
    // old data under the guest's write and is never written.
    AMBER_TRY(read_into(head_ptr, head.start, tail.end - head.start));
  } else {
    if (read_head) AMBER_TRY(read_into(head_ptr, head.start, head_bytes));
    if (read_tail) AMBER_TRY(read_into(tail_ptr, tail.start, tail_bytes));
  }
  if (head_bytes != 0 && head.zeros) std::memset(head_ptr, 0, head_bytes);
  if (tail_bytes != 0 && tail.zeros) std::memset(tail_ptr, 0, tail_bytes);
  CowIov list;
  return write_data(dest + head.start, guest_base + head.start,
                    list.build(head_ptr, head_bytes, data, tail_ptr, tail_bytes));
}

// Several consecutive clusters that have no host cluster yet (unallocated
// or zero without allocation), in one L2 table: one contiguous allocation,
// COW only at the two ends, one writev. Returns 0 when it does not apply.
Result<uint64_t> Qcow2Image::write_fresh_run(uint64_t offset, std::span<const iovec> iov,
                                             uint64_t iov_pos, uint64_t length, uint64_t l2_offset,
                                             MetaLock meta) {
  const uint64_t cs = cluster_size_;
  const uint64_t gc0 = offset >> cluster_bits_;
  const uint64_t in = offset & (cs - 1);
  const uint64_t table_left = l2_entries_ - gc0 % l2_entries_;
  const uint64_t want = std::min(div_round_up(in + length, cs), table_left);
  // Clusters a single run may take: bounds the stack array below (64 MiB
  // at 64 KiB clusters).
  constexpr uint64_t kMaxRun = 1024;
  uint64_t w0s[kMaxRun], w1s[kMaxRun];
  uint64_t count = 0;
  while (count < std::min(want, kMaxRun)) {
    if (count != 0 && inflight_.count(gc0 + count) != 0) break;
    uint64_t w0, w1;
    AMBER_TRY(read_entry(l2_offset, (gc0 + count) % l2_entries_, w0, w1));
    if ((w0 & kOflagCompressed) || (w0 & kL2OffsetMask) != 0 || owns_data(w0)) break;
    Mapping check;
    AMBER_TRY(classify(w0, w1, gc0 + count, 0, check));
    w0s[count] = w0;
    w1s[count] = w1;
    ++count;
  }
  if (count < 2) return uint64_t{0};
  const uint64_t n = std::min(length, count * cs - in);
  const bool has_backing = !header_.backing_file.empty();
  const uint64_t end = in + n;  // relative to the first cluster
  const uint64_t last = count - 1;
  auto cow = [&](uint64_t dest) -> Result<void> {
    IovSlice data;
    auto part = data.build(iov, iov_pos, n);
    if (!extended_) {
      const bool head_zero = (w0s[0] & kOflagZero) || !has_backing;
      const bool tail_zero = (w0s[last] & kOflagZero) || !has_backing;
      return cow_write(offset - in, dest, CowTarget::kNewClusters, {0, in, head_zero},
                       {end, align_up(end, cs), tail_zero}, part);
    }
    const uint64_t scs = subcluster_size_;
    auto sub_zero = [&](uint64_t index, uint64_t sub) {
      return ((w1s[index] >> 32) & (1u << sub)) != 0 || !has_backing;
    };
    const uint64_t head_start = in / scs * scs;
    const bool tail_z = end % scs != 0 && sub_zero(last, (end - last * cs) / scs);
    return cow_write(offset - in, dest, CowTarget::kNewClusters,
                     {head_start, in, sub_zero(0, in / scs)}, {end, align_up(end, scs), tail_z},
                     part);
  };
  AMBER_TRY_ASSIGN(uint64_t dest, allocate_and_cow(0, gc0, count, meta, cow));
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t w1 = 0;
    if (extended_) {
      const uint64_t lo = i == 0 ? in : 0;
      const uint64_t hi = i == last ? end - last * cs : cs;
      const uint32_t zero = static_cast<uint32_t>(w1s[i] >> 32) & ~touched_subclusters(lo, hi);
      w1 = (uint64_t{zero} << 32) | touched_subclusters(lo, hi);
    }
    AMBER_TRY(write_entry(l2_offset, (gc0 + i) % l2_entries_, (dest + i * cs) | kOflagCopied, w1));
  }
  return n;
}

uint32_t Qcow2Image::touched_subclusters(uint64_t from, uint64_t to) const {
  const unsigned first = static_cast<unsigned>(from / subcluster_size_);
  const unsigned last = static_cast<unsigned>((to - 1) / subcluster_size_);
  return static_cast<uint32_t>(((uint64_t{1} << (last + 1)) - 1) & ~((uint64_t{1} << first) - 1));
}

Qcow2Image::ClusterPlan Qcow2Image::plan_cluster_write(uint64_t w0, uint64_t w1, bool own,
                                                       uint64_t in, uint64_t n) const {
  const uint64_t cs = cluster_size_;
  const bool compressed = (w0 & kOflagCompressed) != 0;
  const uint64_t host = compressed ? 0 : (w0 & kL2OffsetMask);
  const bool has_backing = !header_.backing_file.empty();
  if (!extended_) {
    // Bit 0 of a compressed entry is part of its byte offset, not the
    // zero flag (QEMU packs compressed data at any byte).
    const bool zero_flag = !compressed && (w0 & kOflagZero) != 0;
    // A cluster we own with data: the guest's bytes alone, in place.
    if (own && !zero_flag) return {host, {in, in, false}, {in + n, in + n, false}, 0};
    // Else a whole cluster: ours again (zero flag) or a new one, filled
    // with zeros or with what the image reads there now.
    const bool zeros = zero_flag || (host == 0 && !compressed && !has_backing);
    return {own ? host : 0, {0, in, zeros}, {in + n, cs, zeros}, 0};
  }
  // Extended L2. A compressed or shared cluster becomes a new, fully
  // allocated one holding what the image reads there now.
  if (compressed || (host != 0 && !own))
    return {0, {0, in, false}, {in + n, cs, false}, 0xffffffffull};
  // Else per-subcluster allocation in our cluster (or a new one): fill the
  // untouched parts of partially written, unallocated subclusters.
  const uint64_t scs = subcluster_size_;
  const unsigned first = static_cast<unsigned>(in / scs);
  const unsigned last = static_cast<unsigned>((in + n - 1) / scs);
  const uint32_t touched = touched_subclusters(in, in + n);
  const uint32_t alloc = static_cast<uint32_t>(w1);
  const uint32_t zero = static_cast<uint32_t>(w1 >> 32);
  auto sub_zeros = [&](unsigned sub) { return (zero & (1u << sub)) || !has_backing; };
  ClusterPlan plan{host, {in, in, false}, {in + n, in + n, false}, 0};
  if (!(alloc & (1u << first))) plan.head = {first * scs, in, sub_zeros(first)};
  if (!(alloc & (1u << last))) plan.tail = {in + n, (last + 1) * scs, sub_zeros(last)};
  plan.w1 = (uint64_t{zero & ~touched} << 32) | (alloc | touched);
  return plan;
}

Result<uint64_t> Qcow2Image::write_slow(uint64_t offset, std::span<const iovec> iov,
                                        uint64_t iov_pos, uint64_t length, MetaLock meta) {
  const uint64_t cs = cluster_size_;
  const uint64_t cstart = offset & ~(cs - 1);
  const uint64_t in = offset - cstart;
  const uint64_t n = std::min(length, cs - in);
  const uint64_t gc = offset >> cluster_bits_;
  if (meta.mode == MetaLockMode::kReleaseForDataIo) {
    while (inflight_.count(gc) != 0) inflight_cv_.wait(meta.lock);
  }
  const uint64_t l2_index = gc % l2_entries_;
  AMBER_TRY_ASSIGN(uint64_t l2_offset, l2_for_write(gc / l2_entries_));
  if (in + length > cs) {
    AMBER_TRY_ASSIGN(uint64_t done, write_fresh_run(offset, iov, iov_pos, length, l2_offset, meta));
    if (done != 0) return done;
  }
  uint64_t w0, w1;
  AMBER_TRY(read_entry(l2_offset, l2_index, w0, w1));
  Mapping check;
  AMBER_TRY(classify(w0, w1, gc, 0, check));  // validates the entry

  const bool compressed = (w0 & kOflagCompressed) != 0;
  const uint64_t host = compressed ? 0 : (w0 & kL2OffsetMask);
  bool own = (host != 0 && (w0 & kOflagCopied)) || owns_data(w0);
  if (host != 0 && !own && !data_file_) {
    AMBER_TRY_ASSIGN(uint64_t rc, refcounts_->get(host >> cluster_bits_));
    own = rc == 1;
  }
  const ClusterPlan plan = plan_cluster_write(w0, w1, own, in, n);
  IovSlice data_slice;
  auto data = data_slice.build(iov, iov_pos, n);
  AMBER_TRY_ASSIGN(uint64_t dest, allocate_and_cow(plan.reuse, gc, 1, meta, [&](uint64_t to) {
                     const CowTarget target =
                         plan.reuse == 0 ? CowTarget::kNewClusters : CowTarget::kInPlace;
                     return cow_write(cstart, to, target, plan.head, plan.tail, data);
                   }));
  AMBER_TRY(write_entry(l2_offset, l2_index, dest | kOflagCopied, plan.w1));
  // The old host cluster goes once the new entry is durable.
  if (compressed) {
    AMBER_TRY_ASSIGN(CompressedDescriptor d, decode_compressed(w0, cluster_bits_));
    defer_free(d.aligned_offset, d.aligned_bytes);
  } else if (host != 0 && host != dest && !data_file_) {
    defer_free(host, cs);
  }
  return n;
}

Result<void> Qcow2Image::writev(uint64_t offset, std::span<const iovec> iov) {
  const uint64_t length = iov_length(iov);
  if (read_only()) return Error(ErrorKind::kReadOnly, "'" + file_->name() + "' is read-only");
  if (offset > header_.size || length > header_.size - offset)
    return Error(ErrorKind::kOutOfRange, "request beyond the end of '" + file_->name() + "'");
  if (encrypted() && cipher_ == nullptr)
    return Error(ErrorKind::kUnsupported,
                 "'" + file_->name() + "' was opened without its key (metadata only)");
  if (external_ && !data_file_)
    return Error(ErrorKind::kUnsupported,
                 "'" + file_->name() + "' was opened without its data file (metadata only)");
  if (!sector_aligned(offset, length)) {
    // The read-modify-write of the partial sectors must not interleave
    // with another write of them: exclusive rw_ keeps every other request
    // out while it runs (byte-granular requests come from tools, not from
    // guests, whose requests are whole sectors).
    std::unique_lock rw(rw_);
    return bounce_writev(
        offset, iov,
        [this](uint64_t at, std::span<const iovec> v) { return read_locked(at, v, iov_length(v)); },
        [this](uint64_t at, std::span<const iovec> v) {
          return writev_locked(at, v, iov_length(v));
        });
  }
  std::shared_lock rw(rw_);
  return writev_locked(offset, iov, length);
}

Result<void> Qcow2Image::writev_locked(uint64_t offset, std::span<const iovec> iov,
                                       uint64_t length) {
  IovSlice sub;
  uint64_t pos = 0;
  while (pos < length) {
    AMBER_TRY_ASSIGN(Mapping m, lookup(offset + pos, length - pos));
    if (m.kind == MapKind::kData && m.copied) {
      AMBER_TRY(write_data(m.host, offset + pos, sub.build(iov, pos, m.length)));
      pos += m.length;
      continue;
    }
    std::unique_lock meta(meta_);
    AMBER_TRY(mark_dirty());
    AMBER_TRY_ASSIGN(uint64_t done, write_slow(offset + pos, iov, pos, length - pos,
                                               {meta, MetaLockMode::kReleaseForDataIo}));
    pos += done;
    AMBER_TRY(maybe_write_back());
  }
  return ok();
}

}  // namespace amber::block::qcow2
