// SPDX-License-Identifier: GPL-2.0-or-later
#include "block/qcow2/image.h"

#include <algorithm>

#include "block/crypto/luks_image.h"
#include "block/open_file.h"
#include "block/qcow2/bitmap.h"
#include "block/qcow2/format.h"
#include "block/qcow2/qcow2.h"
#include "block/qcow2/refcount_rebuild.h"

namespace amber::block::qcow2 {

Qcow2Image::Qcow2Image(std::unique_ptr<io::File> file, const OpenOptions& options, Header header)
    : file_(std::move(file)), options_(options), header_(std::move(header)) {
  cluster_bits_ = header_.cluster_bits;
  cluster_size_ = header_.cluster_size();
  extended_ = header_.extended_l2();
  entry_words_ = extended_ ? 2 : 1;
  l2_entries_ = cluster_size_ / (8 * entry_words_);
  subcluster_size_ = extended_ ? cluster_size_ / kSubclustersPerCluster : cluster_size_;
  compression_ = header_.compression_type == 1 ? Compression::kZstd : Compression::kDeflate;
  lazy_ = (header_.compatible_features & kCompatLazyRefcounts) != 0;
}

Qcow2Image::~Qcow2Image() {
  (void)close();
}

Result<std::unique_ptr<Qcow2Image>> Qcow2Image::open(std::unique_ptr<io::File> file,
                                                     const OpenOptions& options, unsigned depth) {
  AMBER_TRY_ASSIGN(Header header, read_header(*file));
  const std::string name = file->name();
  if ((header.incompatible_features & kIncompatCorrupt) && options.access == io::Access::kReadWrite)
    return Error(ErrorKind::kReadOnly,
                 "'" + name +
                     "': the qcow2 corrupt bit is set; the image can only be opened "
                     "read-only (repair it with 'check -r all')");
  std::unique_ptr<Qcow2Image> image(new Qcow2Image(std::move(file), options, std::move(header)));
  {
    auto d = image->open_data_file();
    if (!d.ok()) {
      image->closed_ = true;
      return std::move(d).error();
    }
  }
  if (image->encrypted()) {
    auto e = image->open_encryption();
    if (!e.ok()) {
      image->closed_ = true;
      return std::move(e).error();
    }
  }
  auto r = image->init(depth);
  if (!r.ok()) {
    image->closed_ = true;  // nothing of ours to write back
    // A backing file's error names that file itself (qemu-img's wording);
    // naming this image there would blame the overlay.
    if (image->backing_failed_) return std::move(r).error();
    return std::move(r).error().with_context("'" + name + "'");
  }
  return image;
}

Result<void> Qcow2Image::init(unsigned depth) {
  AMBER_TRY_ASSIGN(uint64_t file_size, file_->size());
  host_end_ = align_up(file_size, cluster_size_);

  // L1 table (header checks bounded it to 32 MiB).
  l1_capacity_ = header_.l1_size;
  l1_ = std::make_unique<std::atomic<uint64_t>[]>(std::max<uint64_t>(l1_capacity_, 1));
  if (header_.l1_size != 0) {
    std::vector<uint64_t> raw(header_.l1_size);
    AMBER_TRY(io::read_exact(*file_, header_.l1_table_offset, raw.data(), raw.size() * 8));
    for (uint64_t i = 0; i < raw.size(); ++i) {
      const uint64_t e = __builtin_bswap64(raw[i]);
      const uint64_t off = e & kL1OffsetMask;
      if ((e & kL1ReservedMask) != 0)
        return Error(ErrorKind::kCorrupt, "L1 entry " + std::to_string(i) + " (" + to_hex(e) +
                                              ") has reserved bits set");
      if (off != 0 && (off % cluster_size_ != 0 || off + cluster_size_ > host_end_))
        return Error(ErrorKind::kCorrupt,
                     "L1 entry " + std::to_string(i) + " points to " + to_hex(off) +
                         ", not cluster aligned or beyond the end of the file");
      l1_[i].store(e, std::memory_order_relaxed);
    }
  }

  // Read-only: nothing allocates or frees, so the table is read when a
  // refcount is first asked (metadata preallocation detection).
  AMBER_TRY(install_refcounts(!read_only()));

  AMBER_TRY_ASSIGN(SnapshotTable snaps,
                   read_snapshot_table(*file_, header_.snapshots_offset, header_.nb_snapshots,
                                       header_.version, cluster_bits_));
  snapshots_ = std::move(snaps.snapshots);
  snapshot_table_bytes_ = snaps.bytes;
  // An incomplete v3 entry has no disk size: QEMU takes the image's.
  for (auto& s : snapshots_) {
    if (s.extra_data_size < kMinV3SnapshotExtraData) s.info.disk_size = header_.size;
  }

  // L2 cache: enough for the whole image, capped like QEMU, or as asked.
  const uint64_t slice = std::min(kL2SliceBytes, cluster_size_);
  uint64_t bytes = options_.l2_cache_bytes;
  if (bytes == 0) {
    const uint64_t need = uint64_t{header_.l1_size} * cluster_size_;
    bytes = std::min(need, kDefaultL2CacheMax);
  }
  l2_cache_ = std::make_unique<L2Cache>(*file_, slice, div_round_up(bytes, slice));

  // Backing chain.
  if (!header_.backing_file.empty() && options_.backing == BackingMode::kOpen) {
    std::optional<ImageFormat> fmt;
    if (!header_.backing_format.empty()) {
      AMBER_TRY_ASSIGN(fmt, parse_format(header_.backing_format));
    }
    const std::string path = resolve_backing_path(file_->name(), header_.backing_file);
    if (path == file_->name())
      return Error(ErrorKind::kCorrupt, "backing file '" + path + "' is the image itself (a loop)");
    auto opened = open_backing_image(path, fmt, options_, depth + 1);
    if (!opened.ok()) {
      backing_failed_ = true;
      return std::move(opened).error().with_context("Could not open backing file");
    }
    backing_ = std::move(*opened);
    for (Image* b = backing_.get(); b != nullptr; b = b->backing()) ++chain_below_;
  }

  if (read_only()) return ok();
  bool rewrite = false;
  if (header_.incompatible_features & kIncompatDirty) {
    {
      auto rebuilt = rebuild_refcounts(*file_, header_);
      if (!rebuilt.ok()) return std::move(rebuilt).error();
    }
    AMBER_TRY(refcounts_->load(header_.refcount_table_offset, header_.refcount_table_clusters));
    header_.incompatible_features &= ~kIncompatDirty;
    rewrite = true;
  }
  // We maintain no autoclear feature but data_file_raw, and the bitmaps
  // only for a keep_bitmaps open that rebuilt no refcounts (the rebuild
  // does not count bitmap clusters): clear the others, as the spec asks of
  // a writer that does not maintain them.
  uint64_t maintained = kAutoclearDataFileRaw;
  if (options_.keep_bitmaps && !rewrite) maintained |= kAutoclearBitmaps;
  if ((header_.autoclear_features & ~maintained) != 0) {
    header_.autoclear_features &= maintained;
    rewrite = true;
  }
  if (rewrite) {
    AMBER_TRY(file_->flush());
    AMBER_TRY(write_header());
    AMBER_TRY(file_->flush());
  }
  return ok();
}

Result<void> Qcow2Image::install_refcounts(bool load_now) {
  auto next = std::make_unique<Refcounts>(*file_, cluster_bits_, header_.refcount_order);
  if (load_now) {
    AMBER_TRY(next->load(header_.refcount_table_offset, header_.refcount_table_clusters));
  } else {
    next->load_later(header_.refcount_table_offset, header_.refcount_table_clusters);
  }
  next->is_reserved = [this](uint64_t c) { return reserved_cluster(c); };
  next->on_table_moved = [this](uint64_t offset, uint32_t clusters) -> Result<void> {
    header_.refcount_table_offset = offset;
    header_.refcount_table_clusters = clusters;
    return write_header_durably();
  };
  refcounts_ = std::move(next);
  return ok();
}

bool Qcow2Image::reserved_cluster(uint64_t cluster) const {
  const uint64_t off = cluster << cluster_bits_;
  if (cluster == 0) return true;
  auto inside = [off](uint64_t start, uint64_t bytes) {
    return bytes != 0 && off >= (start & ~uint64_t{0}) && off < start + bytes;
  };
  const uint64_t cs = cluster_size_;
  if (inside(header_.l1_table_offset, align_up(uint64_t{header_.l1_size} * 8, cs))) return true;
  if (inside(refcounts_->table_offset(), uint64_t{refcounts_->table_clusters()} * cs)) return true;
  if (inside(header_.snapshots_offset, align_up(snapshot_table_bytes_, cs))) return true;
  return false;
}

void Qcow2Image::note_host_end(uint64_t end) {
  uint64_t cur = host_end_.load();
  while (end > cur && !host_end_.compare_exchange_weak(cur, end)) {
  }
}

Result<void> Qcow2Image::write_header() {
  return write_header_of(header_);
}

Result<void> Qcow2Image::write_header_of(Header& header) {
  Header copy = header;
  AMBER_TRY_ASSIGN(std::vector<uint8_t> bytes, serialize_header(copy));
  header.backing_file_offset = copy.backing_file_offset;
  header.backing_file_size = copy.backing_file_size;
  header.header_length = copy.header_length;
  return io::write_exact(*file_, 0, bytes.data(), bytes.size());
}

Result<void> Qcow2Image::write_header_durably() {
  header_stale_ = true;
  AMBER_TRY(write_header());
  AMBER_TRY(file_->flush());
  header_stale_ = false;
  return ok();
}

Result<void> Qcow2Image::mark_dirty() {
  if (!lazy_ || dirty_set_by_us_ || (header_.incompatible_features & kIncompatDirty)) return ok();
  header_.incompatible_features |= kIncompatDirty;
  Result<void> stored = write_header();
  if (stored.ok()) stored = file_->flush();
  if (!stored.ok()) {
    // Not known to be on disk: the next update tries again (a bit that did
    // land only costs a refcount rebuild on the next open).
    header_.incompatible_features &= ~kIncompatDirty;
    return stored;
  }
  dirty_set_by_us_ = true;
  return ok();
}

void Qcow2Image::set_l1(uint64_t index, uint64_t entry) {
  l1_[index].store(entry, std::memory_order_release);
  l1_dirty_.push_back(index);
}

Result<void> Qcow2Image::write_l1_dirty() {
  if (l1_dirty_.empty()) return ok();
  std::sort(l1_dirty_.begin(), l1_dirty_.end());
  l1_dirty_.erase(std::unique(l1_dirty_.begin(), l1_dirty_.end()), l1_dirty_.end());
  for (uint64_t index : l1_dirty_) {
    if (index >= header_.l1_size) continue;
    const uint64_t be = __builtin_bswap64(l1(index));
    AMBER_TRY(io::write_exact(*file_, header_.l1_table_offset + index * 8, &be, 8));
  }
  l1_dirty_.clear();
  return ok();
}

Result<void> Qcow2Image::write_back_metadata() {
  // A header write that failed may not have landed: write it again before
  // any table that depends on it (a moved refcount or L1 table, the size).
  if (header_stale_) AMBER_TRY(write_header_durably());
  // QEMU's order: refcounts, (flush), L2 slices, (flush), L1. The L2
  // cache's lock is never held across a flush or a write (write_back takes
  // it only to copy and to mark slices), so every queue's lookups go on
  // meanwhile; meta_, held, keeps the slices from changing.
  const bool ordered = !lazy_;
  const bool had_refcounts = refcounts_->dirty();
  AMBER_TRY(refcounts_->write_back(refcount_order()));
  size_t dirty_slices;
  {
    std::shared_lock cache_lock(l2_cache_->mutex());
    dirty_slices = l2_cache_->dirty_count();
  }
  if (dirty_slices != 0) {
    if (had_refcounts && ordered) AMBER_TRY(file_->flush());
    AMBER_TRY(l2_cache_->write_back());
  }
  if (!l1_dirty_.empty()) {
    AMBER_TRY(file_->flush());
    AMBER_TRY(write_l1_dirty());
  }
  return ok();
}

// Punches `ranges` (host offset, bytes) with one call per run of adjacent
// ranges: emptying an image punches thousands of neighbouring clusters, and
// each punch costs the file system milliseconds.
Result<void> Qcow2Image::punch_ranges(std::vector<std::pair<uint64_t, uint64_t>> ranges) {
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 0; i < ranges.size();) {
    uint64_t start = ranges[i].first, end = ranges[i].first + ranges[i].second;
    for (++i; i < ranges.size() && ranges[i].first <= end; ++i)
      end = std::max(end, ranges[i].first + ranges[i].second);
    AMBER_TRY(data_io().punch_hole(start, end - start));
  }
  return ok();
}

Result<void> Qcow2Image::punch_unmapped() {
  if (pending_reusable_punches_.empty()) return ok();
  AMBER_TRY(write_back_metadata());
  AMBER_TRY(file_->flush());
  auto punches = std::move(pending_reusable_punches_);
  pending_reusable_punches_.clear();
  return punch_ranges(std::move(punches));
}

Result<void> Qcow2Image::apply_pending_frees() {
  AMBER_TRY(punch_unmapped());
  if (pending_frees_.empty() && pending_punches_.empty()) return ok();
  // The tables that stopped referencing these clusters must be durable
  // before their data is punched and the refcounts drop (else a crash
  // could leave a reference to zeros or to a reused cluster).
  AMBER_TRY(file_->flush());
  auto punches = std::move(pending_punches_);
  pending_punches_.clear();
  AMBER_TRY(punch_ranges(std::move(punches)));
  auto frees = std::move(pending_frees_);
  pending_frees_.clear();
  for (auto [host, bytes] : frees) AMBER_TRY(refcounts_->update_range(host, bytes, -1));
  return ok();
}

Result<void> Qcow2Image::flush() {
  // Guest data first: metadata may point at it once written back.
  if (data_file_ && !read_only()) AMBER_TRY(data_file_->flush());
  if (read_only()) return file_->flush();
  {
    std::shared_lock rw(rw_);
    std::lock_guard meta(meta_);
    AMBER_TRY(write_back_metadata());
  }
  bool frees;
  {
    std::lock_guard meta(meta_);
    frees = !pending_frees_.empty() || !pending_punches_.empty();
  }
  if (frees) {
    // Readers may still be using a cluster we are about to free: wait them out.
    std::unique_lock rw(rw_);
    std::lock_guard meta(meta_);
    AMBER_TRY(write_back_metadata());
    AMBER_TRY(apply_pending_frees());
    AMBER_TRY(refcounts_->write_back(refcount_order()));
  }
  return file_->flush();
}

Result<void> Qcow2Image::maybe_write_back() {
  bool over;
  {
    std::shared_lock cache_lock(l2_cache_->mutex());
    over = l2_cache_->over_capacity();
  }
  if (over) AMBER_TRY(write_back_metadata());
  return ok();
}

Result<void> Qcow2Image::close() {
  if (closed_) return ok();
  closed_ = true;
  if (read_only()) return ok();
  AMBER_TRY(flush());
  if (dirty_set_by_us_) {
    header_.incompatible_features &= ~kIncompatDirty;
    AMBER_TRY(write_header());
    AMBER_TRY(file_->flush());
    dirty_set_by_us_ = false;
  }
  return ok();
}

Result<ImageInfo> Qcow2Image::info() {
  ImageInfo info;
  info.filename = file_->name();
  info.format = ImageFormat::kQcow2;
  info.virtual_size = header_.size;
  AMBER_TRY_ASSIGN(info.actual_size, file_->allocated_size());
  // As qemu-img 7.2: "disk size" is the qcow2 file's alone, not the data file's.
  info.cluster_size = cluster_size_;
  info.backing_filename = header_.backing_file;
  if (!header_.backing_file.empty())
    info.full_backing_filename = resolve_backing_path(file_->name(), header_.backing_file);
  info.backing_format = header_.backing_format;
  info.dirty = (header_.incompatible_features & kIncompatDirty) != 0;
  Qcow2Info q;
  q.version = header_.version;
  q.cluster_size = cluster_size_;
  q.refcount_bits = header_.refcount_bits();
  q.lazy_refcounts = lazy_;
  q.corrupt = (header_.incompatible_features & kIncompatCorrupt) != 0;
  q.extended_l2 = extended_;
  q.dirty = info.dirty;
  q.data_file = data_file_name_;
  q.has_data_file = external_;
  q.data_file_raw = (header_.autoclear_features & kAutoclearDataFileRaw) != 0;
  q.compression_type = compression_ == Compression::kZstd ? "zstd" : "zlib";
  q.crypt_method = header_.crypt_method;
  if (luks_) q.luks = crypto::luks_info(luks_->header());
  info.encrypted = encrypted();
  AMBER_TRY_ASSIGN(q.bitmaps, read_bitmap_list(*file_, header_));
  info.qcow2 = q;
  for (const auto& s : snapshots_) info.snapshots.push_back(s.info);
  return info;
}

Result<void> Qcow2Image::open_data_file() {
  const RawExtension* ext = nullptr;
  for (const RawExtension& e : header_.other_extensions)
    if (e.type == kExtDataFile) ext = &e;
  const bool flagged = (header_.incompatible_features & kIncompatDataFile) != 0;
  if (!flagged) {
    // QEMU ignores a stray name extension without the feature bit, but a
    // raw data file without a data file is an error there.
    if (header_.autoclear_features & kAutoclearDataFileRaw)
      return Error(ErrorKind::kInvalidArgument, "data-file-raw requires a data file");
    return ok();
  }
  if (header_.version < 3)
    return Error(ErrorKind::kCorrupt,
                 "'" + file_->name() + "': external data file bit set in a version 2 image");
  external_ = true;
  if (ext != nullptr) data_file_name_.assign(ext->data.begin(), ext->data.end());
  // qemu-img info shows the image without opening its data file.
  if (options_.metadata_only) return ok();
  if (ext == nullptr || ext->data.empty())
    return Error(ErrorKind::kInvalidArgument, "'data-file' is required for this image");
  std::string name(ext->data.begin(), ext->data.end());
  if (name.find('\0') != std::string::npos || name.size() > kMaxDataFileName)
    return Error(ErrorKind::kCorrupt, "'" + file_->name() + "': invalid external data file name");
  if (extended_)
    return Error(ErrorKind::kUnsupported,
                 "'" + file_->name() + "': extended L2 entries with an external data file");
  if (encrypted())
    return Error(ErrorKind::kUnsupported,
                 "'" + file_->name() + "': encryption with an external data file");
  // The data file shares the image's access, cache mode and locks (QEMU
  // opens it as the image's data child); a relative name is relative to
  // the working directory, as in QEMU 7.2.
  OpenOptions o = options_;
  auto opened = open_host_file(name, o);
  if (!opened.ok()) return std::move(opened).error();
  data_file_ = std::move(*opened);
  return ok();
}

Result<void> Qcow2Image::open_encryption() {
  if (header_.crypt_method == 1) return open_legacy_aes();
  const RawExtension* ext = nullptr;
  for (const RawExtension& e : header_.other_extensions)
    if (e.type == kExtCryptoHeader) ext = &e;
  if (ext == nullptr)
    return Error(ErrorKind::kCorrupt,
                 "Could not read encryption header: the full disk "
                 "encryption header extension is missing");
  if (ext->data.size() != 16)
    return Error(ErrorKind::kCorrupt, "Unable to read CRYPTO header extension");
  const uint64_t offset = load_be64(ext->data.data());
  const uint64_t length = load_be64(ext->data.data() + 8);
  if (offset % cluster_size_ != 0)
    return Error(ErrorKind::kCorrupt, "Encryption header offset '" + std::to_string(offset) +
                                          "' is not a multiple of cluster size '" +
                                          std::to_string(cluster_size_) + "'");
  AMBER_TRY_ASSIGN(uint64_t file_size, file_->size());
  if (offset == 0 || offset > file_size || length > file_size - offset)
    return Error(ErrorKind::kCorrupt, "Encryption header length '" + std::to_string(length) +
                                          "' at offset '" + std::to_string(offset) +
                                          "' is beyond the end of the file");
  // The LUKS area must not share bytes with the tables Amber writes: an
  // amend of its key slots would overwrite them (QEMU does not check this).
  auto overlaps = [&](uint64_t at, uint64_t bytes) {
    return bytes != 0 && offset < at + bytes && at < offset + length;
  };
  if (overlaps(header_.l1_table_offset, uint64_t{header_.l1_size} * 8))
    return Error(ErrorKind::kCorrupt, "Encryption header at offset '" + std::to_string(offset) +
                                          "' overlaps the L1 table");
  if (overlaps(header_.refcount_table_offset,
               uint64_t{header_.refcount_table_clusters} * cluster_size_))
    return Error(ErrorKind::kCorrupt, "Encryption header at offset '" + std::to_string(offset) +
                                          "' overlaps the refcount table");
  if (!options_.passphrase && !options_.metadata_only)
    return Error(ErrorKind::kInvalidArgument,
                 "Parameter 'encrypt.key-secret' is required for cipher");
  AMBER_TRY_ASSIGN(
      luks_, crypto::LuksVolume::open(*file_, offset, length,
                                      options_.passphrase ? options_.passphrase.get() : nullptr));
  luks_offset_ = offset;
  cipher_ = luks_->cipher();
  return ok();
}

// QEMU's qcrypto_block_qcow_init: the key is the passphrase's first 16
// bytes (up to its first NUL), zero padded; AES-128-CBC with plain64 IVs
// numbered by guest offset. There is no key check: a wrong passphrase
// reads garbage, as with qemu-img.
Result<void> Qcow2Image::open_legacy_aes() {
  crypt_physical_offset_ = false;
  if (!options_.passphrase) {
    if (options_.metadata_only) return ok();
    return Error(ErrorKind::kInvalidArgument,
                 "Parameter 'encrypt.key-secret' is required for cipher");
  }
  crypto::SecretBytes key(16);
  const crypto::SecretBytes& pass = *options_.passphrase;
  for (size_t i = 0; i < pass.size() && i < 16 && pass.data()[i] != 0; ++i)
    key.data()[i] = pass.data()[i];
  crypto::CipherSpec spec;
  spec.alg = crypto::CipherAlg::kAes128;
  spec.mode = crypto::CipherMode::kCbc;
  spec.ivgen = crypto::IvGenAlg::kPlain64;
  AMBER_TRY_ASSIGN(aes_cipher_, crypto::SectorCipher::make(spec, key.span()));
  cipher_ = aes_cipher_.get();
  return ok();
}

Result<void> Qcow2Image::set_up_encryption(const EncryptOptions& options) {
  if (!options.passphrase)
    return Error(ErrorKind::kInvalidArgument,
                 "Parameter 'encrypt.key-secret' is required for cipher");
  if (options.legacy_aes) {
    {
      std::unique_lock meta(meta_);
      header_.crypt_method = 1;
      AMBER_TRY(write_header_durably());
    }
    // A new image holds no data yet; it is reopened with its key to write.
    return ok();
  }
  crypto::LuksCreateOptions lo;
  lo.params.cipher = options.cipher;
  lo.params.hash = options.hash;
  lo.iter_time_ms = options.iter_time_ms;
  AMBER_TRY_ASSIGN(uint64_t area, crypto::LuksVolume::area_size(lo.params));
  std::unique_lock meta(meta_);
  const uint64_t clusters = div_round_up(area, cluster_size_);
  AMBER_TRY_ASSIGN(uint64_t offset, allocate_clusters(clusters));
  AMBER_TRY(write_back_metadata());
  AMBER_TRY(file_->write_zeroes(offset, clusters * cluster_size_));
  AMBER_TRY_ASSIGN(luks_, crypto::LuksVolume::create(*file_, offset, lo, *options.passphrase));
  luks_offset_ = offset;
  cipher_ = luks_->cipher();
  RawExtension ext;
  ext.type = kExtCryptoHeader;
  ext.data.resize(16);
  store_be64(ext.data.data(), offset);
  store_be64(ext.data.data() + 8, luks_->payload_bytes());
  header_.other_extensions.insert(header_.other_extensions.begin(), ext);
  header_.crypt_method = 2;
  return write_header_durably();
}

Result<std::unique_ptr<Image>> open_on_file(std::unique_ptr<io::File> file,
                                            const OpenOptions& options, unsigned depth) {
  AMBER_TRY_ASSIGN(auto image, Qcow2Image::open(std::move(file), options, depth));
  return std::unique_ptr<Image>(std::move(image));
}

Result<std::unique_ptr<Image>> open(std::unique_ptr<io::File> file, const OpenOptions& options,
                                    unsigned depth) {
  return open_on_file(std::move(file), options, depth);
}

}  // namespace amber::block::qcow2
