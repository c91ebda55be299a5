// SPDX-License-Identifier: GPL-2.0-or-later
// qcow2 bitmap directory reader and bit helpers: see bitmap.h. Limits and
// messages follow QEMU 7.2 (block/qcow2.c qcow2_read_extensions,
// block/qcow2-bitmap.c bitmap_list_load and check_dir_entry).
#include "block/qcow2/bitmap.h"

#include <algorithm>

#include "block/qcow2/format.h"

namespace amber::block::qcow2 {
namespace {

// The extension is nb_bitmaps, reserved32, directory size and offset.
constexpr uint32_t kBitmapExtensionBytes = 24;
// A directory entry's fixed part: table offset (8), table size (4),
// flags (4), type, granularity bits, name size (2), extra data size (4).
constexpr uint64_t kEntryFixedBytes = 24;
constexpr uint8_t kDirtyTrackingType = 1;
constexpr uint32_t kReservedFlags = ~(kBitmapFlagInUse | kBitmapFlagAuto);

Error corrupt(std::string message) {
  return Error(ErrorKind::kCorrupt, std::move(message));
}

// check_dir_entry: whether the entry is one QEMU accepts.
bool entry_ok(uint64_t table_offset, uint32_t table_size, uint32_t flags, uint8_t type,
              unsigned granularity_bits, uint32_t name_bytes, uint64_t cluster_size,
              uint64_t disk_size) {
  if (table_size == 0 || table_offset == 0 || table_offset % cluster_size != 0 ||
      table_size > kMaxBitmapTableEntries || granularity_bits > kMaxGranularityBits ||
      granularity_bits < kMinGranularityBits || (flags & kReservedFlags) != 0 ||
      name_bytes > kMaxBitmapNameBytes || type != kDirtyTrackingType)
    return false;
  const uint64_t phys = uint64_t{table_size} * cluster_size;
  if (phys > kMaxBitmapPhysBytes) return false;
  // A consistent bitmap's table must cover the disk (granularity <= 31
  // and phys <= 2^29 keep the product below 2^63).
  if ((flags & kBitmapFlagInUse) == 0 && disk_size > ((phys * 8) << granularity_bits)) return false;
  return true;
}

}  // namespace

uint64_t bitmap_bytes(uint64_t disk_size, unsigned granularity_bits) {
  const uint64_t granules = div_round_up(disk_size, uint64_t{1} << granularity_bits);
  return div_round_up(granules, 8);
}

uint64_t bitmap_table_entries(uint64_t disk_size, unsigned granularity_bits,
                              uint64_t cluster_size) {
  const uint64_t granules = div_round_up(disk_size, uint64_t{1} << granularity_bits);
  return div_round_up(granules, cluster_size * 8);
}

void merge_bitmap_bits(StoredBitmap& dst, const StoredBitmap& src, uint64_t disk_size) {
  const uint64_t src_gran = src.granularity();
  const uint64_t dst_gran = dst.granularity();
  dst.bits.resize(bitmap_bytes(disk_size, dst.granularity_bits), 0);
  const uint64_t src_granules = div_round_up(disk_size, src_gran);
  const uint64_t dst_granules = div_round_up(disk_size, dst_gran);
  for (uint64_t byte = 0; byte < src.bits.size(); ++byte) {
    if (src.bits[byte] == 0) continue;
    for (unsigned b = 0; b < 8; ++b) {
      const uint64_t i = byte * 8 + b;
      if (i >= src_granules || (src.bits[byte] & (1u << b)) == 0) continue;
      const uint64_t first = i * src_gran / dst_gran;
      const uint64_t last = std::min(((i + 1) * src_gran - 1) / dst_gran, dst_granules - 1);
      for (uint64_t k = first; k <= last; ++k) dst.bits[k / 8] |= uint8_t(1u << (k % 8));
    }
  }
}

Result<BitmapDirectory> read_bitmap_directory(io::File& file, const Header& header,
                                              uint64_t disk_size) {
  const RawExtension* extension = nullptr;
  for (const auto& e : header.other_extensions)
    if (e.type == kExtBitmaps) extension = &e;
  BitmapDirectory dir;
  if (extension == nullptr) return dir;
  if (extension->data.size() != kBitmapExtensionBytes)
    return corrupt("bitmaps_ext: Invalid extension length");
  if ((header.autoclear_features & kAutoclearBitmaps) == 0) return dir;
  const uint8_t* ext = extension->data.data();
  const uint32_t count = load_be32(ext);
  if (load_be32(ext + 4) != 0) return corrupt("bitmaps_ext: Reserved field is not zero");
  const uint64_t directory_bytes = load_be64(ext + 8);
  const uint64_t directory_offset = load_be64(ext + 16);
  if (count > kMaxBitmaps)
    return corrupt("bitmaps_ext: Image has " + std::to_string(count) +
                   " bitmaps, exceeding the QEMU supported maximum of " +
                   std::to_string(kMaxBitmaps));
  if (count == 0) return corrupt("found bitmaps extension with zero bitmaps");
  if (directory_offset % header.cluster_size() != 0)
    return corrupt("bitmaps_ext: invalid bitmap directory offset");
  if (directory_bytes > kMaxBitmapDirectoryBytes)
    return corrupt("bitmaps_ext: bitmap directory size (" + std::to_string(directory_bytes) +
                   ") exceeds the maximum supported size (" +
                   std::to_string(kMaxBitmapDirectoryBytes) + ")");
  if (directory_bytes == 0) return corrupt("Requested bitmap directory size is zero");
  AMBER_TRY_ASSIGN(uint64_t file_size, file.size());
  // Bounded by kMaxBitmapDirectoryBytes (64 MiB) above. What lies past
  // the end of the file reads as zeros, as QEMU's file protocol reads it.
  std::vector<uint8_t> directory(static_cast<size_t>(directory_bytes), 0);
  if (directory_offset < file_size) {
    const uint64_t present = std::min(directory_bytes, file_size - directory_offset);
    AMBER_TRY(io::read_exact(file, directory_offset, directory.data(), present));
  }
  dir.offset = directory_offset;
  dir.bytes = directory_bytes;
  uint64_t at = 0;
  while (at < directory.size()) {
    if (directory.size() - at < kEntryFixedBytes) return corrupt("Broken bitmap directory");
    if (dir.bitmaps.size() == count)
      return corrupt("More bitmaps found than specified in header extension");
    const uint8_t* entry = directory.data() + at;
    const uint64_t table_offset = load_be64(entry);
    const uint32_t table_size = load_be32(entry + 8);
    const uint32_t flags = load_be32(entry + 12);
    const uint8_t type = entry[16];
    const unsigned granularity_bits = entry[17];
    const uint16_t name_bytes = load_be16(entry + 18);
    const uint32_t extra_bytes = load_be32(entry + 20);
    const uint64_t entry_bytes = align_up(kEntryFixedBytes + uint64_t{extra_bytes} + name_bytes, 8);
    if (entry_bytes > directory.size() - at) return corrupt("Broken bitmap directory");
    if (extra_bytes != 0) return corrupt("Bitmap extra data is not supported");
    const std::string name(reinterpret_cast<const char*>(entry + kEntryFixedBytes), name_bytes);
    if (!entry_ok(table_offset, table_size, flags, type, granularity_bits, name_bytes,
                  header.cluster_size(), disk_size))
      return corrupt("Bitmap '" + name + "' doesn't satisfy the constraints");
    StoredBitmap bm;
    bm.name = name;
    bm.granularity_bits = granularity_bits;
    bm.flags = flags;
    bm.table_offset = table_offset;
    bm.table_size = table_size;
    dir.bitmaps.push_back(std::move(bm));
    at += entry_bytes;
  }
  if (dir.bitmaps.size() != count)
    return corrupt("Less bitmaps found than specified in header extension");
  return dir;
}

Result<std::vector<BitmapInfo>> read_bitmap_list(io::File& file, const Header& header) {
  AMBER_TRY_ASSIGN(BitmapDirectory dir, read_bitmap_directory(file, header, header.size));
  std::vector<BitmapInfo> bitmaps;
  for (const auto& bm : dir.bitmaps) {
    BitmapInfo info;
    info.name = bm.name;
    info.granularity = bm.granularity();
    info.in_use = bm.in_use();
    info.auto_enabled = bm.enabled();
    bitmaps.push_back(std::move(info));
  }
  return bitmaps;
}

}  // namespace amber::block::qcow2
