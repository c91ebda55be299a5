// SPDX-License-Identifier: GPL-2.0-or-later
// Qcow2Image: persistent dirty bitmaps loaded and stored (bitmap.h).
// store_bitmaps follows QEMU 7.2's qcow2_store_persistent_dirty_bitmaps and
// update_ext_header_and_dir: new data clusters and tables first, then a new
// directory, flushed, then the header switch (extension + autoclear bit),
// flushed, and only then are the old directory and the tables nobody names
// any more freed. A crash leaks clusters at worst; the header never names
// a directory or table that is not on disk.
//
// Thread-safety: each call takes rw_ and meta_ exclusively; the caller runs
// no I/O on the image meanwhile.
#include <algorithm>
#include <cerrno>
#include <set>

#include "block/qcow2/bitmap.h"
#include "block/qcow2/format.h"
#include "block/qcow2/image.h"
#include "block/qcow2/qcow2.h"

namespace amber::block::qcow2 {
namespace {

constexpr uint64_t kTableReservedMask = 0xff000000000001feull;
constexpr uint64_t kTableOffsetMask = 0x00fffffffffffe00ull;
constexpr uint64_t kTableAllOnes = 1;
constexpr uint64_t kEntryFixedBytes = 24;

Error invalid(std::string message) {
  return Error(ErrorKind::kCorrupt, std::move(message) + ": Invalid argument", EINVAL);
}

bool table_entry_ok(uint64_t entry, uint64_t cluster_size) {
  if (entry & kTableReservedMask) return false;
  const uint64_t offset = entry & kTableOffsetMask;
  if (offset != 0 && ((entry & kTableAllOnes) != 0 || offset % cluster_size != 0)) return false;
  return true;
}

// Reads [offset, offset + bytes) where what lies past the file's end is
// zeros (as QEMU's pread of the file protocol).
Result<void> read_zero_padded(io::File& file, uint64_t offset, uint8_t* out, uint64_t bytes) {
  std::fill(out, out + bytes, 0);
  AMBER_TRY_ASSIGN(uint64_t size, file.size());
  if (offset >= size) return ok();
  return io::read_exact(file, offset, out, std::min(bytes, size - offset));
}

}  // namespace

Result<std::vector<uint64_t>> Qcow2Image::read_bitmap_table(const StoredBitmap& bm) {
  // table_size * cluster_size <= 512 MiB (checked with the directory).
  std::vector<uint64_t> table(bm.table_size);
  AMBER_TRY(read_zero_padded(*file_, bm.table_offset, reinterpret_cast<uint8_t*>(table.data()),
                             table.size() * 8));
  for (auto& e : table) {
    e = __builtin_bswap64(e);
    if (!table_entry_ok(e, cluster_size_))
      return invalid("Could not read bitmap_table table from image for bitmap '" + bm.name + "'");
  }
  return table;
}

Result<std::vector<StoredBitmap>> Qcow2Image::load_bitmaps() {
  std::unique_lock rw(rw_);
  AMBER_TRY_ASSIGN(BitmapDirectory dir, read_bitmap_directory(*file_, header_, header_.size));
  for (auto& bm : dir.bitmaps) {
    if (bm.in_use()) continue;  // unusable: never read (QEMU's load_bitmap)
    AMBER_TRY_ASSIGN(std::vector<uint64_t> table, read_bitmap_table(bm));
    if (table.size() != bitmap_table_entries(header_.size, bm.granularity_bits, cluster_size_))
      return invalid("Could not read bitmap '" + bm.name + "' from image");
    bm.bits.assign(bitmap_bytes(header_.size, bm.granularity_bits), 0);
    for (uint64_t i = 0; i < table.size(); ++i) {
      const uint64_t at = i * cluster_size_;
      const uint64_t n = std::min<uint64_t>(cluster_size_, bm.bits.size() - at);
      const uint64_t data = table[i] & kTableOffsetMask;
      if (data != 0) {
        AMBER_TRY(read_zero_padded(*file_, data, bm.bits.data() + at, n));
      } else if (table[i] & kTableAllOnes) {
        std::fill(bm.bits.begin() + at, bm.bits.begin() + at + n, 0xff);
      }
    }
    // Bits past the last granule are not part of the bitmap.
    const uint64_t granules = div_round_up(header_.size, bm.granularity());
    if (granules % 8 != 0 && !bm.bits.empty())
      bm.bits.back() &= uint8_t((1u << (granules % 8)) - 1);
  }
  return std::move(dir.bitmaps);
}

Result<void> Qcow2Image::store_bitmaps(std::vector<StoredBitmap>& bitmaps) {
  if (read_only()) return Error(ErrorKind::kReadOnly, "No write access", EACCES);
  if (header_.version < 3)
    return Error(ErrorKind::kUnsupported, "Cannot store dirty bitmaps in qcow2 v2 files", ENOTSUP);
  std::unique_lock rw(rw_);
  std::unique_lock meta(meta_);
  AMBER_TRY(write_back_metadata());
  AMBER_TRY(apply_pending_frees());
  AMBER_TRY_ASSIGN(BitmapDirectory old, read_bitmap_directory(*file_, header_, header_.size));
  if (bitmaps.size() > kMaxBitmaps)
    return Error(ErrorKind::kInvalidArgument, "Too many persistent bitmaps", EINVAL);
  uint64_t dir_bytes = 0;
  for (const auto& bm : bitmaps) dir_bytes += align_up(kEntryFixedBytes + bm.name.size(), 8);
  if (dir_bytes > kMaxBitmapDirectoryBytes)
    return Error(ErrorKind::kInvalidArgument, "Bitmap directory is too large", EINVAL);

  std::vector<std::pair<uint64_t, uint64_t>> allocated;  // freed again on failure
  auto abandon = [&](Error e) -> Error {
    for (const auto& [offset, bytes] : allocated) (void)refcounts_->update_range(offset, bytes, -1);
    (void)refcounts_->write_back(WriteBackOrder::kFlushBeforeTable);
    return e;
  };
  auto place = [&](uint64_t bytes) -> Result<uint64_t> {
    AMBER_TRY_ASSIGN(uint64_t offset, allocate_clusters(div_round_up(bytes, cluster_size_)));
    allocated.push_back({offset, align_up(bytes, cluster_size_)});
    return offset;
  };
  // 1. Data clusters and tables of the bitmaps with new contents.
  for (auto& bm : bitmaps) {
    if (!bm.rewrite) continue;
    const uint64_t entries = bitmap_table_entries(header_.size, bm.granularity_bits, cluster_size_);
    if (entries > kMaxBitmapTableEntries || entries * cluster_size_ > kMaxBitmapPhysBytes)
      return abandon(
          Error(ErrorKind::kInvalidArgument, "Bitmap '" + bm.name + "' is too big", EINVAL));
    bm.bits.resize(bitmap_bytes(header_.size, bm.granularity_bits), 0);
    std::vector<uint64_t> table(entries, 0);
    std::vector<uint8_t> cluster(cluster_size_);
    for (uint64_t i = 0; i < entries; ++i) {
      const uint64_t at = i * cluster_size_;
      const uint64_t n = std::min<uint64_t>(cluster_size_, bm.bits.size() - at);
      const auto first = bm.bits.begin() + at;
      if (std::all_of(first, first + n, [](uint8_t b) { return b == 0; })) continue;
      auto offset = place(cluster_size_);
      if (!offset.ok()) return abandon(std::move(offset).error());
      std::fill(cluster.begin(), cluster.end(), 0);
      std::copy(first, first + n, cluster.begin());
      if (auto w = io::write_exact(*file_, *offset, cluster.data(), cluster.size()); !w.ok())
        return abandon(std::move(w).error());
      table[i] = *offset;
    }
    auto table_offset = place(entries * 8);
    if (!table_offset.ok()) return abandon(std::move(table_offset).error());
    std::vector<uint64_t> be(div_round_up(entries * 8, cluster_size_) * cluster_size_ / 8, 0);
    for (uint64_t i = 0; i < entries; ++i) be[i] = __builtin_bswap64(table[i]);
    if (auto w = io::write_exact(*file_, *table_offset, be.data(), be.size() * 8); !w.ok())
      return abandon(std::move(w).error());
    bm.table_offset = *table_offset;
    bm.table_size = static_cast<uint32_t>(entries);
    bm.flags &= ~kBitmapFlagInUse;
  }
  // 2. The new directory.
  uint64_t dir_offset = 0;
  if (!bitmaps.empty()) {
    std::vector<uint8_t> dir(dir_bytes, 0);
    uint64_t at = 0;
    for (const auto& bm : bitmaps) {
      uint8_t* e = dir.data() + at;
      store_be64(e, bm.table_offset);
      store_be32(e + 8, bm.table_size);
      store_be32(e + 12, bm.flags);
      e[16] = 1;  // dirty tracking
      e[17] = static_cast<uint8_t>(bm.granularity_bits);
      store_be16(e + 18, static_cast<uint16_t>(bm.name.size()));
      std::copy(bm.name.begin(), bm.name.end(), e + kEntryFixedBytes);
      at += align_up(kEntryFixedBytes + bm.name.size(), 8);
    }
    auto placed = place(dir_bytes);
    if (!placed.ok()) return abandon(std::move(placed).error());
    dir_offset = *placed;
    std::vector<uint8_t> padded(dir);
    padded.resize(align_up(dir.size(), cluster_size_), 0);
    if (auto w = io::write_exact(*file_, dir_offset, padded.data(), padded.size()); !w.ok())
      return abandon(std::move(w).error());
  }
  Result<void> step = refcounts_->write_back(WriteBackOrder::kFlushBeforeTable);
  if (step.ok()) step = file_->flush();
  if (!step.ok()) return abandon(std::move(step).error());
  // 3. The header switch.
  const Header before = header_;
  auto& exts = header_.other_extensions;
  exts.erase(std::remove_if(exts.begin(), exts.end(),
                            [](const RawExtension& e) { return e.type == kExtBitmaps; }),
             exts.end());
  if (bitmaps.empty()) {
    header_.autoclear_features &= ~kAutoclearBitmaps;
  } else {
    RawExtension ext;
    ext.type = kExtBitmaps;
    ext.data.assign(24, 0);
    store_be32(ext.data.data(), static_cast<uint32_t>(bitmaps.size()));
    store_be64(ext.data.data() + 8, dir_bytes);
    store_be64(ext.data.data() + 16, dir_offset);
    exts.push_back(std::move(ext));
    header_.autoclear_features |= kAutoclearBitmaps;
  }
  if (auto w = write_header_durably(); !w.ok()) {
    header_ = before;
    header_stale_ = true;  // the old header goes back on the next write-back
    return abandon(std::move(w).error());
  }
  // 4. What nothing names any more.
  std::set<uint64_t> kept;
  for (const auto& bm : bitmaps) kept.insert(bm.table_offset);
  Result<void> freed = ok();
  if (old.bytes != 0) freed = refcounts_->update_range(old.offset, old.bytes, -1);
  for (const auto& bm : old.bitmaps) {
    if (!freed.ok()) break;
    if (kept.count(bm.table_offset) != 0) continue;
    auto table = read_bitmap_table(bm);
    if (!table.ok()) continue;  // a broken old table only leaks
    for (uint64_t e : *table)
      if ((e & kTableOffsetMask) != 0 && freed.ok())
        freed = refcounts_->update_range(e & kTableOffsetMask, cluster_size_, -1);
    if (freed.ok())
      freed = refcounts_->update_range(bm.table_offset, uint64_t{bm.table_size} * 8, -1);
  }
  AMBER_TRY(std::move(freed));
  AMBER_TRY(refcounts_->write_back(WriteBackOrder::kFlushBeforeTable));
  return file_->flush();
}

Result<std::vector<StoredBitmap>> load_bitmaps(Image& image) {
  auto* q = dynamic_cast<Qcow2Image*>(&image);
  if (q == nullptr) return std::vector<StoredBitmap>{};
  return q->load_bitmaps();
}

Result<void> store_bitmaps(Image& image, std::vector<StoredBitmap>& bitmaps) {
  auto* q = dynamic_cast<Qcow2Image*>(&image);
  if (q == nullptr) return Error(ErrorKind::kUnsupported, "Operation not supported", ENOTSUP);
  return q->store_bitmaps(bitmaps);
}

}  // namespace amber::block::qcow2
