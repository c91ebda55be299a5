// SPDX-License-Identifier: GPL-2.0-or-later
// The per-disk error policy (werror= / rerror=): a disk image that fails
// chosen calls with EIO or ENOSPC, and the engine and the device under
// each policy:
//  - report: the guest gets VIRTIO_BLK_S_IOERR;
//  - enospc (the werror default): an ENOSPC write is held, an EIO one
//    reported;
//  - stop: both are held, reads too with rerror=stop;
//  - ignore: the request completes OK;
// held requests (and everything executed after them) keep their status
// byte untouched, are retried in their order, only after retry_held(),
// fail and are held again while the fault lasts; a queue that holds pops
// nothing more; a reset or the device's destruction drops them without a
// hang.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "hv/virtio/blk_device.h"
#include "hv/virtio/blk_engine.h"
#include "tests/unit/virtio/flaky_image.h"
#include "virtio_test_support.h"

namespace amber::hv::virtio {
namespace {

using test::Buf;
using test::FlakyImage;
using test::GuestRam;
using test::kDiskSize;
using test::TestRing;

constexpr uint64_t kRing = 0x10000;
constexpr uint8_t kUntouched = 0xEE;

// What the error sink saw (called from iothreads in the device tests).
class Reports {
 public:
  BlkIoErrorSink sink() {
    return [this](const BlkIoError& e) {
      std::lock_guard lock(mutex_);
      seen_.push_back(e);
    };
  }
  std::vector<BlkIoError> seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  size_t count() { return seen().size(); }
  bool wait_for(size_t n) {
    for (int i = 0; i < 5000; ++i) {
      if (count() >= n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  }

 private:
  std::mutex mutex_;
  std::vector<BlkIoError> seen_;
};

class CountingSignals final : public DeviceSignals {
 public:
  void notify_queue(unsigned) override { ++notifies; }
  void needs_reset(const Error&) override { ++resets; }
  std::atomic<int> notifies{0}, resets{0};
};

class PolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    image_ = std::make_shared<FlakyImage>();
    ring_ = std::make_unique<TestRing>(ram_, kRing, 256);
  }
  // An engine of its own (batch tests) with these policies.
  void make_engine(BlkErrorPolicy werror, BlkErrorPolicy rerror) {
    BlkOptions options;
    options.write_error = werror;
    options.read_error = rerror;
    engine_ = std::make_unique<BlkEngine>(image_, options);
    engine_->set_negotiated_features(engine_->offered_features());
    engine_->set_io_error_sink("disk3", reports_.sink());
    ASSERT_TRUE(queue_
                    .activate(ram_.memory, {256, ring_->desc(), ring_->avail(), ring_->used()},
                              {true, true})
                    .ok());
  }
  // Publishes a request; its data is 512 bytes of `fill` (writes), its
  // status byte starts as kUntouched. Returns its index.
  size_t submit(uint32_t type, uint64_t sector, uint8_t fill = 0) {
    const uint64_t h = ram_.alloc(16);
    ram_.put<uint32_t>(h, type);
    ram_.put<uint32_t>(h + 4, 0);
    ram_.put<uint64_t>(h + 8, sector);
    std::vector<Buf> bufs{{h, 16, false}};
    if (type == kBlkTypeIn || type == kBlkTypeOut) {
      const uint64_t data = ram_.alloc(512);
      std::memset(ram_.at(data), fill, 512);
      bufs.push_back({data, 512, type == kBlkTypeIn});
    }
    const uint64_t st = ram_.alloc(1);
    ram_.put<uint8_t>(st, kUntouched);
    bufs.push_back({st, 1, true});
    statuses_.push_back(st);
    ring_->publish(ring_->build(bufs));
    return statuses_.size() - 1;
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
  // One request on its own through the batch path: its status.
  int one(uint32_t type, uint64_t sector) {
    const size_t i = submit(type, sector, 0x5A);
    run_batch();
    return status(i);
  }

  GuestRam ram_;
  std::shared_ptr<FlakyImage> image_;
  Reports reports_;
  std::unique_ptr<BlkEngine> engine_;
  std::unique_ptr<TestRing> ring_;
  SplitQueue queue_;
  DescriptorChain chain_;
  BlkBatch batch_;
  std::vector<uint64_t> statuses_;
};

TEST_F(PolicyTest, ActionsFollowQemusTable) {
  using P = BlkErrorPolicy;
  using A = BlkErrorAction;
  EXPECT_EQ(action_for(P::kEnospc, IoErrorClass::kEnospc), A::kStop);
  EXPECT_EQ(action_for(P::kEnospc, IoErrorClass::kEio), A::kReport);
  EXPECT_EQ(action_for(P::kEnospc, IoErrorClass::kOther), A::kReport);
  for (const auto c : {IoErrorClass::kEio, IoErrorClass::kEnospc, IoErrorClass::kOther}) {
    EXPECT_EQ(action_for(P::kStop, c), A::kStop);
    EXPECT_EQ(action_for(P::kReport, c), A::kReport);
    EXPECT_EQ(action_for(P::kIgnore, c), A::kIgnore);
  }
  EXPECT_EQ(to_string(A::kStop), "stop");
  EXPECT_EQ(to_string(A::kReport), "report");
  EXPECT_EQ(to_string(A::kIgnore), "ignore");
  // QEMU's defaults.
  EXPECT_EQ(BlkOptions{}.write_error, P::kEnospc);
  EXPECT_EQ(BlkOptions{}.read_error, P::kReport);
}

TEST_F(PolicyTest, ReportCompletesWithIoErr) {
  make_engine(BlkErrorPolicy::kReport, BlkErrorPolicy::kReport);
  image_->fail_writes(ENOSPC);
  EXPECT_EQ(one(kBlkTypeOut, 8), kBlkStatusIoErr);
  image_->fail_writes(EIO);
  EXPECT_EQ(one(kBlkTypeOut, 16), kBlkStatusIoErr);
  image_->fail_reads(EIO);
  EXPECT_EQ(one(kBlkTypeIn, 16), kBlkStatusIoErr);
  EXPECT_FALSE(batch_.stopped());
  const auto seen = reports_.seen();
  ASSERT_EQ(seen.size(), 3u);
  for (const auto& e : seen) EXPECT_EQ(e.action, BlkErrorAction::kReport);
  EXPECT_EQ(seen[0].error_class, IoErrorClass::kEnospc);
  EXPECT_EQ(engine_->stats().write.failed, 2u);
  EXPECT_EQ(engine_->stats().read.failed, 1u);
}

TEST_F(PolicyTest, EnospcHoldsAnEnospcWriteAndReportsAnEioOne) {
  make_engine(BlkErrorPolicy::kEnospc, BlkErrorPolicy::kReport);
  image_->fail_writes(EIO);
  EXPECT_EQ(one(kBlkTypeOut, 8), kBlkStatusIoErr);
  EXPECT_FALSE(batch_.stopped());
  image_->fail_writes(ENOSPC);
  EXPECT_EQ(one(kBlkTypeOut, 16), kUntouched);
  EXPECT_TRUE(batch_.stopped());
  EXPECT_EQ(batch_.held_count(), 1u);
  EXPECT_TRUE(batch_.requests()[0].held);
  // A full disk does not stop reads (rerror=report): EIO is reported.
  image_->fail_reads(EIO);
  EXPECT_EQ(one(kBlkTypeIn, 16), kBlkStatusIoErr);
  const auto seen = reports_.seen();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].action, BlkErrorAction::kReport);
  EXPECT_EQ(seen[1].action, BlkErrorAction::kStop);
  EXPECT_EQ(seen[1].error_class, IoErrorClass::kEnospc);
  EXPECT_EQ(seen[1].operation, BlkOperation::kWrite);
  EXPECT_EQ(seen[2].action, BlkErrorAction::kReport);
  // The held write is not a completed request (yet), but its error counts.
  const BlkStats s = engine_->stats();
  EXPECT_EQ(s.write.ops, 1u);
  EXPECT_EQ(s.write.failed, 1u);
  EXPECT_EQ(s.io_error_count(BlkOperation::kWrite, IoErrorClass::kEnospc), 1u);
}

TEST_F(PolicyTest, StopHoldsEveryErrorAndReadsWithRerrorStop) {
  make_engine(BlkErrorPolicy::kStop, BlkErrorPolicy::kStop);
  image_->fail_writes(EIO);
  EXPECT_EQ(one(kBlkTypeOut, 8), kUntouched);
  EXPECT_TRUE(batch_.stopped());
  image_->fail_writes(ENOSPC);
  EXPECT_EQ(one(kBlkTypeOut, 8), kUntouched);
  image_->heal();
  image_->fail_reads(EIO);
  EXPECT_EQ(one(kBlkTypeIn, 8), kUntouched);
  image_->heal();
  image_->fail_flushes(EIO);
  EXPECT_EQ(one(kBlkTypeFlush, 0), kUntouched);
  const auto seen = reports_.seen();
  ASSERT_EQ(seen.size(), 4u);
  for (const auto& e : seen) EXPECT_EQ(e.action, BlkErrorAction::kStop);
  EXPECT_EQ(seen[2].operation, BlkOperation::kRead);
  EXPECT_EQ(seen[3].operation, BlkOperation::kFlush);
  // The single-request path cannot hold: it says so, status untouched.
  image_->fail_writes(EIO);
  const size_t i = submit(kBlkTypeOut, 24);
  auto popped = queue_.pop(chain_);
  ASSERT_TRUE(popped.ok() && *popped);
  EXPECT_FALSE(engine_->execute(chain_).ok());
  EXPECT_EQ(status(i), kUntouched);
}

TEST_F(PolicyTest, StopEventsAreNotRateLimited) {
  make_engine(BlkErrorPolicy::kStop, BlkErrorPolicy::kReport);
  image_->fail_writes(EIO);
  constexpr unsigned kTries = 3 * kGuestLogBurst;
  for (unsigned i = 0; i < kTries; ++i) ASSERT_EQ(one(kBlkTypeOut, 8), kUntouched);
  EXPECT_EQ(reports_.count(), kTries);
}

TEST_F(PolicyTest, IgnoreCompletesOk) {
  make_engine(BlkErrorPolicy::kIgnore, BlkErrorPolicy::kIgnore);
  image_->fail_writes(EIO);
  EXPECT_EQ(one(kBlkTypeOut, 8), kBlkStatusOk);
  image_->fail_writes(ENOSPC);
  EXPECT_EQ(one(kBlkTypeOut, 8), kBlkStatusOk);
  image_->fail_reads(EIO);
  EXPECT_EQ(one(kBlkTypeIn, 8), kBlkStatusOk);
  image_->fail_flushes(EIO);
  EXPECT_EQ(one(kBlkTypeFlush, 0), kBlkStatusOk);
  EXPECT_FALSE(batch_.stopped());
  // Nothing reached the disk: the guest's data is lost, as documented.
  EXPECT_TRUE(image_->written().empty());
  EXPECT_EQ(image_->byte(8 * 512), 0);
  const auto seen = reports_.seen();
  ASSERT_EQ(seen.size(), 4u);
  for (const auto& e : seen) EXPECT_EQ(e.action, BlkErrorAction::kIgnore);
  const BlkStats s = engine_->stats();
  EXPECT_EQ(s.write.failed, 0u);
  EXPECT_EQ(s.write.ops, 2u);
  EXPECT_EQ(s.write.bytes, 0u);
  EXPECT_EQ(s.read.failed, 0u);
  EXPECT_EQ(s.io_error_count(BlkOperation::kWrite, IoErrorClass::kEio), 1u);
  EXPECT_EQ(s.io_error_count(BlkOperation::kWrite, IoErrorClass::kEnospc), 1u);
}

// Everything executed after a held request is held too, without I/O, so
// that the retry replays the queue's order; what ran before it completes.
TEST_F(PolicyTest, RequestsAfterAHeldOneAreHeldAndRetriedInOrder) {
  make_engine(BlkErrorPolicy::kEnospc, BlkErrorPolicy::kReport);
  image_->fail_sector_with_enospc(200);
  const size_t before = submit(kBlkTypeOut, 100, 0x11);
  const size_t flush1 = submit(kBlkTypeFlush, 0);
  const size_t failing = submit(kBlkTypeOut, 200, 0x22);
  const size_t flush2 = submit(kBlkTypeFlush, 0);
  const size_t after = submit(kBlkTypeOut, 300, 0x33);
  const size_t read = submit(kBlkTypeIn, 100);
  run_batch();
  EXPECT_EQ(status(before), kBlkStatusOk);
  EXPECT_EQ(status(flush1), kBlkStatusOk);
  for (const size_t i : {failing, flush2, after, read}) EXPECT_EQ(status(i), kUntouched) << i;
  EXPECT_EQ(batch_.held_count(), 4u);
  EXPECT_EQ(image_->written(), std::vector<uint64_t>{100});
  EXPECT_EQ(image_->flushes(), 1);
  EXPECT_EQ(reports_.count(), 1u);

  // What the device does on resume: the held ones, again, in their order.
  BlkBatch held;
  held.take_held_from(batch_);
  ASSERT_EQ(held.size(), 4u);
  EXPECT_EQ(held.held_count(), 0u);
  // Still full: held again (and reported again).
  engine_->execute(held);
  EXPECT_TRUE(held.stopped());
  EXPECT_EQ(held.held_count(), 4u);
  EXPECT_EQ(reports_.count(), 2u);
  BlkBatch retry;
  retry.take_held_from(held);
  image_->heal();
  engine_->execute(retry);
  EXPECT_FALSE(retry.stopped());
  for (const size_t i : {failing, flush2, after, read}) EXPECT_EQ(status(i), kBlkStatusOk) << i;
  EXPECT_EQ(image_->written(), (std::vector<uint64_t>{100, 200, 300}));
  EXPECT_EQ(image_->flushes(), 2);
  EXPECT_EQ(image_->byte(200 * 512), 0x22);
  EXPECT_EQ(image_->byte(300 * 512), 0x33);
  // The read's used length covers its data: 512 + the status byte.
  EXPECT_EQ(retry.requests()[3].written, 513u);
}

// --- the device: held requests on the iothread ---

class DevicePolicyTest : public PolicyTest {
 protected:
  void start(BlkErrorPolicy werror) {
    BlkOptions options;
    options.write_error = werror;
    auto device = BlkDevice::create(image_, options, ram_.memory, signals_);
    ASSERT_TRUE(device.ok());
    device_ = std::move(device).value();
    device_->engine().set_io_error_sink("disk0", reports_.sink());
    const uint64_t features = feature_bit(kBlkFeatureFlush) | feature_bit(kFeatureVersion1);
    const QueueLayout layout{256, ring_->desc(), ring_->avail(), ring_->used()};
    ASSERT_TRUE(device_->activate(features, std::span(&layout, 1)).ok());
  }
  bool wait_held(size_t n) {
    for (int i = 0; i < 5000; ++i) {
      if (device_->held_requests() == n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  }

  CountingSignals signals_;
  std::unique_ptr<BlkDevice> device_;
};

TEST_F(DevicePolicyTest, HeldRequestsWaitForRetryAndCompleteInOrder) {
  image_->fail_writes(EIO);
  start(BlkErrorPolicy::kStop);
  for (uint64_t s : {10, 20, 30}) submit(kBlkTypeOut, s, static_cast<uint8_t>(s));
  device_->kick(0);
  ASSERT_TRUE(reports_.wait_for(1));
  ASSERT_TRUE(wait_held(3));
  EXPECT_EQ(ring_->used_idx(), 0);
  // The guest kicks again and queues more: nothing is popped meanwhile.
  submit(kBlkTypeOut, 40, 40);
  device_->kick(0);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(ring_->used_idx(), 0);
  EXPECT_EQ(device_->held_requests(), 3u);
  EXPECT_EQ(image_->write_calls(), 1);  // only the first held one touched the disk
  EXPECT_EQ(reports_.count(), 1u);

  // A resume while the fault lasts: tried again, held again, reported again.
  device_->retry_held();
  ASSERT_TRUE(reports_.wait_for(2));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(device_->held_requests(), 3u);
  EXPECT_EQ(ring_->used_idx(), 0);
  EXPECT_EQ(reports_.seen()[1].action, BlkErrorAction::kStop);

  image_->heal();
  device_->retry_held();
  ASSERT_TRUE(ring_->wait_used(4));
  EXPECT_EQ(device_->held_requests(), 0u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(status(i), kBlkStatusOk) << i;
    // Chains of three descriptors: heads 0, 3, 6, 9 in submission order.
    EXPECT_EQ(ring_->used_id(static_cast<uint16_t>(i)), 3 * i) << "completion order";
  }
  EXPECT_EQ(image_->written(), (std::vector<uint64_t>{10, 20, 30, 40}));
  for (uint64_t s : {10, 20, 30, 40}) EXPECT_EQ(image_->byte(s * 512), s);
  EXPECT_GT(signals_.notifies.load(), 0);
  EXPECT_EQ(reports_.count(), 2u);
  // The queue serves new requests normally again.
  submit(kBlkTypeOut, 50, 50);
  device_->kick(0);
  ASSERT_TRUE(ring_->wait_used(5));
  EXPECT_EQ(status(4), kBlkStatusOk);
  EXPECT_EQ(device_->stats().write.ops, 5u);
  EXPECT_EQ(device_->stats().write.failed, 0u);
}

TEST_F(DevicePolicyTest, EnospcHoldsOnlyTheFullWrites) {
  start(BlkErrorPolicy::kEnospc);
  image_->fail_writes(EIO);
  submit(kBlkTypeOut, 10, 1);
  device_->kick(0);
  ASSERT_TRUE(ring_->wait_used(1));
  EXPECT_EQ(status(0), kBlkStatusIoErr);
  EXPECT_EQ(device_->held_requests(), 0u);
  image_->fail_writes(ENOSPC);
  submit(kBlkTypeOut, 20, 2);
  device_->kick(0);
  ASSERT_TRUE(wait_held(1));
  EXPECT_EQ(status(1), kUntouched);
  const auto seen = reports_.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].action, BlkErrorAction::kReport);
  EXPECT_EQ(seen[1].action, BlkErrorAction::kStop);
  EXPECT_EQ(seen[1].error_class, IoErrorClass::kEnospc);
  image_->heal();
  device_->retry_held();
  ASSERT_TRUE(ring_->wait_used(2));
  EXPECT_EQ(status(1), kBlkStatusOk);
}

TEST_F(DevicePolicyTest, ARetryAskedBeforeTheHoldDoesNotRetryIt) {
  start(BlkErrorPolicy::kStop);
  device_->retry_held();  // a resume with nothing held
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  image_->fail_writes(EIO);
  submit(kBlkTypeOut, 10, 1);
  device_->kick(0);
  ASSERT_TRUE(wait_held(1));
  image_->heal();
  device_->kick(0);  // a guest kick is not a resume
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(ring_->used_idx(), 0);
  EXPECT_EQ(image_->write_calls(), 1);
}

TEST_F(DevicePolicyTest, ResetDropsHeldRequestsWithoutCompletingThem) {
  image_->fail_writes(ENOSPC);
  start(BlkErrorPolicy::kEnospc);
  for (uint64_t s : {10, 20}) submit(kBlkTypeOut, s, 1);
  device_->kick(0);
  ASSERT_TRUE(wait_held(2));
  const auto t0 = std::chrono::steady_clock::now();
  device_->reset();  // joins the iothread: must not wait for the held ones
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  EXPECT_FALSE(device_->active());
  EXPECT_EQ(device_->held_requests(), 0u);
  EXPECT_EQ(ring_->used_idx(), 0);
  EXPECT_EQ(status(0), kUntouched);
  EXPECT_EQ(status(1), kUntouched);
  // A resume after the reset finds nothing to retry.
  image_->heal();
  device_->retry_held();
  EXPECT_EQ(image_->write_calls(), 1);
  EXPECT_EQ(signals_.resets.load(), 0);

  // The guest sets the device up again (a fresh ring): it works.
  ring_ = std::make_unique<TestRing>(ram_, kRing + 0x8000, 256);
  statuses_.clear();
  const uint64_t features = feature_bit(kBlkFeatureFlush) | feature_bit(kFeatureVersion1);
  const QueueLayout layout{256, ring_->desc(), ring_->avail(), ring_->used()};
  ASSERT_TRUE(device_->activate(features, std::span(&layout, 1)).ok());
  submit(kBlkTypeOut, 30, 3);
  device_->kick(0);
  ASSERT_TRUE(ring_->wait_used(1));
  EXPECT_EQ(status(0), kBlkStatusOk);
  EXPECT_EQ(image_->written(), std::vector<uint64_t>{30});
}

TEST_F(DevicePolicyTest, DestroyingADeviceThatHoldsRequestsReturns) {
  image_->fail_writes(EIO);
  start(BlkErrorPolicy::kStop);
  submit(kBlkTypeOut, 10, 1);
  device_->kick(0);
  ASSERT_TRUE(wait_held(1));
  device_->retry_held();  // a retry in flight while the device goes away
  device_.reset();
  EXPECT_EQ(ring_->used_idx(), 0);
}

}  // namespace
}  // namespace amber::hv::virtio
