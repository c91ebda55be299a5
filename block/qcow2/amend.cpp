// SPDX-License-Identifier: GPL-2.0-or-later
// Header-level changes of an open qcow2 image for amber-img commit, rebase
// and amend: emptying the active layer (qemu's bdrv_make_empty), storing a
// new backing file name and format (bdrv_change_backing_file), and the
// compat / lazy_refcounts changes of qcow2_amend_options, and its LUKS key
// slot changes (the encrypt.* options).
//
// Thread-safety: each call takes rw_ and meta_ exclusively; the caller must
// not run I/O on the image meanwhile.
#include <cstdio>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "block/qcow2/format.h"
#include "block/qcow2/image.h"
#include "block/qcow2/qcow2.h"

namespace amber::block::qcow2 {

Result<void> Qcow2Image::make_empty() {
  if (read_only()) return Error(ErrorKind::kReadOnly, "image is read-only", EACCES);
  {
    std::unique_lock rw(rw_);
    std::lock_guard meta(meta_);
    AMBER_TRY(mark_dirty());
    const uint64_t clusters = div_round_up(header_.size, cluster_size_);
    for (uint64_t gc = 0; gc < clusters; ++gc) {
      const uint64_t l1_index = gc / l2_entries_;
      if (l1_index >= header_.l1_size) break;
      if ((l1(l1_index) & kL1OffsetMask) == 0) {
        gc = (l1_index + 1) * l2_entries_ - 1;  // no table: nothing to free here
        continue;
      }
      AMBER_TRY(unmap_cluster(gc << cluster_bits_, UnmapReads::kBelow, UnmapHost::kFree));
    }
    AMBER_TRY(punch_unmapped());
  }
  return flush();
}

Result<void> Qcow2Image::set_backing(const std::string& name, std::optional<ImageFormat> format) {
  if (read_only()) return Error(ErrorKind::kReadOnly, "image is read-only", EACCES);
  AMBER_TRY(flush());
  std::unique_lock rw(rw_);
  std::lock_guard meta(meta_);
  Header next = header_;
  next.backing_file = name;
  next.backing_format = format && !name.empty() ? std::string(to_string(*format)) : std::string();
  Header copy = next;
  AMBER_TRY_ASSIGN(std::vector<uint8_t> bytes, serialize_header(copy));
  if (bytes.size() > cluster_size_)
    return Error(ErrorKind::kInvalidArgument, "backing file name too long", EINVAL);
  AMBER_TRY(write_header_of(next));
  AMBER_TRY(file_->flush());
  header_ = next;
  return ok();
}

Result<void> Qcow2Image::amend_features(unsigned version, bool lazy_refcounts) {
  if (read_only()) return Error(ErrorKind::kReadOnly, "image is read-only", EACCES);
  if (version != 2 && version != 3)
    return Error(ErrorKind::kInvalidArgument, "Unknown compatibility level", EINVAL);
  if (version < 3 && lazy_refcounts)
    return Error(ErrorKind::kInvalidArgument,
                 "Lazy refcounts only supported with compatibility level 1.1 and above (use "
                 "compat=1.1 or greater)");
  if (version < header_.version) {
    if (header_.refcount_order != 4)
      return Error(ErrorKind::kUnsupported, "compat=0.10 requires refcount_bits=16");
    // QEMU expands zero clusters in the snapshots' tables too; Amber does
    // not yet, and keeps the image as it is.
    if (!snapshots_.empty())
      return Error(ErrorKind::kUnsupported,
                   "Cannot downgrade an image with internal snapshots (not supported yet)");
    const uint64_t others =
        header_.incompatible_features & ~(kIncompatDirty | kIncompatCompression);
    if (others != 0) {
      char hex[32];
      std::snprintf(hex, sizeof hex, "0x%llx", static_cast<unsigned long long>(others));
      return Error(
          ErrorKind::kUnsupported,
          std::string("Cannot downgrade an image with incompatible features ") + hex + " set");
    }
    const bool has_backing = !header_.backing_file.empty();
    const bool zstd = (header_.incompatible_features & kIncompatCompression) != 0;
    // First pass: what cannot be expressed in v2, before anything changes.
    std::vector<uint64_t> zero_clusters;
    for (uint64_t off = 0; off < header_.size;) {
      AMBER_TRY_ASSIGN(Mapping m, lookup(off, header_.size - off));
      if (m.kind == MapKind::kCompressed && zstd)
        return Error(ErrorKind::kUnsupported,
                     "Cannot downgrade an image with zstd compression type and existing "
                     "compressed clusters");
      if (m.kind == MapKind::kZero) {
        for (uint64_t c = off & ~(cluster_size_ - 1); c < off + m.length; c += cluster_size_)
          if (zero_clusters.empty() || zero_clusters.back() != c) zero_clusters.push_back(c);
      }
      off += m.length;
    }
    // Zero clusters: data holding zeros where something could show
    // through or a host cluster is kept, else unallocated.
    std::vector<std::byte> zeros;
    for (uint64_t c : zero_clusters) {
      AMBER_TRY_ASSIGN(Mapping m, lookup(c, cluster_size_));
      if (m.kind != MapKind::kZero) continue;
      const uint64_t n = std::min(cluster_size_, header_.size - c);
      if (!has_backing && !m.has_host) {
        std::unique_lock rw(rw_);
        std::lock_guard meta(meta_);
        AMBER_TRY(unmap_cluster(c, UnmapReads::kBelow, UnmapHost::kFree));
        AMBER_TRY(punch_unmapped());
        continue;
      }
      zeros.assign(cluster_size_, std::byte{0});
      AMBER_TRY(write(c, std::span(zeros.data(), n)));
    }
  }
  AMBER_TRY(flush());
  std::unique_lock rw(rw_);
  std::lock_guard meta(meta_);
  Header next = header_;
  if (version == 2) {
    next.version = 2;
    next.incompatible_features = 0;
    next.compatible_features = 0;
    next.autoclear_features = 0;
    next.refcount_order = 4;
    next.compression_type = 0;
    next.extra_fields.clear();
    next.has_feature_table = false;
    next.feature_names.clear();
  } else {
    if (header_.version < 3) {
      next.version = 3;
      next.incompatible_features = 0;
      next.compatible_features = 0;
      next.autoclear_features = 0;
      next.refcount_order = 4;
      next.compression_type = 0;
      next.has_feature_table = cluster_size_ > 4096;
      next.feature_names = default_feature_names();
    }
    if (lazy_refcounts)
      next.compatible_features |= kCompatLazyRefcounts;
    else
      next.compatible_features &= ~kCompatLazyRefcounts;
    // flush() above made the refcounts exact: the dirty bit we set goes.
    if (dirty_set_by_us_) next.incompatible_features &= ~kIncompatDirty;
  }
  Header copy = next;
  AMBER_TRY_ASSIGN(std::vector<uint8_t> bytes, serialize_header(copy));
  if (bytes.size() > cluster_size_)
    return Error(ErrorKind::kNoSpace, "header does not fit in its cluster", ENOSPC);
  AMBER_TRY(write_header_of(next));
  // The rest of the header cluster reads as zeros, as QEMU writes it (no
  // stale v3 fields or feature table past a v2 header).
  std::vector<uint8_t> tail(cluster_size_ - bytes.size(), 0);
  AMBER_TRY(io::write_exact(*file_, bytes.size(), tail.data(), tail.size()));
  AMBER_TRY(file_->flush());
  header_ = next;
  dirty_set_by_us_ = false;
  lazy_ = (header_.compatible_features & kCompatLazyRefcounts) != 0;
  return ok();
}

Result<void> Qcow2Image::amend_encryption(const crypto::LuksAmendOptions& options) {
  if (read_only()) return Error(ErrorKind::kReadOnly, "image is read-only", EACCES);
  if (!luks_ || !options_.passphrase)
    return Error(ErrorKind::kInvalidArgument,
                 "Can't amend encryption options - encryption not present");
  std::unique_lock rw(rw_);
  std::lock_guard meta(meta_);
  return luks_->amend(*file_, luks_offset_, *options_.passphrase, options);
}

namespace {

Result<Qcow2Image*> as_qcow2_image(Image& image) {
  auto* q = dynamic_cast<Qcow2Image*>(&image);
  if (q == nullptr) return Error(ErrorKind::kUnsupported, "Operation not supported", ENOTSUP);
  return q;
}

}  // namespace

Result<void> make_empty(Image& image) {
  AMBER_TRY_ASSIGN(Qcow2Image * q, as_qcow2_image(image));
  return q->make_empty();
}

Result<void> amend_features(Image& image, unsigned version, bool lazy_refcounts) {
  AMBER_TRY_ASSIGN(Qcow2Image * q, as_qcow2_image(image));
  return q->amend_features(version, lazy_refcounts);
}

Result<void> amend_encryption(Image& image, const crypto::LuksAmendOptions& options) {
  AMBER_TRY_ASSIGN(Qcow2Image * q, as_qcow2_image(image));
  return q->amend_encryption(options);
}

Result<void> set_backing_file(Image& image, const std::string& name,
                              std::optional<ImageFormat> format) {
  AMBER_TRY_ASSIGN(Qcow2Image * q, as_qcow2_image(image));
  return q->set_backing(name, format);
}

}  // namespace amber::block::qcow2
