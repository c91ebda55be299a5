// SPDX-License-Identifier: GPL-2.0-or-later
// Unit tests of BlkEngine's request merging: contiguous READs/WRITEs of a
// batch become one Image call, with one completion (status, used length,
// statistics) per request; non-contiguous, overlapping, invalid requests
// and barriers (FLUSH, a change of direction) are not merged across; a
// failing merged call falls back to per-request statuses; the iovec, byte
// and batch bounds hold; a device with more requests than one batch
// serves them all.
#include <gtest/gtest.h>

#include <atomic>

#include "hv/virtio/blk_device.h"
#include "hv/virtio/blk_engine.h"
#include "virtio_test_support.h"

namespace amber::hv::virtio {
namespace {

using test::Buf;
using test::GuestRam;
using test::MemImage;
using test::TestRing;
using CallKind = MemImage::CallKind;

constexpr uint64_t kDiskSize = 8 << 20;
// Data buffers live in the second RAM region; headers, status bytes and
// indirect tables come from GuestRam::alloc() in the first.
constexpr uint64_t kData = GuestRam::kRegionSize;
constexpr uint64_t kRing = 0x10000;
constexpr uint32_t k4K = 4096;

class MergeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    image_ = std::make_shared<MemImage>(kDiskSize);
    engine_ = std::make_unique<BlkEngine>(image_, BlkOptions{});
    engine_->set_negotiated_features(engine_->offered_features());
    ring_ = std::make_unique<TestRing>(ram_, kRing, 256);
    ASSERT_TRUE(queue_
                    .activate(ram_.memory, {256, ring_->desc(), ring_->avail(), ring_->used()},
                              {true, true})
                    .ok());
  }
  std::vector<Buf> request(uint32_t type, uint64_t sector, const std::vector<Buf>& data) {
    const uint64_t h = ram_.alloc(16);
    ram_.put<uint32_t>(h, type);
    ram_.put<uint32_t>(h + 4, 0);
    ram_.put<uint64_t>(h + 8, sector);
    std::vector<Buf> bufs{{h, 16, false}};
    bufs.insert(bufs.end(), data.begin(), data.end());
    const uint64_t st = ram_.alloc(1);
    ram_.put<uint8_t>(st, 0xEE);
    bufs.push_back({st, 1, true});
    statuses_.push_back(st);
    return bufs;
  }
  // Queues a request (direct chain) whose data is `data`.
  void submit(uint32_t type, uint64_t sector, const std::vector<Buf>& data) {
    ring_->publish(ring_->build(request(type, sector, data)));
  }
  // A READ/WRITE of one buffer at kData + buffer * 4 KiB.
  void submit_rw(uint32_t type, uint64_t sector, uint64_t buffer, uint32_t length = k4K) {
    submit(type, sector, {{kData + buffer * k4K, length, type == kBlkTypeIn}});
  }
  void submit_indirect(uint32_t type, uint64_t sector, const std::vector<Buf>& data) {
    const std::vector<Buf> bufs = request(type, sector, data);
    ring_->publish(ring_->build_indirect(ram_.alloc(16 * bufs.size()), bufs));
  }
  void fill_buffer(uint64_t buffer, uint8_t value) {
    std::memset(ram_.at(kData + buffer * k4K), value, k4K);
  }
  // Pops everything published and executes it as one batch.
  void run_batch() {
    batch_.clear();
    for (;;) {
      auto popped = queue_.pop(chain_);
      ASSERT_TRUE(popped.ok());
      if (!*popped) break;
      ASSERT_TRUE(engine_->parse(chain_, batch_).ok());
    }
    engine_->execute(batch_);
  }
  int status(size_t i) { return ram_.get<uint8_t>(statuses_[i]); }
  uint32_t written(size_t i) { return batch_.requests()[i].written; }
  std::vector<MemImage::Call> calls(CallKind kind) {
    std::vector<MemImage::Call> out;
    for (const auto& c : image_->calls())
      if (c.kind == kind) out.push_back(c);
    return out;
  }

  GuestRam ram_;
  std::shared_ptr<MemImage> image_;
  std::unique_ptr<BlkEngine> engine_;
  std::unique_ptr<TestRing> ring_;
  SplitQueue queue_;
  DescriptorChain chain_;
  BlkBatch batch_;
  std::vector<uint64_t> statuses_;
};

TEST_F(MergeTest, ContiguousWritesBecomeOneWritev) {
  // Eight 4 KiB writes covering sectors 800..863, submitted out of order.
  const uint64_t order[] = {3, 0, 1, 2, 7, 5, 4, 6};
  for (uint64_t i = 0; i < 8; ++i) fill_buffer(i, static_cast<uint8_t>(0x10 + i));
  for (uint64_t i : order) submit_rw(kBlkTypeOut, 800 + 8 * i, i);
  run_batch();
  const auto writes = calls(CallKind::kWrite);
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].offset, 800u * 512);
  EXPECT_EQ(writes[0].length, 8u * k4K);
  EXPECT_EQ(writes[0].iovecs, 8u);
  ASSERT_EQ(batch_.size(), 8u);
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(status(i), kBlkStatusOk);
    EXPECT_EQ(written(i), 1u);
  }
  for (uint64_t i = 0; i < 8; ++i) {
    EXPECT_EQ(image_->byte((800 + 8 * i) * 512), 0x10 + i);
    EXPECT_EQ(image_->byte((800 + 8 * i) * 512 + k4K - 1), 0x10 + i);
  }
  const BlkStats s = engine_->stats();
  EXPECT_EQ(s.write.ops, 8u);
  EXPECT_EQ(s.write.bytes, 8u * k4K);
  EXPECT_EQ(s.write.failed, 0u);
  EXPECT_EQ(image_->flushes, 0);  // writeback: no flush
}

TEST_F(MergeTest, ContiguousReadsBecomeOneReadv) {
  for (uint64_t i = 0; i < 4; ++i)
    image_->fill((64 + 8 * i) * 512, k4K, static_cast<uint8_t>(0xA0 + i));
  for (uint64_t i = 0; i < 4; ++i) submit_rw(kBlkTypeIn, 64 + 8 * i, i);
  run_batch();
  const auto reads = calls(CallKind::kRead);
  ASSERT_EQ(reads.size(), 1u);
  EXPECT_EQ(reads[0].length, 4u * k4K);
  for (uint64_t i = 0; i < 4; ++i) {
    EXPECT_EQ(status(i), kBlkStatusOk);
    EXPECT_EQ(written(i), k4K + 1);
    EXPECT_EQ(ram_.get<uint8_t>(kData + i * k4K), 0xA0 + i);
    EXPECT_EQ(ram_.get<uint8_t>(kData + i * k4K + k4K - 1), 0xA0 + i);
  }
  EXPECT_EQ(engine_->stats().read.ops, 4u);
  EXPECT_EQ(engine_->stats().read.bytes, 4u * k4K);
}

TEST_F(MergeTest, GapsAndOverlapsAreNotMerged) {
  fill_buffer(0, 1);
  fill_buffer(1, 2);
  fill_buffer(2, 3);
  submit_rw(kBlkTypeOut, 0, 0);
  submit_rw(kBlkTypeOut, 16, 1);  // gap of 8 sectors
  submit_rw(kBlkTypeOut, 20, 2);  // overlaps the previous one: submitted later, must win
  run_batch();
  const auto writes = calls(CallKind::kWrite);
  ASSERT_EQ(writes.size(), 3u);
  for (const auto& w : writes) EXPECT_EQ(w.length, k4K);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(status(i), kBlkStatusOk);
  EXPECT_EQ(image_->byte(16 * 512), 2);
  EXPECT_EQ(image_->byte(20 * 512), 3);
  EXPECT_EQ(image_->byte(23 * 512 + 511), 3);
}

TEST_F(MergeTest, OverlapsKeepSubmissionOrderEvenWhenUnsorted) {
  fill_buffer(0, 1);
  fill_buffer(1, 2);
  submit_rw(kBlkTypeOut, 24, 0);
  submit_rw(kBlkTypeOut, 20, 1);  // sorting would run it first; it must run second
  run_batch();
  EXPECT_EQ(calls(CallKind::kWrite).size(), 2u);
  EXPECT_EQ(image_->byte(24 * 512), 2);
  EXPECT_EQ(image_->byte(28 * 512), 1);
}

TEST_F(MergeTest, NothingMovesAcrossAFlushOrADirectionChange) {
  fill_buffer(0, 0x11);
  fill_buffer(1, 0x22);
  submit_rw(kBlkTypeOut, 0, 0);
  submit_rw(kBlkTypeOut, 8, 1);
  submit(kBlkTypeFlush, 0, {});
  submit_rw(kBlkTypeOut, 16, 0);
  submit_rw(kBlkTypeIn, 8, 2);  // reads what the write before it left
  submit_rw(kBlkTypeOut, 24, 1);
  run_batch();
  const auto log = image_->calls();
  ASSERT_EQ(log.size(), 5u);
  EXPECT_EQ(log[0].kind, CallKind::kWrite);
  EXPECT_EQ(log[0].length, 2u * k4K);  // the two before the flush, merged
  EXPECT_EQ(log[1].kind, CallKind::kFlush);
  EXPECT_EQ(log[2].kind, CallKind::kWrite);
  EXPECT_EQ(log[2].offset, 16u * 512);
  EXPECT_EQ(log[3].kind, CallKind::kRead);
  EXPECT_EQ(log[4].kind, CallKind::kWrite);
  EXPECT_EQ(log[4].offset, 24u * 512);  // not merged with sector 16: a read lies between
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(status(i), kBlkStatusOk);
  EXPECT_EQ(ram_.get<uint8_t>(kData + 2 * k4K), 0x22);
  EXPECT_EQ(engine_->stats().flush.ops, 1u);
}

TEST_F(MergeTest, WriteThroughFlushesOnceAfterTheMergedWrite) {
  engine_->set_write_cache(WriteCache::kWritethrough);
  for (uint64_t i = 0; i < 4; ++i) submit_rw(kBlkTypeOut, 8 * i, i);
  run_batch();
  const auto log = image_->calls();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].kind, CallKind::kWrite);
  EXPECT_EQ(log[0].length, 4u * k4K);
  EXPECT_EQ(log[1].kind, CallKind::kFlush);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(status(i), kBlkStatusOk);
}

TEST_F(MergeTest, FailedMergedWriteFallsBackToPerRequestStatuses) {
  for (uint64_t i = 0; i < 4; ++i) fill_buffer(i, static_cast<uint8_t>(0x30 + i));
  image_->fail_range((100 + 16) * 512, 512);  // inside the third request
  for (uint64_t i = 0; i < 4; ++i) submit_rw(kBlkTypeOut, 100 + 8 * i, i);
  run_batch();
  const auto writes = calls(CallKind::kWrite);
  ASSERT_EQ(writes.size(), 5u);  // the merged attempt, then one per request
  EXPECT_EQ(writes[0].length, 4u * k4K);
  EXPECT_EQ(status(0), kBlkStatusOk);
  EXPECT_EQ(status(1), kBlkStatusOk);
  EXPECT_EQ(status(2), kBlkStatusIoErr);
  EXPECT_EQ(status(3), kBlkStatusOk);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(written(i), 1u);
  EXPECT_EQ(image_->byte((100 + 24) * 512), 0x33);
  const BlkStats s = engine_->stats();
  EXPECT_EQ(s.write.ops, 4u);
  EXPECT_EQ(s.write.failed, 1u);
  EXPECT_EQ(s.write.bytes, 3u * k4K);
}

TEST_F(MergeTest, FailedMergedReadFallsBackToPerRequestStatuses) {
  image_->fill(0, 4 * k4K, 0x77);
  image_->fail_range(0, 512);  // the first request only
  for (uint64_t i = 0; i < 3; ++i) submit_rw(kBlkTypeIn, 8 * i, i);
  run_batch();
  EXPECT_EQ(status(0), kBlkStatusIoErr);
  EXPECT_EQ(written(0), 1u);
  for (size_t i = 1; i < 3; ++i) {
    EXPECT_EQ(status(i), kBlkStatusOk);
    EXPECT_EQ(written(i), k4K + 1);
    EXPECT_EQ(ram_.get<uint8_t>(kData + i * k4K + 5), 0x77);
  }
}

TEST_F(MergeTest, InvalidRequestsAnswerAloneAndSplitRuns) {
  submit_rw(kBlkTypeOut, 0, 0);
  submit(kBlkTypeOut, 8, {{kData, k4K, true}});  // wrong direction
  submit_rw(kBlkTypeOut, 16, 1);
  submit_rw(kBlkTypeOut, 24, 2, 100);              // not a sector multiple
  submit_rw(kBlkTypeOut, kDiskSize / 512 - 4, 3);  // past the end
  submit(kBlkTypeOut, 32, {});                     // empty: OK, no I/O
  run_batch();
  const auto writes = calls(CallKind::kWrite);
  ASSERT_EQ(writes.size(), 2u);  // sectors 0 and 16: not contiguous without 8
  EXPECT_EQ(status(0), kBlkStatusOk);
  EXPECT_EQ(status(1), kBlkStatusIoErr);
  EXPECT_EQ(status(2), kBlkStatusOk);
  EXPECT_EQ(status(3), kBlkStatusIoErr);
  EXPECT_EQ(status(4), kBlkStatusIoErr);
  EXPECT_EQ(status(5), kBlkStatusOk);
  EXPECT_EQ(engine_->stats().write.failed, 3u);
}

TEST_F(MergeTest, MergedBytesStayWithinTheLimit) {
  // Five contiguous 512 KiB writes (four 128 KiB segments each, all on the
  // same guest buffer): 2.5 MiB, more than kBlkMaxMergeBytes.
  const std::vector<Buf> segments(4, Buf{kData, 128 << 10, false});
  constexpr uint64_t kSectors = (512 << 10) / 512;
  for (uint64_t i = 0; i < 5; ++i) submit(kBlkTypeOut, i * kSectors, segments);
  run_batch();
  const auto writes = calls(CallKind::kWrite);
  ASSERT_EQ(writes.size(), 2u);
  EXPECT_EQ(writes[0].length, kBlkMaxMergeBytes);
  EXPECT_EQ(writes[1].length, 512u << 10);
  EXPECT_EQ(writes[1].offset, 4 * kSectors * 512);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(status(i), kBlkStatusOk);
}

TEST_F(MergeTest, MergedIovecsStayWithinIovMax) {
  // Six contiguous writes of 200 x 512-byte segments each (indirect
  // tables): 1200 iovecs, more than one call may take.
  const std::vector<Buf> segments(200, Buf{kData, 512, false});
  for (uint64_t i = 0; i < 6; ++i) submit_indirect(kBlkTypeOut, i * 200, segments);
  run_batch();
  const auto writes = calls(CallKind::kWrite);
  ASSERT_EQ(writes.size(), 2u);
  EXPECT_EQ(writes[0].iovecs, 1000u);
  EXPECT_EQ(writes[1].iovecs, 200u);
  for (const auto& w : writes) EXPECT_LE(w.iovecs, kBlkMaxIovecs);
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(status(i), kBlkStatusOk);
}

TEST_F(MergeTest, HeaderlessRequestIsABarrier) {
  submit_rw(kBlkTypeOut, 0, 0);
  const uint64_t st = ram_.alloc(1);
  statuses_.push_back(st);
  ring_->publish(ring_->build({{ram_.alloc(8), 8, false}, {st, 1, true}}));  // 8-byte header
  submit_rw(kBlkTypeOut, 8, 1);
  run_batch();
  EXPECT_EQ(calls(CallKind::kWrite).size(), 2u);
  EXPECT_EQ(status(0), kBlkStatusOk);
  EXPECT_EQ(status(1), kBlkStatusIoErr);
  EXPECT_EQ(status(2), kBlkStatusOk);
}

class CountingSignals final : public DeviceSignals {
 public:
  void notify_queue(unsigned) override { ++notifies; }
  void needs_reset(const Error&) override { ++resets; }
  std::atomic<int> notifies{0}, resets{0};
};

TEST_F(MergeTest, DeviceServesMoreRequestsThanOneBatch) {
  // 200 contiguous 512-byte writes queued before the device starts: two
  // batches (kBlkMaxBatch = 128), each one merged write.
  queue_.reset();
  CountingSignals signals;
  BlkOptions options;
  auto device = BlkDevice::create(image_, options, ram_.memory, signals);
  ASSERT_TRUE(device.ok());
  constexpr uint16_t kCount = 200;
  for (uint16_t i = 0; i < kCount; ++i)
    submit_indirect(kBlkTypeOut, 1000 + i, {{kData + 512ull * i, 512, false}});
  const uint64_t features = feature_bit(kBlkFeatureFlush) | feature_bit(kFeatureIndirectDesc) |
                            feature_bit(kFeatureVersion1);
  const QueueLayout layout{256, ring_->desc(), ring_->avail(), ring_->used()};
  ASSERT_TRUE((*device)->activate(features, std::span(&layout, 1)).ok());
  ASSERT_TRUE(ring_->wait_used(kCount));
  (*device)->reset();
  EXPECT_EQ(signals.resets, 0);
  for (size_t i = 0; i < kCount; ++i) EXPECT_EQ(status(i), kBlkStatusOk);
  const auto writes = calls(CallKind::kWrite);
  ASSERT_EQ(writes.size(), 2u);
  EXPECT_EQ(writes[0].length, kBlkMaxBatch * 512);
  EXPECT_EQ(writes[1].length, (kCount - kBlkMaxBatch) * 512);
  EXPECT_EQ((*device)->stats().write.ops, kCount);
}

}  // namespace
}  // namespace amber::hv::virtio
