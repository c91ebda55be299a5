// SPDX-License-Identifier: GPL-2.0-or-later
#include "block/qcow2/compressed.h"

#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <string>

#include "block/qcow2/format.h"

namespace amber::block::qcow2 {

Result<CompressedDescriptor> decode_compressed(uint64_t l2_entry, uint32_t cluster_bits) {
  const uint32_t x = 62 - (cluster_bits - 8);
  const uint64_t offset_mask = (uint64_t{1} << x) - 1;
  CompressedDescriptor d;
  d.offset = l2_entry & offset_mask;
  const uint64_t extra_sectors = (l2_entry & ~kOflagCompressed & ~kOflagCopied) >> x;
  if (d.offset > kMaxHostOffset)
    return Error(ErrorKind::kCorrupt, "compressed cluster offset " + to_hex(d.offset) +
                                          " exceeds the 56-bit offset space");
  const uint64_t sectors = extra_sectors + 1;
  d.aligned_offset = d.offset & ~(kCompressedSectorSize - 1);
  d.aligned_bytes = sectors * kCompressedSectorSize;
  d.bytes = d.aligned_bytes - (d.offset & (kCompressedSectorSize - 1));
  return d;
}

uint64_t encode_compressed(uint64_t offset, uint64_t bytes, uint32_t cluster_bits) {
  const uint32_t x = 62 - (cluster_bits - 8);
  const uint64_t end = offset + bytes;
  const uint64_t sectors =
      div_round_up(end, kCompressedSectorSize) - offset / kCompressedSectorSize;
  return kOflagCompressed | ((sectors - 1) << x) | offset;
}

Result<void> decompress_cluster(Compression type, std::span<const uint8_t> in,
                                std::span<uint8_t> out) {
  if (type == Compression::kDeflate) {
    z_stream z{};
    if (inflateInit2(&z, -12) != Z_OK) return Error(ErrorKind::kInternal, "inflateInit2 failed");
    z.next_in = const_cast<Bytef*>(in.data());  // zlib does not write the input
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = out.data();
    z.avail_out = static_cast<uInt>(out.size());
    const int rc = inflate(&z, Z_FINISH);
    const bool full = z.avail_out == 0;
    inflateEnd(&z);
    // Z_BUF_ERROR is fine once the cluster is full (trailing bytes belong
    // to the next compressed cluster).
    if ((rc == Z_STREAM_END || rc == Z_BUF_ERROR || rc == Z_OK) && full) return ok();
    return Error(ErrorKind::kCorrupt,
                 "compressed cluster: deflate data does not decode to one cluster");
  }
  ZSTD_DCtx* ctx = ZSTD_createDCtx();
  if (ctx == nullptr) return Error(ErrorKind::kInternal, "ZSTD_createDCtx failed");
  ZSTD_inBuffer ib{in.data(), in.size(), 0};
  ZSTD_outBuffer ob{out.data(), out.size(), 0};
  bool good = false;
  for (;;) {
    const size_t rc = ZSTD_decompressStream(ctx, &ob, &ib);
    if (ZSTD_isError(rc)) break;
    if (ob.pos == ob.size) {
      good = true;
      break;
    }
    if (rc == 0 || ib.pos == ib.size) break;  // frame ended short or input ran out
  }
  ZSTD_freeDCtx(ctx);
  if (!good)
    return Error(ErrorKind::kCorrupt,
                 "compressed cluster: zstd data does not decode to one cluster");
  return ok();
}

ClusterCompressor::ClusterCompressor(Compression type, uint64_t cluster_size)
    : type_(type), cluster_size_(cluster_size) {}

ClusterCompressor::~ClusterCompressor() {
  if (deflate_ != nullptr) {
    auto* z = static_cast<z_stream*>(deflate_);
    deflateEnd(z);
    delete z;
  }
  if (zstd_ != nullptr) ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(zstd_));
}

Result<size_t> ClusterCompressor::compress(std::span<const uint8_t> in, std::span<uint8_t> out) {
  if (in.empty() || in.size() > cluster_size_)
    return Error(ErrorKind::kInvalidArgument, "compressed write is not one cluster");
  // QEMU's limit: the compressed data must be smaller than a cluster.
  const size_t limit = std::min<size_t>(out.size(), in.size() - 1);
  if (limit == 0) return size_t{0};
  if (type_ == Compression::kDeflate) {
    auto* z = static_cast<z_stream*>(deflate_);
    if (z == nullptr) {
      z = new z_stream{};
      if (deflateInit2(z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
        delete z;
        return Error(ErrorKind::kInternal, "deflateInit2 failed");
      }
      deflate_ = z;
    } else if (deflateReset(z) != Z_OK) {
      return Error(ErrorKind::kInternal, "deflateReset failed");
    }
    z->next_in = const_cast<Bytef*>(in.data());  // zlib does not write the input
    z->avail_in = static_cast<uInt>(in.size());
    z->next_out = out.data();
    z->avail_out = static_cast<uInt>(limit);
    const int rc = deflate(z, Z_FINISH);
    if (rc != Z_STREAM_END) return size_t{0};  // the output is full: it did not shrink
    return limit - z->avail_out;
  }
  auto* ctx = static_cast<ZSTD_CCtx*>(zstd_);
  if (ctx == nullptr) {
    ctx = ZSTD_createCCtx();
    if (ctx == nullptr) return Error(ErrorKind::kNoSpace, "ZSTD_createCCtx failed");
    zstd_ = ctx;
  }
  const size_t n = ZSTD_compress2(ctx, out.data(), limit, in.data(), in.size());
  if (ZSTD_isError(n)) {
    if (ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall) return size_t{0};
    return Error(ErrorKind::kInternal,
                 std::string("zstd compression failed: ") + ZSTD_getErrorName(n));
  }
  return n;
}

Result<std::vector<uint8_t>> compress_cluster(Compression type, std::span<const uint8_t> in) {
  ClusterCompressor compressor(type, in.size());
  std::vector<uint8_t> out(in.size());
  AMBER_TRY_ASSIGN(size_t n, compressor.compress(in, out));
  out.resize(n);
  return out;
}

}  // namespace amber::block::qcow2
