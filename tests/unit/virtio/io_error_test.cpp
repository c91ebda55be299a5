// SPDX-License-Identifier: GPL-2.0-or-later
// Host I/O errors in virtio-blk: a raw image over a fault-injecting file
// fails reads, writes, flushes and write-zeroes with EIO / ENOSPC / other
// errnos; the guest must get VIRTIO_BLK_S_IOERR, the disk's counters must
// grow in the right (operation, errno class) cell, and the error sink must
// see each error, rate-limited.
#include <gtest/gtest.h>

#include <cerrno>
#include <vector>

#include "block/io/fault_file.h"
#include "block/io/memory_file.h"
#include "block/raw/raw_image.h"
#include "hv/virtio/blk_engine.h"
#include "virtio_test_support.h"

namespace amber::hv::virtio {
namespace {

using block::io::FaultOp;
using test::Buf;
using test::GuestRam;
using test::TestRing;

constexpr uint64_t kDiskSize = 1 << 20;

class IoErrorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto memory = std::make_unique<block::io::MemoryFile>("fault.raw");
    ASSERT_TRUE(memory->truncate(kDiskSize).ok());
    auto fault = std::make_unique<block::io::FaultFile>(std::move(memory));
    faults_ = fault.get();
    block::OpenOptions o;
    o.access = block::io::Access::kReadWrite;
    o.format = block::ImageFormat::kRaw;
    o.locking = block::Locking::kOff;
    auto image = block::raw::open(std::move(fault), o);
    ASSERT_TRUE(image.ok()) << image.error().message();
    BlkOptions options;
    options.discard = block::DiscardMode::kUnmap;
    // These tests are about reporting; the other policies (and the
    // werror=enospc default) are blk_policy_test.cpp's.
    options.write_error = BlkErrorPolicy::kReport;
    engine_ =
        std::make_unique<BlkEngine>(std::shared_ptr<block::Image>(std::move(*image)), options);
    engine_->set_negotiated_features(engine_->offered_features());
    engine_->set_io_error_sink("disk7", [this](const BlkIoError& e) { reported_.push_back(e); });
    ring_ = std::make_unique<TestRing>(ram_, 0x10000, 256);
    ASSERT_TRUE(queue_
                    .activate(ram_.memory, {256, ring_->desc(), ring_->avail(), ring_->used()},
                              {true, true})
                    .ok());
  }
  int run(uint32_t type, uint64_t sector, uint32_t data_len, bool data_writable) {
    const uint64_t h = ram_.alloc(16);
    ram_.put<uint32_t>(h, type);
    ram_.put<uint32_t>(h + 4, 0);
    ram_.put<uint64_t>(h + 8, sector);
    std::vector<Buf> bufs{{h, 16, false}};
    if (data_len > 0) bufs.push_back({ram_.alloc(data_len), data_len, data_writable});
    const uint64_t status = ram_.alloc(1);
    bufs.push_back({status, 1, true});
    ring_->publish(ring_->build(bufs));
    auto popped = queue_.pop(chain_);
    EXPECT_TRUE(popped.ok() && *popped);
    auto r = engine_->execute(chain_);
    if (!r.ok()) return -1;
    return ram_.get<uint8_t>(status);
  }
  int write_zeroes(uint64_t sector, uint32_t sectors) {
    const uint64_t h = ram_.alloc(16);
    ram_.put<uint32_t>(h, kBlkTypeWriteZeroes);
    ram_.put<uint32_t>(h + 4, 0);
    ram_.put<uint64_t>(h + 8, 0);
    const uint64_t seg = ram_.alloc(16);
    ram_.put<uint64_t>(seg, sector);
    ram_.put<uint32_t>(seg + 8, sectors);
    ram_.put<uint32_t>(seg + 12, 0);
    const uint64_t status = ram_.alloc(1);
    ring_->publish(ring_->build({{h, 16, false}, {seg, 16, false}, {status, 1, true}}));
    auto popped = queue_.pop(chain_);
    EXPECT_TRUE(popped.ok() && *popped);
    EXPECT_TRUE(engine_->execute(chain_).ok());
    return ram_.get<uint8_t>(status);
  }

  GuestRam ram_;
  block::io::FaultFile* faults_ = nullptr;
  std::unique_ptr<BlkEngine> engine_;
  std::unique_ptr<TestRing> ring_;
  SplitQueue queue_;
  DescriptorChain chain_;
  std::vector<BlkIoError> reported_;
};

TEST_F(IoErrorTest, FailedWriteIsCountedReportedAndAnsweredIoErr) {
  ASSERT_EQ(run(kBlkTypeOut, 8, 4096, false), kBlkStatusOk);
  faults_->fail_after(FaultOp::kWrite, 0, ENOSPC);
  EXPECT_EQ(run(kBlkTypeOut, 8, 4096, false), kBlkStatusIoErr);
  EXPECT_EQ(run(kBlkTypeOut, 16, 512, false), kBlkStatusIoErr);
  const BlkStats s = engine_->stats();
  EXPECT_EQ(s.io_error_count(BlkOperation::kWrite, IoErrorClass::kEnospc), 2u);
  EXPECT_EQ(s.io_error_count(BlkOperation::kWrite, IoErrorClass::kEio), 0u);
  EXPECT_EQ(s.io_error_count(BlkOperation::kRead, IoErrorClass::kEnospc), 0u);
  EXPECT_EQ(s.write.failed, 2u);
  EXPECT_EQ(s.write.ops, 3u);
  ASSERT_EQ(reported_.size(), 2u);
  EXPECT_EQ(reported_[0].operation, BlkOperation::kWrite);
  EXPECT_EQ(reported_[0].error_class, IoErrorClass::kEnospc);
  EXPECT_EQ(reported_[0].error_number, ENOSPC);
  EXPECT_EQ(reported_[0].kind, ErrorKind::kNoSpace);
  EXPECT_EQ(reported_[0].action, BlkErrorAction::kReport);
  EXPECT_FALSE(reported_[0].message.empty());
  // Reads still work and are not counted as errors.
  faults_->clear_faults();
  EXPECT_EQ(run(kBlkTypeIn, 8, 4096, true), kBlkStatusOk);
  EXPECT_EQ(engine_->stats().read.failed, 0u);
}

TEST_F(IoErrorTest, EachOperationAndErrnoClassHasItsOwnCounter) {
  faults_->fail_after(FaultOp::kRead, 0, EIO);
  EXPECT_EQ(run(kBlkTypeIn, 0, 512, true), kBlkStatusIoErr);
  faults_->clear_faults();
  faults_->fail_after(FaultOp::kFlush, 0, EROFS);
  EXPECT_EQ(run(kBlkTypeFlush, 0, 0, false), kBlkStatusIoErr);
  faults_->clear_faults();
  faults_->fail_after(FaultOp::kAny, 0, EIO);
  EXPECT_EQ(write_zeroes(0, 8), kBlkStatusIoErr);
  faults_->clear_faults();
  const BlkStats s = engine_->stats();
  EXPECT_EQ(s.io_error_count(BlkOperation::kRead, IoErrorClass::kEio), 1u);
  EXPECT_EQ(s.io_error_count(BlkOperation::kFlush, IoErrorClass::kOther), 1u);
  EXPECT_EQ(s.io_error_count(BlkOperation::kWriteZeroes, IoErrorClass::kEio), 1u);
  EXPECT_EQ(s.io_error_count(BlkOperation::kDiscard, IoErrorClass::kEio), 0u);
  EXPECT_EQ(s.read.failed, 1u);
  EXPECT_EQ(s.flush.failed, 1u);
  EXPECT_EQ(s.discard.failed, 1u);
  ASSERT_EQ(reported_.size(), 3u);
  EXPECT_EQ(reported_[1].operation, BlkOperation::kFlush);
  EXPECT_EQ(reported_[1].error_number, EROFS);
  EXPECT_EQ(reported_[2].operation, BlkOperation::kWriteZeroes);
}

TEST_F(IoErrorTest, GuestErrorsAreNotHostErrors) {
  // Beyond the end of the disk: IOERR, but no host call failed.
  EXPECT_EQ(run(kBlkTypeIn, kDiskSize / 512, 512, true), kBlkStatusIoErr);
  const BlkStats s = engine_->stats();
  EXPECT_EQ(s.read.failed, 1u);
  for (const auto& per_op : s.io_errors)
    for (const uint64_t count : per_op) EXPECT_EQ(count, 0u);
  EXPECT_TRUE(reported_.empty());
}

TEST_F(IoErrorTest, ReportsAreRateLimitedButEveryErrorIsCounted) {
  faults_->fail_after(FaultOp::kRead, 0, EIO);
  constexpr unsigned kRequests = 3 * kGuestLogBurst;
  for (unsigned i = 0; i < kRequests; ++i)
    ASSERT_EQ(run(kBlkTypeIn, i, 512, true), kBlkStatusIoErr);
  EXPECT_EQ(engine_->stats().io_error_count(BlkOperation::kRead, IoErrorClass::kEio), kRequests);
  // The test runs well within one kGuestLogInterval.
  EXPECT_EQ(reported_.size(), kGuestLogBurst);
}

}  // namespace
}  // namespace amber::hv::virtio
