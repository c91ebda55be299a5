// SPDX-License-Identifier: GPL-2.0-or-later
// virtio-scsi on its iothreads (ScsiDevice::activate): several request
// queues (num_queues in the config space, each queue served by its own
// thread: a request on the second request queue, virtqueue 3, completes
// there while virtqueue 2 is idle), the disks' query-block counters, and
// werror= / rerror= as QEMU's scsi-disk has them: report (MEDIUM ERROR),
// ignore (GOOD) and stop: the request is not answered, its queue pops
// nothing more, retry_held() (the VM resumed) runs it again, it is held
// again while the fault lasts and answered once it is gone; a reset
// drops it.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "hv/virtio/scsi_device.h"
#include "hv/virtio/virtio_spec.h"
#include "tests/unit/virtio/flaky_image.h"
#include "virtio_test_support.h"

namespace amber::hv::virtio {
namespace {

using test::Buf;
using test::FlakyImage;
using test::GuestRam;
using test::TestRing;

constexpr unsigned kRequestQueues = 2;
constexpr uint16_t kRingSize = 64;

class QuietSignals final : public DeviceSignals {
 public:
  void notify_queue(unsigned) override {}
  void needs_reset(const Error&) override { ++resets; }
  std::atomic<int> resets{0};
};

class ScsiQueueTest : public ::testing::Test {
 protected:
  void start(BlkErrorPolicy write_error, BlkErrorPolicy read_error) {
    image_ = std::make_shared<FlakyImage>();
    ScsiDiskOptions options;
    options.label = "scsi0-0-0";
    options.write_error = write_error;
    options.read_error = read_error;
    disk_ = std::make_shared<ScsiDisk>(image_, options);
    disk_->set_io_error_sink([this](const BlkIoError& e) {
      std::lock_guard lock(mutex_);
      actions_.push_back(e.action);
    });
    std::vector<ScsiLun> luns;
    luns.push_back({0, 0, disk_});
    auto device = ScsiDevice::create(std::move(luns), kRequestQueues, ram_.memory, signals_);
    ASSERT_TRUE(device.ok());
    device_ = std::move(device).value();
    std::vector<QueueLayout> layouts;
    for (unsigned i = 0; i < kRequestQueues + 2; ++i) {
      rings_.push_back(std::make_unique<TestRing>(ram_, 0x10000 * (i + 1), kRingSize));
      layouts.push_back({kRingSize, rings_[i]->desc(), rings_[i]->avail(), rings_[i]->used()});
    }
    ASSERT_TRUE(device_->activate(feature_bit(kFeatureVersion1), layouts).ok());
    // The power-on UNIT ATTENTION, taken as a guest's first TEST UNIT READY does.
    EXPECT_EQ(status(submit(2, {0x00}, 0), 2, 1), kScsiStatusCheckCondition);
  }
  // A request on virtqueue `queue`: CDB, `data_out` bytes of `fill` or
  // `data_in` bytes to receive. Returns the response's address.
  uint64_t submit(unsigned queue, std::vector<uint8_t> cdb, uint32_t data_in, uint32_t data_out = 0,
                  uint8_t fill = 0) {
    const uint64_t header = ram_.alloc(51);
    std::vector<uint8_t> bytes(51, 0);
    bytes[0] = 1;  // lun[0]; target 0, LUN 0
    bytes[2] = 0x40;
    std::copy(cdb.begin(), cdb.end(), bytes.begin() + 19);
    std::memcpy(ram_.at(header), bytes.data(), bytes.size());
    const uint64_t resp = ram_.alloc(108);
    std::memset(ram_.at(resp), 0xEE, 108);
    std::vector<Buf> bufs{{header, 51, false}};
    if (data_out != 0) {
      const uint64_t out = ram_.alloc(data_out);
      std::memset(ram_.at(out), fill, data_out);
      bufs.push_back({out, data_out, false});
    }
    bufs.push_back({resp, 108, true});
    if (data_in != 0) bufs.push_back({ram_.alloc(data_in), data_in, true});
    rings_[queue]->publish(rings_[queue]->build(bufs));
    device_->kick(queue);
    return resp;
  }
  // The status byte once `count` requests of `queue` completed; 0xFF if
  // they did not within 5 s.
  uint8_t status(uint64_t resp, unsigned queue, uint16_t count) {
    if (!rings_[queue]->wait_used(count)) return 0xFF;
    return ram_.get<uint8_t>(resp + 10);
  }
  size_t actions() {
    std::lock_guard lock(mutex_);
    return actions_.size();
  }
  bool wait_held(size_t n) {
    for (int i = 0; i < 5000; ++i) {
      if (device_->held_requests() == n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  }
  static std::vector<uint8_t> write10(uint32_t lba) {
    return {0x2A, 0, 0, 0, static_cast<uint8_t>(lba >> 8), static_cast<uint8_t>(lba), 0, 0, 1, 0};
  }
  static std::vector<uint8_t> read10(uint32_t lba) {
    return {0x28, 0, 0, 0, static_cast<uint8_t>(lba >> 8), static_cast<uint8_t>(lba), 0, 0, 1, 0};
  }

  GuestRam ram_;
  QuietSignals signals_;
  std::shared_ptr<FlakyImage> image_;
  std::shared_ptr<ScsiDisk> disk_;
  std::unique_ptr<ScsiDevice> device_;
  std::vector<std::unique_ptr<TestRing>> rings_;
  std::mutex mutex_;
  std::vector<BlkErrorAction> actions_;
};

TEST_F(ScsiQueueTest, NumQueuesAndTheSecondRequestQueue) {
  start(BlkErrorPolicy::kEnospc, BlkErrorPolicy::kReport);
  uint8_t config[4];
  device_->read_config(0, config);
  uint32_t num_queues;
  std::memcpy(&num_queues, config, 4);
  EXPECT_EQ(num_queues, kRequestQueues);
  EXPECT_EQ(device_->num_queues(), kRequestQueues + 2);
  // Virtqueue 3 serves a write and a read on its own thread.
  EXPECT_EQ(status(submit(3, write10(7), 0, 512, 0x3C), 3, 1), kScsiStatusGood);
  EXPECT_EQ(image_->byte(7 * 512), 0x3C);
  EXPECT_EQ(status(submit(3, read10(7), 512), 3, 2), kScsiStatusGood);
  EXPECT_EQ(rings_[2]->used_idx(), 1);  // virtqueue 2 answered only the first TUR
  // And virtqueue 2 still serves too.
  EXPECT_EQ(status(submit(2, {0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0), 2, 2), kScsiStatusGood);
  const BlkStats s = disk_->stats();
  EXPECT_EQ(s.write.ops, 1u);
  EXPECT_EQ(s.write.bytes, 512u);
  EXPECT_EQ(s.read.ops, 1u);
  EXPECT_EQ(s.read.bytes, 512u);
  EXPECT_EQ(s.flush.ops, 1u);
}

TEST_F(ScsiQueueTest, ReportAndIgnore) {
  start(BlkErrorPolicy::kIgnore, BlkErrorPolicy::kReport);
  image_->fail_writes(EIO);
  image_->fail_reads(EIO);
  EXPECT_EQ(status(submit(2, write10(1), 0, 512, 1), 2, 2), kScsiStatusGood);  // ignored
  const uint64_t resp = submit(2, read10(1), 512);
  EXPECT_EQ(status(resp, 2, 3), kScsiStatusCheckCondition);
  EXPECT_EQ(ram_.get<uint8_t>(resp + 12 + 2), kSenseMediumError);
  const BlkStats s = disk_->stats();
  EXPECT_EQ(s.write.failed, 0u);
  EXPECT_EQ(s.read.failed, 1u);
  EXPECT_EQ(s.io_error_count(BlkOperation::kWrite, IoErrorClass::kEio), 1u);
  EXPECT_EQ(s.io_error_count(BlkOperation::kRead, IoErrorClass::kEio), 1u);
  EXPECT_EQ(actions(), 2u);
}

TEST_F(ScsiQueueTest, StopHoldsTheRequestUntilRetried) {
  start(BlkErrorPolicy::kEnospc, BlkErrorPolicy::kStop);
  image_->fail_writes(ENOSPC);
  const uint64_t held = submit(3, write10(9), 0, 512, 0x99);
  ASSERT_TRUE(wait_held(1));
  // The queue pops nothing more while it holds; the other queue serves.
  submit(3, {0x00}, 0);
  EXPECT_EQ(status(submit(2, {0x00}, 0), 2, 2), kScsiStatusGood);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(rings_[3]->used_idx(), 0);
  EXPECT_EQ(ram_.get<uint8_t>(held + 10), 0xEE);  // not answered
  EXPECT_EQ(actions(), 1u);
  device_->retry_held();  // still failing: held again, a stop reported again
  for (int i = 0; i < 5000 && actions() < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(actions(), 2u);
  EXPECT_EQ(device_->held_requests(), 1u);
  image_->heal();
  device_->retry_held();
  ASSERT_TRUE(rings_[3]->wait_used(2));  // the held write, then the TUR behind it
  EXPECT_EQ(ram_.get<uint8_t>(held + 10), kScsiStatusGood);
  EXPECT_EQ(rings_[3]->used_id(0), 0u);  // the write's chain first
  EXPECT_EQ(image_->byte(9 * 512), 0x99);
  EXPECT_EQ(device_->held_requests(), 0u);
  EXPECT_EQ(disk_->stats().write.ops, 1u);
  // rerror=stop holds a read; a device reset drops it.
  image_->fail_reads(EIO);
  submit(2, read10(9), 512);
  ASSERT_TRUE(wait_held(1));
  device_->reset();
  EXPECT_EQ(device_->held_requests(), 0u);
  EXPECT_EQ(signals_.resets.load(), 0);
}

}  // namespace
}  // namespace amber::hv::virtio
