// SPDX-License-Identifier: GPL-2.0-or-later
// qcow2 on-disk constants, QEMU's validation limits and big-endian helpers.
// doc/qcow2-format.md gives the facts behind them (section 11: the limits).
//
// Thread-safety: constants and pure functions only.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace amber::block::qcow2 {

// Cluster sizes QEMU accepts: 512 B (cluster_bits 9) to 2 MiB (21).
inline constexpr uint32_t kMinClusterBits = 9;
inline constexpr uint32_t kMaxClusterBits = 21;
// Extended L2 needs 32 subclusters of at least 512 B: 16 KiB clusters.
inline constexpr uint32_t kMinExtendedL2ClusterBits = 14;
inline constexpr uint32_t kSubclustersPerCluster = 32;
// QEMU's QCOW_MAX_L1_SIZE: 32 MiB of L1 (4 M entries); caps the allocation.
inline constexpr uint64_t kMaxL1Bytes = 32ull << 20;
// QEMU's QCOW_MAX_REFTABLE_SIZE: 8 MiB of refcount table.
inline constexpr uint64_t kMaxRefcountTableBytes = 8ull << 20;
// QEMU's QCOW_MAX_SNAPSHOTS and snapshot table / extra-data bounds.
inline constexpr uint32_t kMaxSnapshots = 65536;
inline constexpr uint64_t kMaxSnapshotTableBytes = 64ull << 20;
inline constexpr uint32_t kMaxSnapshotExtraData = 1024;
// Host offsets are 56-bit in every table entry (QCOW_MAX_CLUSTER_OFFSET).
inline constexpr uint64_t kMaxHostOffset = (1ull << 56) - 1;
// The spec limits the backing file name to 1023 bytes.
inline constexpr uint32_t kMaxBackingNameBytes = 1023;
// Longest external data file name we accept (PATH_MAX - 1).
inline constexpr uint64_t kMaxDataFileName = 4095;
// Default L2 cache cap, as QEMU on Linux.
inline constexpr uint64_t kDefaultL2CacheMax = 32ull << 20;
// L2 slices are 4 KiB (QEMU's default l2-cache-entry-size) or a cluster.
inline constexpr uint64_t kL2SliceBytes = 4096;
// Compressed data is counted in 512-byte sectors.
inline constexpr uint64_t kCompressedSectorSize = 512;
// Feature-name table entries are 48 bytes (u8 type, u8 bit, 46 B name).
inline constexpr uint32_t kFeatureNameEntryBytes = 48;

// Header extension types.
inline constexpr uint32_t kExtEnd = 0;
inline constexpr uint32_t kExtBackingFormat = 0xE2792ACA;
inline constexpr uint32_t kExtFeatureTable = 0x6803F857;
inline constexpr uint32_t kExtBitmaps = 0x23852875;
inline constexpr uint32_t kExtCryptoHeader = 0x0537BE77;
inline constexpr uint32_t kExtDataFile = 0x44415441;

// Feature bits.
inline constexpr uint64_t kIncompatDirty = 1ull << 0;
inline constexpr uint64_t kIncompatCorrupt = 1ull << 1;
inline constexpr uint64_t kIncompatDataFile = 1ull << 2;
inline constexpr uint64_t kIncompatCompression = 1ull << 3;
inline constexpr uint64_t kIncompatExtendedL2 = 1ull << 4;
inline constexpr uint64_t kIncompatKnown = 0x1f;
inline constexpr uint64_t kCompatLazyRefcounts = 1ull << 0;
inline constexpr uint64_t kAutoclearBitmaps = 1ull << 0;
// The external data file is valid as a raw image (data_file_raw=on).
inline constexpr uint64_t kAutoclearDataFileRaw = 1ull << 1;

// Table entry bits.
inline constexpr uint64_t kOflagCopied = 1ull << 63;
inline constexpr uint64_t kOflagCompressed = 1ull << 62;
inline constexpr uint64_t kOflagZero = 1ull << 0;
inline constexpr uint64_t kL1OffsetMask = 0x00fffffffffffe00ull;
inline constexpr uint64_t kL1ReservedMask = 0x7f000000000001ffull;
inline constexpr uint64_t kL2OffsetMask = 0x00fffffffffffe00ull;
inline constexpr uint64_t kL2StdReservedMask = 0x3f000000000001feull;
inline constexpr uint64_t kRefTableOffsetMask = 0xfffffffffffffe00ull;
inline constexpr uint64_t kRefTableReservedMask = 0x1ffull;

// v2 header is 72 bytes; v3 at least 104; qemu-img 7.2 writes 112.
inline constexpr uint32_t kV2HeaderLength = 72;
inline constexpr uint32_t kV3MinHeaderLength = 104;
inline constexpr uint32_t kV3HeaderLength = 112;

inline uint16_t load_be16(const void* p) {
  const auto* b = static_cast<const uint8_t*>(p);
  return static_cast<uint16_t>((b[0] << 8) | b[1]);
}
inline uint32_t load_be32(const void* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return __builtin_bswap32(v);
}
inline uint64_t load_be64(const void* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return __builtin_bswap64(v);
}
inline void store_be16(void* p, uint16_t v) {
  auto* b = static_cast<uint8_t*>(p);
  b[0] = static_cast<uint8_t>(v >> 8);
  b[1] = static_cast<uint8_t>(v);
}
inline void store_be32(void* p, uint32_t v) {
  v = __builtin_bswap32(v);
  std::memcpy(p, &v, 4);
}
inline void store_be64(void* p, uint64_t v) {
  v = __builtin_bswap64(v);
  std::memcpy(p, &v, 8);
}

inline constexpr uint64_t align_up(uint64_t v, uint64_t a) {
  return (v + a - 1) / a * a;
}
inline constexpr uint64_t div_round_up(uint64_t v, uint64_t a) {
  return (v + a - 1) / a;
}

// Hex for messages: "0x10000".
std::string to_hex(uint64_t value);

}  // namespace amber::block::qcow2
