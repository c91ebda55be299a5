// SPDX-License-Identifier: GPL-2.0-or-later
// Qcow2Image: guest -> host mapping, the read path and block_status.
#include <algorithm>

#include "block/crypto/crypt_io.h"
#include "block/qcow2/format.h"
#include "block/qcow2/image.h"
#include "block/qcow2/iov.h"
#include "block/qcow2/l2_entry.h"
#include "block/unaligned.h"

namespace amber::block::qcow2 {

Result<void> Qcow2Image::classify(uint64_t w0, uint64_t w1, uint64_t guest_cluster, unsigned sub,
                                  Mapping& m) const {
  auto corrupt = [&](const std::string& why) {
    return Error(ErrorKind::kCorrupt, "L2 entry for guest offset " +
                                          to_hex(guest_cluster << cluster_bits_) + " (" +
                                          to_hex(w0) + ") " + why);
  };
  m.entry = w0;
  m.copied = false;
  m.host = 0;
  m.has_host = false;
  const L2Entry e = decode_l2_entry(w0, w1, cluster_bits_, extended_);
  if (e.kind == L2EntryKind::kCompressed) {
    if (extended_ && w1 != 0) return corrupt("is compressed but has a subcluster bitmap");
    if (external_) return corrupt("is compressed in an image with an external data file");
    m.kind = MapKind::kCompressed;
    return ok();
  }
  const uint64_t host = e.host_offset;
  if (external_) {
    // External data file: host offset 0 is valid there, and COPIED tells
    // an allocated cluster from an unallocated one (QEMU's rule); data is
    // not bounded by the qcow2 file's end.
    if (e.reserved_bits) return corrupt("has reserved bits set");
    const bool zero = (w0 & kOflagZero) != 0;
    if (zero)
      m.kind = MapKind::kZero;
    else
      m.kind = (host != 0 || (w0 & kOflagCopied)) ? MapKind::kData : MapKind::kUnallocated;
    if (host == 0 && !(w0 & kOflagCopied)) return ok();
    if ((host & (cluster_size_ - 1)) != 0) return corrupt("points to an unaligned host offset");
    m.host = host;
    m.has_host = true;
    m.copied = m.kind == MapKind::kData;
    return ok();
  }
  // With subclusters bit 0 is reserved too (the decoder ignores it there).
  if (e.reserved_bits || (extended_ && (w0 & kOflagZero) != 0))
    return corrupt("has reserved bits set");
  if (extended_) {
    const uint32_t alloc = e.allocated_subclusters();
    if (e.bitmap_conflict()) return corrupt("has subclusters both allocated and zero");
    if (alloc != 0 && host == 0) return corrupt("has allocated subclusters but no host cluster");
    if (alloc & (1u << sub))
      m.kind = MapKind::kData;
    else
      m.kind = (e.zero_subclusters() & (1u << sub)) ? MapKind::kZero : MapKind::kUnallocated;
  } else if (e.kind == L2EntryKind::kZeroPlain || e.kind == L2EntryKind::kZeroAllocated) {
    m.kind = MapKind::kZero;
  } else {
    m.kind = e.kind == L2EntryKind::kNormal ? MapKind::kData : MapKind::kUnallocated;
  }
  if (host == 0) return ok();
  // QEMU refuses a misaligned host cluster even when the entry is zero or
  // its subclusters are unallocated, with this message.
  if ((host & (cluster_size_ - 1)) != 0) {
    const uint64_t l2_index = guest_cluster % l2_entries_;
    return Error(ErrorKind::kCorrupt,
                 "Cluster allocation offset " + to_hex(host) + " unaligned (L2 offset: " +
                     to_hex(l1(guest_cluster / l2_entries_) & kL1OffsetMask) +
                     ", L2 index: " + (l2_index == 0 ? std::string("0") : to_hex(l2_index)) + ")");
  }
  if (m.kind == MapKind::kData && host + cluster_size_ > host_end_.load(std::memory_order_relaxed))
    return corrupt("points to " + to_hex(host) + ", beyond the end of the file");
  m.host = host + sub * subcluster_size_;
  m.has_host = true;
  m.copied = m.kind == MapKind::kData && (w0 & kOflagCopied) != 0;
  return ok();
}

Result<Mapping> Qcow2Image::lookup(uint64_t offset, uint64_t max_length) {
  Mapping m;
  const uint64_t guest_cluster = offset >> cluster_bits_;
  const uint64_t l1_index = guest_cluster / l2_entries_;
  uint64_t l2_index = guest_cluster % l2_entries_;
  const uint64_t table_end = (l1_index + 1) * l2_entries_ * cluster_size_;
  if (l1_index >= header_.l1_size) {
    m.length = max_length;
    return m;
  }
  const uint64_t l2_offset = l1(l1_index) & kL1OffsetMask;
  if (l2_offset == 0) {
    m.length = std::min(max_length, table_end - offset);
    return m;
  }
  const uint64_t slice_bytes = l2_cache_->slice_bytes();
  const uint64_t per_slice = slice_bytes / (8 * entry_words_);
  const uint64_t slice_offset = l2_offset + (l2_index / per_slice) * slice_bytes;
  const uint64_t idx = l2_index % per_slice;

  // Hits run under the cache's shared lock; a miss loads under its
  // exclusive lock.
  {
    std::shared_lock shared(l2_cache_->mutex());
    if (L2Cache::Slice* slice = l2_cache_->find(slice_offset)) {
      AMBER_TRY(
          scan_slice(slice->words.data(), offset, max_length, guest_cluster, idx, per_slice, m));
      return m;
    }
  }
  std::lock_guard lock(l2_cache_->mutex());
  AMBER_TRY_ASSIGN(L2Cache::Slice * slice, l2_cache_->get(slice_offset));
  AMBER_TRY(scan_slice(slice->words.data(), offset, max_length, guest_cluster, idx, per_slice, m));
  return m;
}

Result<void> Qcow2Image::scan_slice(const uint64_t* words, uint64_t offset, uint64_t max_length,
                                    uint64_t guest_cluster, uint64_t idx, uint64_t per_slice,
                                    Mapping& m) const {
  unsigned sub = static_cast<unsigned>((offset & (cluster_size_ - 1)) / subcluster_size_);
  uint64_t gc = guest_cluster;
  AMBER_TRY(classify(words[idx * entry_words_], extended_ ? words[idx * entry_words_ + 1] : 0, gc,
                     sub, m));
  const uint64_t unit_start = (gc << cluster_bits_) + sub * subcluster_size_;
  m.length = unit_start + subcluster_size_ - offset;
  if (m.has_host) m.host += offset - unit_start;
  if (m.kind == MapKind::kCompressed) {
    m.length = std::min(max_length, (gc + 1) * cluster_size_ - offset);
    return ok();
  }
  Mapping next;
  while (m.length < max_length) {
    if (++sub == (extended_ ? kSubclustersPerCluster : 1u)) {
      sub = 0;
      ++gc;
      ++idx;
      if (idx >= per_slice) break;
    }
    AMBER_TRY(classify(words[idx * entry_words_], extended_ ? words[idx * entry_words_ + 1] : 0, gc,
                       sub, next));
    if (next.kind != m.kind || next.has_host != m.has_host) break;
    if (m.has_host && (next.host != m.host + m.length || next.copied != m.copied)) break;
    m.length += subcluster_size_;
  }
  m.length = std::min(m.length, max_length);
  return ok();
}

Result<void> Qcow2Image::read_below(uint64_t offset, std::span<const iovec> iov, uint64_t length) {
  if (!backing_) {
    if (!header_.backing_file.empty() && options_.backing != BackingMode::kDetached)
      return Error(ErrorKind::kUnsupported, "'" + file_->name() +
                                                "': reading unallocated data "
                                                "needs the backing file, which was not opened");
    zero_iov(iov);
    return ok();
  }
  const uint64_t bsize = backing_->size();
  uint64_t part = offset < bsize ? std::min(length, bsize - offset) : 0;
  part -= part % kSectorSize;
  IovSlice s;
  if (part != 0) AMBER_TRY(backing_->readv(offset, s.build(iov, 0, part)));
  if (part < length) zero_iov(s.build(iov, part, length - part));
  return ok();
}

Result<void> Qcow2Image::read_compressed(uint64_t entry, uint64_t offset,
                                         std::span<const iovec> iov, uint64_t length) {
  AMBER_TRY_ASSIGN(CompressedDescriptor d, decode_compressed(entry, cluster_bits_));
  if (d.offset >= host_end_.load(std::memory_order_relaxed))
    return Error(ErrorKind::kCorrupt, "compressed L2 entry for guest offset " + to_hex(offset) +
                                          " points to " + to_hex(d.offset) +
                                          ", beyond the end of the file");
  // Per-thread buffers: no heap allocation per compressed read once warm.
  thread_local std::vector<uint8_t> in;
  thread_local std::vector<uint8_t> out;
  in.resize(d.bytes);
  out.resize(cluster_size_);
  AMBER_TRY(io::read_exact(*file_, d.offset, in.data(), in.size()));
  AMBER_TRY(decompress_cluster(compression_, in, out));
  copy_to_iov(iov, out.data() + (offset & (cluster_size_ - 1)));
  (void)length;
  return ok();
}

Result<void> Qcow2Image::read_locked(uint64_t offset, std::span<const iovec> iov, uint64_t length) {
  IovSlice sub;
  uint64_t pos = 0;
  while (pos < length) {
    AMBER_TRY_ASSIGN(Mapping m, lookup(offset + pos, length - pos));
    auto part = sub.build(iov, pos, m.length);
    switch (m.kind) {
      case MapKind::kData:
        AMBER_TRY(data_io().readv_at(m.host, part));
        if (cipher_ != nullptr)
          AMBER_TRY(crypto::decrypt_iov(*cipher_, crypt_sector(m.host, offset + pos), part));
        break;
      case MapKind::kZero:
        zero_iov(part);
        break;
      case MapKind::kUnallocated:
        AMBER_TRY(read_below(offset + pos, part, m.length));
        break;
      case MapKind::kCompressed:
        if (encrypted())
          return Error(ErrorKind::kCorrupt,
                       "'" + file_->name() + "': compressed cluster in an encrypted image");
        AMBER_TRY(read_compressed(m.entry, offset + pos, part, m.length));
        break;
    }
    pos += m.length;
  }
  return ok();
}

Result<void> Qcow2Image::readv(uint64_t offset, std::span<const iovec> iov) {
  const uint64_t length = iov_length(iov);
  if (offset > header_.size || length > header_.size - offset)
    return Error(ErrorKind::kOutOfRange, "request beyond the end of '" + file_->name() + "'");
  if (encrypted() && cipher_ == nullptr)
    return Error(ErrorKind::kUnsupported,
                 "'" + file_->name() + "' was opened without its key (metadata only)");
  if (external_ && !data_file_)
    return Error(ErrorKind::kUnsupported,
                 "'" + file_->name() + "' was opened without its data file (metadata only)");
  std::shared_lock rw(rw_);
  if (!sector_aligned(offset, length)) {
    return bounce_readv(offset, iov, [this](uint64_t at, std::span<const iovec> v) {
      return read_locked(at, v, iov_length(v));
    });
  }
  return read_locked(offset, iov, length);
}

Result<bool> Qcow2Image::metadata_preallocated() {
  // The data file's clusters have no refcounts to count.
  if (external_) return false;
  const int known = metadata_prealloc_.load(std::memory_order_acquire);
  if (known >= 0) return known == 1;
  // QEMU's qcow2_detect_metadata_preallocation: count clusters with a
  // non-zero refcount until they clearly outnumber the blocks the host
  // file has (10/9 of them, at least two more).
  AMBER_TRY_ASSIGN(uint64_t file_size, file_->size());
  AMBER_TRY_ASSIGN(uint64_t allocated, file_->allocated_size());
  const uint64_t real_clusters = allocated / cluster_size_;
  const uint64_t threshold = std::max(real_clusters * 10 / 9, real_clusters + 2);
  const uint64_t end_cluster = div_round_up(file_size, cluster_size_);
  uint64_t in_use = 0;
  {
    std::lock_guard meta(meta_);
    for (uint64_t c = 0; c < end_cluster && in_use < threshold; ++c) {
      AMBER_TRY_ASSIGN(uint64_t refcount, refcounts_->get(c));
      in_use += refcount != 0 ? 1 : 0;
    }
  }
  const bool preallocated = in_use >= threshold;
  metadata_prealloc_.store(preallocated ? 1 : 0, std::memory_order_release);
  return preallocated;
}

Result<BlockStatus> Qcow2Image::block_status(uint64_t offset, uint64_t max_length) {
  BlockStatus st;
  st.filename = file_->name();
  if (offset >= header_.size) return st;
  max_length = std::min(max_length, header_.size - offset);
  std::shared_lock rw(rw_);
  AMBER_TRY_ASSIGN(Mapping m, lookup(offset, max_length));
  // Merge further runs of the same state so map output stays short.
  while (m.length < max_length) {
    AMBER_TRY_ASSIGN(Mapping n, lookup(offset + m.length, max_length - m.length));
    if (n.kind != m.kind || n.has_host != m.has_host || m.kind == MapKind::kCompressed) break;
    if (m.has_host && n.host != m.host + m.length) break;
    m.length += n.length;
  }
  st.length = m.length;
  // Data lives in the data file, and map names it there.
  if (m.has_host && data_file_) st.filename = data_file_->name();
  // As QEMU: encrypted data has no raw-readable offset.
  if (m.has_host && !encrypted()) st.offset = m.host;
  switch (m.kind) {
    case MapKind::kData: {
      st.present = st.data = true;
      // As QEMU: only in a metadata-preallocated image does the host file
      // say whether a data cluster is a hole (and so reads as zeros).
      AMBER_TRY_ASSIGN(bool preallocated, metadata_preallocated());
      if (preallocated) {
        auto extent = file_->extent_at(m.host, m.length);
        if (extent.ok() && extent->length != 0) {  // errors: no extra information
          st.length = extent->length;
          st.zero = extent->hole;
        }
      }
      return st;
    }
    case MapKind::kZero:
      st.present = st.zero = true;
      return st;
    case MapKind::kCompressed:
      st.present = st.data = st.compressed = true;
      return st;
    case MapKind::kUnallocated:
      break;
  }
  st.zero = true;
  st.depth = chain_below_;
  if (backing_ && offset < backing_->size()) {
    AMBER_TRY_ASSIGN(BlockStatus b, backing_->block_status(offset, m.length));
    b.depth += 1;
    if (b.length == 0) b.length = m.length;
    return b;
  }
  if (backing_) st.offset.reset();  // zeros past the backing file's end
  return st;
}

}  // namespace amber::block::qcow2
