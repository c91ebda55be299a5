// SPDX-License-Identifier: GPL-2.0-or-later
// qcow2 bitmap directory reader: see bitmap.h. Limits and messages follow
// QEMU 7.2 (block/qcow2.c qcow2_read_extensions, block/qcow2-bitmap.c).
#include "block/qcow2/bitmap.h"

#include "block/qcow2/format.h"

namespace amber::block::qcow2 {
namespace {

// The extension is nb_bitmaps, reserved32, directory size and offset.
constexpr uint32_t kBitmapExtensionBytes = 24;
// QEMU's QCOW2_MAX_BITMAPS and QCOW2_MAX_BITMAP_DIRECTORY_SIZE.
constexpr uint32_t kMaxBitmaps = 65535;
constexpr uint64_t kMaxBitmapDirectoryBytes = 1024ull * kMaxBitmaps;
// A directory entry's fixed part: table offset (8), table size (4),
// flags (4), type, granularity bits, name size (2), extra data size (4).
constexpr uint64_t kEntryFixedBytes = 24;
// Bitmap names are at most 1023 bytes (BDRV_BITMAP_MAX_NAME_SIZE).
constexpr uint32_t kMaxBitmapNameBytes = 1023;
// Granularity is 512 B .. 2 GiB (QEMU's BME_{MIN,MAX}_GRANULARITY_BITS).
constexpr unsigned kMinGranularityBits = 9;
constexpr unsigned kMaxGranularityBits = 31;
constexpr uint8_t kDirtyTrackingType = 1;
constexpr uint32_t kFlagInUse = 1u << 0;
constexpr uint32_t kFlagAuto = 1u << 1;

Error corrupt(std::string message) {
  return Error(ErrorKind::kCorrupt, std::move(message));
}

}  // namespace

Result<std::vector<BitmapInfo>> read_bitmap_list(io::File& file, const Header& header) {
  const RawExtension* extension = nullptr;
  for (const auto& e : header.other_extensions)
    if (e.type == kExtBitmaps) extension = &e;
  std::vector<BitmapInfo> bitmaps;
  if (extension == nullptr) return bitmaps;
  if (extension->data.size() != kBitmapExtensionBytes)
    return corrupt("bitmaps_ext: Invalid extension length");
  if ((header.autoclear_features & kAutoclearBitmaps) == 0) return bitmaps;
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
  AMBER_TRY_ASSIGN(uint64_t file_size, file.size());
  if (directory_offset > file_size || directory_bytes > file_size - directory_offset)
    return corrupt("Broken bitmap directory");
  // Bounded by kMaxBitmapDirectoryBytes (64 MiB) above.
  std::vector<uint8_t> directory(static_cast<size_t>(directory_bytes));
  AMBER_TRY(io::read_exact(file, directory_offset, directory.data(), directory.size()));
  uint64_t at = 0;
  while (at < directory.size()) {
    if (directory.size() - at < kEntryFixedBytes) return corrupt("Broken bitmap directory");
    const uint8_t* entry = directory.data() + at;
    const uint32_t flags = load_be32(entry + 12);
    const uint8_t type = entry[16];
    const unsigned granularity_bits = entry[17];
    const uint16_t name_bytes = load_be16(entry + 18);
    const uint32_t extra_bytes = load_be32(entry + 20);
    const uint64_t entry_bytes = align_up(kEntryFixedBytes + uint64_t{extra_bytes} + name_bytes, 8);
    if (entry_bytes > directory.size() - at) return corrupt("Broken bitmap directory");
    const std::string name(reinterpret_cast<const char*>(entry + kEntryFixedBytes + extra_bytes),
                           name_bytes);
    if (type != kDirtyTrackingType || granularity_bits < kMinGranularityBits ||
        granularity_bits > kMaxGranularityBits || name_bytes == 0 ||
        name_bytes > kMaxBitmapNameBytes)
      return corrupt("Bitmap '" + name + "' doesn't satisfy the constraints");
    if (extra_bytes != 0) return corrupt("Bitmap extra data is not supported");
    if (bitmaps.size() == count) return corrupt("More bitmaps found than specified in header");
    BitmapInfo info;
    info.name = name;
    info.granularity = uint64_t{1} << granularity_bits;
    info.in_use = (flags & kFlagInUse) != 0;
    info.auto_enabled = (flags & kFlagAuto) != 0;
    bitmaps.push_back(std::move(info));
    at += entry_bytes;
  }
  if (bitmaps.size() != count) return corrupt("Less bitmaps than expected");
  return bitmaps;
}

}  // namespace amber::block::qcow2
