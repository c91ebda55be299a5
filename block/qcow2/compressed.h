// SPDX-License-Identifier: GPL-2.0-or-later
// Compressed clusters: descriptor decoding and bounded decompression
// (deflate = raw deflate, windowBits -12; zstd = one bare frame). The
// output is exactly one cluster, never more (decompression-bomb guard).
// Also compress_cluster(), used by tests to build compressed images.
//
// Thread-safety: pure functions; no shared state.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/result.h"

namespace amber::block::qcow2 {

enum class Compression : uint8_t { kDeflate = 0, kZstd = 1 };

struct CompressedDescriptor {
  uint64_t offset = 0;  // host byte offset of the compressed data
  uint64_t bytes = 0;   // bytes to read: nb_sectors * 512 - (offset & 511)
  // The sector-aligned host range it occupies (what refcounts count).
  uint64_t aligned_offset = 0;
  uint64_t aligned_bytes = 0;
};

// Decodes an L2 entry with the compressed flag; checks the offset bits
// and that the data spans at most two clusters.
Result<CompressedDescriptor> decode_compressed(uint64_t l2_entry, uint32_t cluster_bits);
// Builds the L2 entry for compressed data at `offset` of `bytes` bytes.
uint64_t encode_compressed(uint64_t offset, uint64_t bytes, uint32_t cluster_bits);

// Decompresses `in` into exactly out.size() bytes.
Result<void> decompress_cluster(Compression type, std::span<const uint8_t> in,
                                std::span<uint8_t> out);
// Compresses one cluster; an empty result means "did not shrink".
Result<std::vector<uint8_t>> compress_cluster(Compression type, std::span<const uint8_t> in);

}  // namespace amber::block::qcow2
