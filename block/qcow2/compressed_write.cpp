// SPDX-License-Identifier: GPL-2.0-or-later
// Qcow2Image: compressed cluster writes, as QEMU's qcow2 driver writes
// them (qcow2_co_pwritev_compressed_task + qcow2_alloc_bytes):
// - compressed data is packed byte by byte: each cluster's data starts
//   where the previous one ended, in the same host cluster while it fits,
//   else in a new one (straddling into it when that one happens to follow);
// - every host cluster the data touches gets one more reference, so a
//   host cluster holding the data of 40 guest clusters has refcount 40;
// - only a cluster with no host cluster of its own (unallocated or zero)
//   may be written compressed: compression never overwrites (EIO);
// - a cluster that does not shrink below cluster_size - 1 bytes is
//   written uncompressed, as a normal write.
// The data goes to the file with meta_ released (the guest cluster marked
// in flight); the L2 entry is set only after it, so a crash leaks at most.
//
// Thread-safety: as writev (rw_ shared, meta_ for the allocation and the
// L2 update).
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "block/qcow2/format.h"
#include "block/qcow2/image.h"

namespace amber::block::qcow2 {

Result<uint64_t> Qcow2Image::allocate_compressed_bytes(uint64_t bytes) {
  uint64_t offset = pack_offset_;
  // The packing cluster must still be one we hold: a free anywhere may
  // have released it (to be handed out again as a normal cluster), and a
  // full refcount cannot take one more reference.
  if (offset != 0 && pack_frees_ != refcounts_->frees()) offset = 0;
  if (offset != 0) {
    AMBER_TRY_ASSIGN(uint64_t rc, refcounts_->get(offset >> cluster_bits_));
    if (rc == 0 || rc >= refcounts_->max_refcount()) offset = 0;
  }
  const uint64_t free_in_cluster = cluster_size_ - (offset & (cluster_size_ - 1));
  if (offset == 0 || free_in_cluster < bytes) {
    // A new host cluster (its refcount 0 -> 1).
    AMBER_TRY_ASSIGN(uint64_t fresh, allocate_clusters(1));
    if (offset != 0 && align_up(offset, cluster_size_) == fresh) {
      // It follows the packing cluster: the data straddles both, and the
      // packing cluster takes one more reference.
      if (auto r = refcounts_->update(offset >> cluster_bits_, 1); !r.ok()) {
        (void)refcounts_->update(fresh >> cluster_bits_, -1);
        return std::move(r).error();
      }
    } else {
      offset = fresh;
    }
  } else {
    AMBER_TRY(refcounts_->update(offset >> cluster_bits_, 1));
  }
  pack_offset_ = (offset + bytes) % cluster_size_ == 0 ? 0 : offset + bytes;
  pack_frees_ = refcounts_->frees();
  note_host_end(offset + bytes);
  return offset;
}

Result<void> Qcow2Image::store_compressed(uint64_t offset, std::span<const uint8_t> packed) {
  if (read_only()) return Error(ErrorKind::kReadOnly, "'" + file_->name() + "' is read-only");
  // QEMU does not write compressed clusters into encrypted images either.
  if (encrypted())
    return Error(ErrorKind::kUnsupported, "Compression is not supported with encryption");
  // Nor into images with an external data file (QEMU: ENOTSUP).
  if (data_file_)
    return Error(ErrorKind::kUnsupported, "Compression is not supported with an external data file",
                 ENOTSUP);
  if (offset % cluster_size_ != 0 || offset >= header_.size)
    return Error(ErrorKind::kInvalidArgument, "compressed write not at a cluster of the image",
                 EINVAL);
  if (packed.empty() || packed.size() >= cluster_size_)
    return Error(ErrorKind::kInvalidArgument, "compressed data is not smaller than a cluster",
                 EINVAL);
  const uint64_t gc = offset >> cluster_bits_;
  std::shared_lock rw(rw_);
  std::unique_lock meta(meta_);
  while (inflight_.count(gc) != 0) inflight_cv_.wait(meta);
  AMBER_TRY(mark_dirty());
  AMBER_TRY_ASSIGN(uint64_t l2_offset, l2_for_write(gc / l2_entries_));
  const uint64_t index = gc % l2_entries_;
  uint64_t w0, w1;
  AMBER_TRY(read_entry(l2_offset, index, w0, w1));
  Mapping check;
  AMBER_TRY(classify(w0, w1, gc, 0, check));  // validates the entry
  if ((w0 & kOflagCompressed) || (w0 & kL2OffsetMask) != 0)
    return Error(ErrorKind::kIo,
                 "compressed write to guest cluster " + std::to_string(gc) +
                     ", which is already allocated (compression cannot overwrite)",
                 EIO);
  AMBER_TRY_ASSIGN(uint64_t host, allocate_compressed_bytes(packed.size()));
  inflight_.insert(gc);
  meta.unlock();
  Result<void> written = io::write_exact(*file_, host, packed.data(), packed.size());
  meta.lock();
  inflight_.erase(gc);
  inflight_cv_.notify_all();
  if (!written.ok()) {
    // Nothing references the bytes: give back the references just taken.
    (void)refcounts_->update_range(host, packed.size(), -1);
    return written;
  }
  // Extended L2: a compressed cluster's bitmap word is reserved (0).
  AMBER_TRY(
      write_entry(l2_offset, index, encode_compressed(host, packed.size(), cluster_bits_), 0));
  return maybe_write_back();
}

Result<void> Qcow2Image::write_compressed(uint64_t offset, std::span<const std::byte> data) {
  // Nor into images with an external data file (QEMU: ENOTSUP).
  if (data_file_)
    return Error(ErrorKind::kUnsupported, "Compression is not supported with an external data file",
                 ENOTSUP);
  if (offset % cluster_size_ != 0 || offset >= header_.size || data.empty() ||
      data.size() != std::min(cluster_size_, header_.size - offset))
    return Error(ErrorKind::kInvalidArgument, "compressed write is not one whole cluster", EINVAL);
  // QEMU compresses a short last cluster padded with zeros to a whole one.
  std::vector<uint8_t> in(cluster_size_, 0);
  std::memcpy(in.data(), data.data(), data.size());
  std::vector<uint8_t> out(cluster_size_);
  ClusterCompressor compressor(compression_, cluster_size_);
  AMBER_TRY_ASSIGN(size_t n, compressor.compress(in, out));
  if (n == 0) {
    // Did not shrink: written as a normal cluster, padded to the sector.
    const uint64_t length = std::min(align_up(data.size(), kSectorSize), header_.size - offset);
    return write(offset, std::span(reinterpret_cast<const std::byte*>(in.data()), length));
  }
  return store_compressed(offset, std::span(out.data(), n));
}

Result<void> Qcow2Image::finish_compressed_writes() {
  std::unique_lock rw(rw_);
  AMBER_TRY_ASSIGN(uint64_t length, file_->size());
  if (length % kSectorSize == 0) return ok();
  return file_->truncate(align_up(length, kSectorSize));
}

}  // namespace amber::block::qcow2
