// SPDX-License-Identifier: GPL-2.0-or-later
// Compressed clusters: descriptor decoding and bounded decompression
// (deflate = raw deflate, windowBits -12; zstd = one bare frame). The
// output is exactly one cluster, never more (decompression-bomb guard).
// Compression as QEMU writes it: ClusterCompressor (one per thread, its
// zlib / zstd context reused from cluster to cluster) and compress_cluster()
// (a one-off, for tests).
//
// Thread-safety: the free functions are pure; a ClusterCompressor belongs to
// one thread at a time.
#pragma once

#include <cstddef>
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
// Compresses whole clusters the way QEMU's qcow2 driver does: deflate at
// Z_DEFAULT_COMPRESSION with a 4 KiB window (windowBits -12, memLevel 9),
// or one zstd frame at zstd's default level; the output must fit in
// cluster_size - 1 bytes, else the cluster "does not shrink" and QEMU
// writes it uncompressed.
class ClusterCompressor {
 public:
  ClusterCompressor(Compression type, uint64_t cluster_size);
  ~ClusterCompressor();
  ClusterCompressor(const ClusterCompressor&) = delete;
  ClusterCompressor& operator=(const ClusterCompressor&) = delete;

  Compression type() const { return type_; }
  // Compresses `in` (one cluster; a shorter last cluster is compressed as
  // given) into `out`, which must hold at least in.size() - 1 bytes.
  // Returns the compressed size, or 0 when it did not shrink.
  Result<size_t> compress(std::span<const uint8_t> in, std::span<uint8_t> out);

 private:
  Compression type_;
  uint64_t cluster_size_;
  void* deflate_ = nullptr;  // z_stream, set up once, reset per cluster
  void* zstd_ = nullptr;     // ZSTD_CCtx
};

// Compresses one cluster; an empty result means "did not shrink".
Result<std::vector<uint8_t>> compress_cluster(Compression type, std::span<const uint8_t> in);

}  // namespace amber::block::qcow2
