// SPDX-License-Identifier: GPL-2.0-or-later
// Compressed cluster writes (compressed_write.cpp): QEMU's byte packing,
// one reference per compressed cluster on each host cluster it touches,
// the fallback to a normal cluster, the refusal to overwrite, and guest
// writes over compressed clusters (COW, the shared host cluster freed
// once its last compressed cluster is gone).
//
// Thread-safety: single-threaded tests over MemoryFile.
#include <gtest/gtest.h>

#include <random>

#include "block/qcow2/compressed.h"
#include "block/qcow2/format.h"
#include "block/qcow2/header.h"
#include "block/qcow2/image.h"
#include "block/qcow2/refcount.h"
#include "test_util.h"

namespace amber::block::qcow2 {
namespace {

constexpr uint64_t kCluster = 65536;

// Compressible but distinct per seed: runs of a few byte values.
std::vector<std::byte> compressible(uint8_t seed, size_t n = kCluster) {
  std::vector<std::byte> data(n);
  for (size_t i = 0; i < n; ++i)
    data[i] = std::byte(static_cast<uint8_t>(seed + (i / (50 + seed)) % 5));
  return data;
}

std::vector<std::byte> random_bytes(uint32_t seed, size_t n = kCluster) {
  std::mt19937 gen(seed);
  std::vector<std::byte> data(n);
  for (auto& b : data) b = std::byte(static_cast<uint8_t>(gen()));
  return data;
}

std::vector<std::byte> read_back(Image& image, uint64_t offset, size_t n) {
  std::vector<std::byte> out(n);
  auto r = image.read(offset, out);
  EXPECT_TRUE(r.ok()) << r.error().message();
  return out;
}

Qcow2Image& q(std::unique_ptr<Image>& image) {
  return static_cast<Qcow2Image&>(*image);
}

uint64_t refcount_of(test::SharedMemory& mem, uint64_t host) {
  auto h = read_header(*mem.file);
  Refcounts rc(*mem.file, h->cluster_bits, h->refcount_order);
  EXPECT_TRUE(rc.load(h->refcount_table_offset, h->refcount_table_clusters).ok());
  auto value = rc.get(host / kCluster);
  EXPECT_TRUE(value.ok());
  return value.ok() ? *value : ~0ull;
}

void expect_consistent(test::SharedMemory& mem) {
  auto c = test::check_refcounts(*mem.file);
  EXPECT_EQ(c.corruptions + c.leaks, 0u) << c.first_problem;
}

class CompressedWrite : public ::testing::TestWithParam<Compression> {
 protected:
  std::unique_ptr<Image> make(test::SharedMemory& mem, uint64_t size, bool extended = false) {
    auto o = test::qcow2_options(size);
    if (GetParam() == Compression::kZstd) o.compression = CompressionType::kZstd;
    o.extended_l2 = extended;
    return test::create_and_open(mem, o);
  }
};

TEST_P(CompressedWrite, PacksByteByByteAndCountsEveryHostClusterTouched) {
  test::SharedMemory mem;
  auto image = make(mem, 64 * kCluster);
  ASSERT_TRUE(image);
  constexpr int kCount = 40;
  std::vector<CompressedDescriptor> placed;
  for (int i = 0; i < kCount; ++i) {
    ASSERT_TRUE(q(image).write_compressed(i * kCluster, compressible(uint8_t(i))).ok());
    auto m = q(image).lookup(i * kCluster, kCluster);
    ASSERT_TRUE(m.ok());
    ASSERT_EQ(m->kind, MapKind::kCompressed);
    EXPECT_EQ(m->entry & kOflagCopied, 0u);  // never COPIED
    auto d = decode_compressed(m->entry, 16);
    ASSERT_TRUE(d.ok());
    placed.push_back(*d);
  }
  // Each cluster's data starts where the previous one's ended, unless it
  // did not fit and went to a new host cluster.
  std::vector<uint64_t> expected(1024, 0);  // references per host cluster
  int packed_after_previous = 0;
  for (int i = 0; i < kCount; ++i) {
    const auto& d = placed[i];
    if (i > 0) {
      auto prev_packed = compress_cluster(
          GetParam(),
          std::span(reinterpret_cast<const uint8_t*>(compressible(uint8_t(i - 1)).data()),
                    kCluster));
      ASSERT_TRUE(prev_packed.ok());
      const uint64_t prev_end = placed[i - 1].offset + prev_packed->size();
      EXPECT_TRUE(d.offset == prev_end || d.offset % kCluster == 0) << "cluster " << i;
      if (d.offset == prev_end) ++packed_after_previous;
    }
    for (uint64_t c = d.aligned_offset / kCluster;
         c <= (d.aligned_offset + d.aligned_bytes - 1) / kCluster; ++c)
      ++expected[c];
  }
  EXPECT_GE(packed_after_previous, kCount / 2);
  ASSERT_TRUE(image->flush().ok());
  uint64_t shared = 0;
  for (uint64_t c = 0; c < expected.size(); ++c) {
    if (expected[c] == 0) continue;
    EXPECT_EQ(refcount_of(mem, c * kCluster), expected[c]) << "host cluster " << c;
    if (expected[c] > 1) ++shared;
  }
  EXPECT_GT(shared, 0u);  // several compressed clusters share a host cluster
  for (int i = 0; i < kCount; ++i)
    EXPECT_EQ(read_back(*image, i * kCluster, kCluster), compressible(uint8_t(i)));
  ASSERT_TRUE(image->close().ok());
  expect_consistent(mem);
}

TEST_P(CompressedWrite, IncompressibleClusterIsWrittenAsANormalOne) {
  test::SharedMemory mem;
  auto image = make(mem, 4 * kCluster);
  auto data = random_bytes(7);
  ASSERT_TRUE(q(image).write_compressed(kCluster, data).ok());
  auto m = q(image).lookup(kCluster, kCluster);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->kind, MapKind::kData);
  EXPECT_EQ(read_back(*image, kCluster, kCluster), data);
  ASSERT_TRUE(image->close().ok());
  expect_consistent(mem);
}

TEST_P(CompressedWrite, RefusesToOverwriteAndBadRequests) {
  test::SharedMemory mem;
  auto image = make(mem, 4 * kCluster + 4096);
  ASSERT_TRUE(image->write(0, test::pattern(4096, 3)).ok());
  auto r = q(image).write_compressed(0, compressible(1));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().error_number(), EIO);
  ASSERT_TRUE(q(image).write_compressed(kCluster, compressible(2)).ok());
  r = q(image).write_compressed(kCluster, compressible(3));  // compressed already
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().error_number(), EIO);
  EXPECT_FALSE(q(image).write_compressed(512, compressible(1)).ok());                 // unaligned
  EXPECT_FALSE(q(image).write_compressed(2 * kCluster, compressible(1, 4096)).ok());  // short
  // The image's short last cluster is compressed whole (padded with zeros).
  ASSERT_TRUE(q(image).write_compressed(4 * kCluster, compressible(9, 4096)).ok());
  EXPECT_EQ(q(image).lookup(4 * kCluster, 4096)->kind, MapKind::kCompressed);
  EXPECT_EQ(read_back(*image, 4 * kCluster, 4096), compressible(9, 4096));
  EXPECT_EQ(read_back(*image, kCluster, kCluster), compressible(2));
  ASSERT_TRUE(image->close().ok());
  expect_consistent(mem);
}

TEST_P(CompressedWrite, GuestWritesOverCompressedClustersFreeTheSharedHostCluster) {
  for (bool extended : {false, true}) {
    test::SharedMemory mem;
    auto image = make(mem, 16 * kCluster, extended);
    for (int i = 0; i < 8; ++i)
      ASSERT_TRUE(q(image).write_compressed(i * kCluster, compressible(uint8_t(i))).ok());
    const uint64_t host = decode_compressed(q(image).lookup(0, kCluster)->entry, 16)->offset;
    // A partial guest write: the cluster becomes a normal one holding the
    // old data with the new bytes.
    auto expected = compressible(0);
    auto patch = test::pattern(4096, 5);
    std::copy(patch.begin(), patch.end(), expected.begin() + 8192);
    ASSERT_TRUE(image->write(8192, patch).ok());
    EXPECT_EQ(q(image).lookup(0, kCluster)->kind, MapKind::kData);
    EXPECT_EQ(read_back(*image, 0, kCluster), expected);
    ASSERT_TRUE(image->flush().ok());
    expect_consistent(mem);
    const uint64_t before = refcount_of(mem, host);
    EXPECT_GE(before, 1u);
    // Rewrite the rest: once nothing compressed is left there, the host
    // cluster is free.
    for (int i = 1; i < 8; ++i) ASSERT_TRUE(image->write(i * kCluster, random_bytes(i)).ok());
    ASSERT_TRUE(image->flush().ok());
    EXPECT_EQ(refcount_of(mem, host), 0u) << "extended " << extended;
    // A freed packing cluster is never packed into again: new compressed
    // data goes to a cluster of its own while normal writes take the hole.
    ASSERT_TRUE(image->write(9 * kCluster, random_bytes(99)).ok());
    ASSERT_TRUE(q(image).write_compressed(10 * kCluster, compressible(10)).ok());
    EXPECT_EQ(read_back(*image, 9 * kCluster, kCluster), random_bytes(99));
    EXPECT_EQ(read_back(*image, 10 * kCluster, kCluster), compressible(10));
    ASSERT_TRUE(image->close().ok());
    expect_consistent(mem);
    auto ro = test::reopen(mem, io::Access::kReadOnly);
    EXPECT_EQ(read_back(*ro, 0, kCluster), expected);
    EXPECT_EQ(read_back(*ro, 10 * kCluster, kCluster), compressible(10));
  }
}

TEST(ClusterCompressor, OutputDecodesAndRespectsTheLimit) {
  for (auto type : {Compression::kDeflate, Compression::kZstd}) {
    ClusterCompressor compressor(type, kCluster);
    std::vector<uint8_t> out(kCluster);
    for (int round = 0; round < 3; ++round) {  // the context is reused
      auto data = compressible(uint8_t(round));
      std::span in(reinterpret_cast<const uint8_t*>(data.data()), data.size());
      auto n = compressor.compress(in, out);
      ASSERT_TRUE(n.ok());
      ASSERT_GT(*n, 0u);
      ASSERT_LT(*n, kCluster);
      std::vector<uint8_t> back(kCluster);
      ASSERT_TRUE(decompress_cluster(type, std::span(out.data(), *n), back).ok());
      EXPECT_EQ(0, std::memcmp(back.data(), data.data(), kCluster));
      if (type == Compression::kDeflate) {
        EXPECT_NE(out[0], 0x78);  // raw deflate, no header
      }
      if (type == Compression::kZstd) {
        EXPECT_EQ(out[0], 0x28);  // bare frame
      }
    }
    auto noise = random_bytes(1);
    auto n = compressor.compress(
        std::span(reinterpret_cast<const uint8_t*>(noise.data()), kCluster), out);
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, 0u);  // did not shrink
  }
}

INSTANTIATE_TEST_SUITE_P(Types, CompressedWrite,
                         ::testing::Values(Compression::kDeflate, Compression::kZstd));

}  // namespace
}  // namespace amber::block::qcow2
