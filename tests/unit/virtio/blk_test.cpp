// SPDX-License-Identifier: GPL-2.0-or-later
// Unit tests of BlkEngine: request parsing and execution on an in-memory
// image (read, write, flush, discard, write-zeroes, get-id, write cache,
// read-only) and the answers to malformed or out-of-range requests.
#include <gtest/gtest.h>

#include "hv/virtio/blk_engine.h"
#include "virtio_test_support.h"

namespace amber::hv::virtio {
namespace {

using test::Buf;
using test::GuestRam;
using test::MemImage;
using test::TestRing;

constexpr uint64_t kDiskSize = 1 << 20;  // 2048 sectors
constexpr uint64_t kAllFeatures = feature_bit(kBlkFeatureFlush) | feature_bit(kBlkFeatureDiscard) |
                                  feature_bit(kBlkFeatureWriteZeroes) |
                                  feature_bit(kBlkFeatureConfigWce);

BlkOptions options(unsigned queues, block::DiscardMode discard,
                   DiskAccess access = DiskAccess::kReadWrite) {
  BlkOptions o;
  o.queues = queues;
  o.discard = discard;
  o.access = access;
  return o;
}

class BlkTest : public ::testing::Test {
 protected:
  void SetUp() override { make_engine({}); }
  void make_engine(BlkOptions options, bool image_read_only = false) {
    image_ = std::make_shared<MemImage>(kDiskSize, image_read_only);
    if (options.serial.empty()) options.serial = "AMBER-SERIAL-0001";
    engine_ = std::make_unique<BlkEngine>(image_, options);
    engine_->set_negotiated_features(kAllFeatures & engine_->offered_features());
    ring_ = std::make_unique<TestRing>(ram_, 0x10000, 256);
    ASSERT_TRUE(queue_
                    .activate(ram_.memory, {256, ring_->desc(), ring_->avail(), ring_->used()},
                              {true, true})
                    .ok());
  }
  uint64_t header(uint32_t type, uint64_t sector) {
    const uint64_t h = ram_.alloc(16);
    ram_.put<uint32_t>(h, type);
    ram_.put<uint32_t>(h + 4, 0);
    ram_.put<uint64_t>(h + 8, sector);
    return h;
  }
  // Runs one request; returns the status byte (or -1 if the engine refused
  // the chain outright) and sets used_len_.
  int run(const std::vector<Buf>& bufs) {
    ring_->publish(ring_->build(bufs));
    auto popped = queue_.pop(chain_);
    EXPECT_TRUE(popped.ok() && *popped);
    auto r = engine_->execute(chain_);
    if (!r.ok()) return -1;
    used_len_ = *r;
    return ram_.get<uint8_t>(bufs.back().gpa + bufs.back().len - 1);
  }
  uint64_t status() { return ram_.alloc(1); }

  GuestRam ram_;
  std::shared_ptr<MemImage> image_;
  std::unique_ptr<BlkEngine> engine_;
  std::unique_ptr<TestRing> ring_;
  SplitQueue queue_;
  DescriptorChain chain_;
  uint32_t used_len_ = 0;
};

TEST_F(BlkTest, WriteThenReadAcrossSegments) {
  const uint64_t data = ram_.alloc(2048);
  for (int i = 0; i < 2048; ++i) ram_.put<uint8_t>(data + i, static_cast<uint8_t>(i * 7));
  // Data split 100 / 1948 bytes: segments need not be sector-sized.
  EXPECT_EQ(run({{header(kBlkTypeOut, 10), 16, false},
                 {data, 100, false},
                 {data + 100, 1948, false},
                 {status(), 1, true}}),
            kBlkStatusOk);
  EXPECT_EQ(used_len_, 1u);
  EXPECT_EQ(image_->byte(10 * 512 + 5), static_cast<uint8_t>(35));
  const uint64_t in = ram_.alloc(2048);
  EXPECT_EQ(run({{header(kBlkTypeIn, 10), 16, false}, {in, 2048, true}, {status(), 1, true}}),
            kBlkStatusOk);
  EXPECT_EQ(used_len_, 2049u);
  EXPECT_EQ(std::memcmp(ram_.at(in), ram_.at(data), 2048), 0);
  const BlkStats s = engine_->stats();
  EXPECT_EQ(s.write.ops, 1u);
  EXPECT_EQ(s.write.bytes, 2048u);
  EXPECT_EQ(s.read.ops, 1u);
  EXPECT_EQ(s.read.bytes, 2048u);
}

TEST_F(BlkTest, AnyLayoutHeaderDataAndStatusShareDescriptors) {
  // Header + data in one readable buffer; data + status in one writable.
  const uint64_t out = ram_.alloc(16 + 512);
  ram_.put<uint32_t>(out, kBlkTypeOut);
  ram_.put<uint64_t>(out + 8, 3);
  std::memset(ram_.at(out + 16), 0x5A, 512);
  const uint64_t st = status();
  EXPECT_EQ(run({{out, 16 + 512, false}, {st, 1, true}}), kBlkStatusOk);
  EXPECT_EQ(image_->byte(3 * 512 + 511), 0x5A);
  const uint64_t in = ram_.alloc(513);
  EXPECT_EQ(run({{header(kBlkTypeIn, 3), 16, false}, {in, 513, true}}), kBlkStatusOk);
  EXPECT_EQ(ram_.get<uint8_t>(in + 100), 0x5A);
  EXPECT_EQ(used_len_, 513u);
}

TEST_F(BlkTest, FlushAndWriteCache) {
  EXPECT_EQ(run({{header(kBlkTypeFlush, 0), 16, false}, {status(), 1, true}}), kBlkStatusOk);
  EXPECT_EQ(image_->flushes, 1);
  const uint64_t data = ram_.alloc(512);
  EXPECT_EQ(run({{header(kBlkTypeOut, 0), 16, false}, {data, 512, false}, {status(), 1, true}}),
            kBlkStatusOk);
  EXPECT_EQ(image_->flushes, 1);  // writeback: no flush per write
  engine_->set_write_cache(WriteCache::kWritethrough);
  EXPECT_EQ(run({{header(kBlkTypeOut, 0), 16, false}, {data, 512, false}, {status(), 1, true}}),
            kBlkStatusOk);
  EXPECT_EQ(image_->flushes, 2);  // writethrough: every write is flushed
  EXPECT_EQ(engine_->stats().flush.ops, 1u);
}

TEST_F(BlkTest, GetIdReturnsSerial) {
  const uint64_t id = ram_.alloc(20);
  std::memset(ram_.at(id), 0xEE, 20);
  EXPECT_EQ(run({{header(kBlkTypeGetId, 0), 16, false}, {id, 20, true}, {status(), 1, true}}),
            kBlkStatusOk);
  EXPECT_EQ(std::memcmp(ram_.at(id), "AMBER-SERIAL-0001\0\0\0", 20), 0);
  EXPECT_EQ(used_len_, 21u);
  // A short buffer gets a truncated id and nothing beyond it is touched.
  const uint64_t small = ram_.alloc(8);
  ram_.put<uint8_t>(small + 5, 0x77);
  EXPECT_EQ(run({{header(kBlkTypeGetId, 0), 16, false}, {small, 5, true}, {status(), 1, true}}),
            kBlkStatusOk);
  EXPECT_EQ(std::memcmp(ram_.at(small), "AMBER", 5), 0);
  EXPECT_EQ(ram_.get<uint8_t>(small + 5), 0x77);
}

TEST_F(BlkTest, DiscardAndWriteZeroes) {
  make_engine(options(1, block::DiscardMode::kUnmap));
  image_->fill(0, kDiskSize, 0xFF);
  const uint64_t segs = ram_.alloc(32);
  ram_.put<uint64_t>(segs, 8);
  ram_.put<uint32_t>(segs + 8, 4);
  ram_.put<uint32_t>(segs + 12, 0);
  ram_.put<uint64_t>(segs + 16, 100);
  ram_.put<uint32_t>(segs + 24, 1);
  ram_.put<uint32_t>(segs + 28, 0);
  EXPECT_EQ(run({{header(kBlkTypeDiscard, 0), 16, false}, {segs, 32, false}, {status(), 1, true}}),
            kBlkStatusOk);
  EXPECT_EQ(image_->discards, 2);
  EXPECT_EQ(image_->byte(8 * 512), 0);
  EXPECT_EQ(image_->byte(12 * 512), 0xFF);
  EXPECT_EQ(image_->byte(100 * 512 + 511), 0);
  EXPECT_EQ(engine_->stats().discard.bytes, 5u * 512);

  const uint64_t wz = ram_.alloc(16);
  ram_.put<uint64_t>(wz, 200);
  ram_.put<uint32_t>(wz + 8, 2);
  ram_.put<uint32_t>(wz + 12, kBlkDiscardFlagUnmap);
  EXPECT_EQ(
      run({{header(kBlkTypeWriteZeroes, 0), 16, false}, {wz, 16, false}, {status(), 1, true}}),
      kBlkStatusOk);
  EXPECT_EQ(image_->zeroes, 1);
  EXPECT_EQ(image_->last_zero_mode, block::ZeroMode::kMayUnmap);
  EXPECT_EQ(image_->byte(201 * 512), 0);

  // UNMAP on a discard and unknown flags are unsupported (spec 5.2.6.2).
  ram_.put<uint32_t>(wz + 12, kBlkDiscardFlagUnmap);
  EXPECT_EQ(run({{header(kBlkTypeDiscard, 0), 16, false}, {wz, 16, false}, {status(), 1, true}}),
            kBlkStatusUnsupp);
  ram_.put<uint32_t>(wz + 12, 2);
  EXPECT_EQ(
      run({{header(kBlkTypeWriteZeroes, 0), 16, false}, {wz, 16, false}, {status(), 1, true}}),
      kBlkStatusUnsupp);
  // Out of range, too many sectors, bad segment length.
  ram_.put<uint32_t>(wz + 12, 0);
  ram_.put<uint64_t>(wz, 2047);
  EXPECT_EQ(run({{header(kBlkTypeDiscard, 0), 16, false}, {wz, 16, false}, {status(), 1, true}}),
            kBlkStatusIoErr);
  ram_.put<uint64_t>(wz, ~0ull);
  EXPECT_EQ(run({{header(kBlkTypeDiscard, 0), 16, false}, {wz, 16, false}, {status(), 1, true}}),
            kBlkStatusIoErr);
  EXPECT_EQ(run({{header(kBlkTypeDiscard, 0), 16, false}, {wz, 12, false}, {status(), 1, true}}),
            kBlkStatusIoErr);
  EXPECT_EQ(image_->discards, 2);
}

TEST_F(BlkTest, DiscardWithoutFeatureIsUnsupported) {
  // Default options: discard=ignore, so DISCARD is neither offered nor negotiated.
  EXPECT_EQ(engine_->offered_features() & feature_bit(kBlkFeatureDiscard), 0u);
  const uint64_t seg = ram_.alloc(16);
  ram_.put<uint64_t>(seg, 0);
  ram_.put<uint32_t>(seg + 8, 1);
  EXPECT_EQ(run({{header(kBlkTypeDiscard, 0), 16, false}, {seg, 16, false}, {status(), 1, true}}),
            kBlkStatusUnsupp);
  EXPECT_EQ(
      run({{header(kBlkTypeWriteZeroes, 0), 16, false}, {seg, 16, false}, {status(), 1, true}}),
      kBlkStatusUnsupp);
  EXPECT_EQ(image_->discards + image_->zeroes, 0);
  EXPECT_EQ(engine_->stats().unsupported, 2u);
}

TEST_F(BlkTest, ReadOnlyDiskRefusesWrites) {
  make_engine(options(1, block::DiscardMode::kUnmap, DiskAccess::kReadOnly));
  EXPECT_NE(engine_->offered_features() & feature_bit(kBlkFeatureRo), 0u);
  EXPECT_EQ(engine_->offered_features() & feature_bit(kBlkFeatureDiscard), 0u);
  const uint64_t data = ram_.alloc(512);
  std::memset(ram_.at(data), 0x11, 512);
  EXPECT_EQ(run({{header(kBlkTypeOut, 0), 16, false}, {data, 512, false}, {status(), 1, true}}),
            kBlkStatusIoErr);
  EXPECT_EQ(image_->writes, 0);
  EXPECT_EQ(image_->byte(0), 0);
  EXPECT_EQ(run({{header(kBlkTypeIn, 0), 16, false}, {data, 512, true}, {status(), 1, true}}),
            kBlkStatusOk);
  // An image opened read-only makes the device read-only too.
  make_engine({}, true);
  EXPECT_NE(engine_->offered_features() & feature_bit(kBlkFeatureRo), 0u);
  EXPECT_EQ(run({{header(kBlkTypeOut, 0), 16, false}, {data, 512, false}, {status(), 1, true}}),
            kBlkStatusIoErr);
  EXPECT_EQ(image_->writes, 0);
}

TEST_F(BlkTest, OutOfRangeSectorsAreIoErrors) {
  const uint64_t data = ram_.alloc(1024);
  EXPECT_EQ(run({{header(kBlkTypeIn, 2047), 16, false}, {data, 1024, true}, {status(), 1, true}}),
            kBlkStatusIoErr);
  EXPECT_EQ(run({{header(kBlkTypeIn, 2048), 16, false}, {data, 512, true}, {status(), 1, true}}),
            kBlkStatusIoErr);
  // sector * 512 would overflow 64 bits.
  EXPECT_EQ(
      run({{header(kBlkTypeOut, 1ull << 55), 16, false}, {data, 512, false}, {status(), 1, true}}),
      kBlkStatusIoErr);
  EXPECT_EQ(run({{header(kBlkTypeIn, ~0ull), 16, false}, {data, 512, true}, {status(), 1, true}}),
            kBlkStatusIoErr);
  // Not a multiple of the sector size.
  EXPECT_EQ(run({{header(kBlkTypeIn, 0), 16, false}, {data, 100, true}, {status(), 1, true}}),
            kBlkStatusIoErr);
  EXPECT_EQ(run({{header(kBlkTypeIn, 2047), 16, false}, {data, 512, true}, {status(), 1, true}}),
            kBlkStatusOk);
  EXPECT_EQ(engine_->stats().read.failed, 4u);
}

TEST_F(BlkTest, WrongDirectionsAreRefused) {
  const uint64_t data = ram_.alloc(512);
  // Read into a device-readable buffer.
  EXPECT_EQ(run({{header(kBlkTypeIn, 0), 16, false}, {data, 512, false}, {status(), 1, true}}),
            kBlkStatusIoErr);
  // Write from a device-writable buffer.
  EXPECT_EQ(run({{header(kBlkTypeOut, 0), 16, false}, {data, 512, true}, {status(), 1, true}}),
            kBlkStatusIoErr);
  EXPECT_EQ(image_->writes, 0);
  // Header in a device-writable buffer.
  EXPECT_EQ(run({{header(kBlkTypeIn, 0), 16, true}, {data, 512, true}, {status(), 1, true}}),
            kBlkStatusIoErr);
  // Header too short.
  EXPECT_EQ(run({{header(kBlkTypeIn, 0), 8, false}, {status(), 1, true}}), kBlkStatusIoErr);
  // Status byte not device-writable: the chain cannot be answered.
  EXPECT_EQ(run({{header(kBlkTypeFlush, 0), 16, false}, {status(), 1, false}}), -1);
  // GET_ID into a readable buffer.
  EXPECT_EQ(run({{header(kBlkTypeGetId, 0), 16, false}, {data, 20, false}, {status(), 1, true}}),
            kBlkStatusIoErr);
}

TEST_F(BlkTest, UnknownTypesAreUnsupported) {
  for (uint32_t type : {2u, 3u, 10u, 0x80000001u}) {
    EXPECT_EQ(run({{header(type, 0), 16, false}, {status(), 1, true}}), kBlkStatusUnsupp);
  }
}

TEST_F(BlkTest, ConfigFeaturesForMultiQueueAndDiscard) {
  make_engine(options(4, block::DiscardMode::kUnmap));
  const uint64_t f = engine_->offered_features();
  EXPECT_NE(f & feature_bit(kBlkFeatureMq), 0u);
  EXPECT_NE(f & feature_bit(kBlkFeatureWriteZeroes), 0u);
  EXPECT_NE(f & feature_bit(kBlkFeatureSegMax), 0u);
  EXPECT_NE(f & feature_bit(kBlkFeatureTopology), 0u);
  EXPECT_EQ(engine_->capacity_sectors(), kDiskSize / 512);
}

}  // namespace
}  // namespace amber::hv::virtio
