// SPDX-License-Identifier: GPL-2.0-or-later
// qcow2 persistent dirty bitmaps: the bitmap directory that header
// extension 0x23852875 points to (parsed and bounds-checked as QEMU 7.2's
// block/qcow2-bitmap.c does), the bitmap tables and data clusters, and the
// in-memory form `amber-img bitmap` and `convert --bitmaps` edit.
// A read-write open for guest I/O clears the bitmaps autoclear bit
// (image.cpp), which tells QEMU they are stale; OpenOptions::keep_bitmaps
// keeps it for the tools that maintain the bitmaps themselves
// (Qcow2Image::load_bitmaps / store_bitmaps, bitmap_ops.cpp).
//
// Thread-safety: free functions and plain values; they read `file` only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "block/image.h"
#include "block/io/file.h"
#include "block/qcow2/header.h"
#include "common/result.h"

namespace amber::block::qcow2 {

inline constexpr uint32_t kBitmapFlagInUse = 1u << 0;
inline constexpr uint32_t kBitmapFlagAuto = 1u << 1;
// QEMU's QCOW2_MAX_BITMAPS and QCOW2_MAX_BITMAP_DIRECTORY_SIZE.
inline constexpr uint32_t kMaxBitmaps = 65535;
inline constexpr uint64_t kMaxBitmapDirectoryBytes = 1024ull * kMaxBitmaps;
// Bitmap names are at most 1023 bytes (BME_MAX_NAME_SIZE).
inline constexpr uint32_t kMaxBitmapNameBytes = 1023;
// Granularity is 512 B .. 2 GiB (BME_{MIN,MAX}_GRANULARITY_BITS).
inline constexpr unsigned kMinGranularityBits = 9;
inline constexpr unsigned kMaxGranularityBits = 31;
// BME_MAX_TABLE_SIZE (entries) and BME_MAX_PHYS_SIZE (bytes of data).
inline constexpr uint64_t kMaxBitmapTableEntries = 0x8000000;
inline constexpr uint64_t kMaxBitmapPhysBytes = 0x20000000;

// One directory entry, and (when loaded) its bits.
struct StoredBitmap {
  std::string name;
  unsigned granularity_bits = 16;
  uint32_t flags = 0;         // kBitmapFlagInUse / kBitmapFlagAuto
  uint64_t table_offset = 0;  // on disk; 0 for a bitmap not stored yet
  uint32_t table_size = 0;    // entries
  // One bit per granule of the virtual disk, LSB first in each byte (QEMU's
  // serialization); bits past the last granule are zero. Empty for an
  // in-use bitmap (its data is unusable and never read).
  std::vector<uint8_t> bits;
  // store_bitmaps writes `bits` as new data (else the table stays).
  bool rewrite = false;

  bool in_use() const { return (flags & kBitmapFlagInUse) != 0; }
  bool enabled() const { return (flags & kBitmapFlagAuto) != 0; }
  uint64_t granularity() const { return uint64_t{1} << granularity_bits; }
};

// The directory as the header extension describes it.
struct BitmapDirectory {
  uint64_t offset = 0;
  uint64_t bytes = 0;
  std::vector<StoredBitmap> bitmaps;  // no bits
};

// The directory of `header`'s extension, every entry checked as QEMU's
// bitmap_list_load / check_dir_entry do against `disk_size` (the virtual
// size); empty without the extension or without the bitmaps autoclear bit
// (QEMU then treats them as inconsistent and lists none). A malformed
// extension or directory is kCorrupt with QEMU's wording.
Result<BitmapDirectory> read_bitmap_directory(io::File& file, const Header& header,
                                              uint64_t disk_size);

// The bitmaps for `info` (name, granularity, flags), in directory order.
Result<std::vector<BitmapInfo>> read_bitmap_list(io::File& file, const Header& header);

// Bytes of `bits` for a bitmap of granularity 2^bits over `disk_size`.
uint64_t bitmap_bytes(uint64_t disk_size, unsigned granularity_bits);
// Entries of its bitmap table with `cluster_size` clusters.
uint64_t bitmap_table_entries(uint64_t disk_size, unsigned granularity_bits, uint64_t cluster_size);

// QEMU's hbitmap merge: every byte range `src` marks dirty is marked in
// `dst` (granularities may differ; the disk sizes are the same).
void merge_bitmap_bits(StoredBitmap& dst, const StoredBitmap& src, uint64_t disk_size);

}  // namespace amber::block::qcow2
