// SPDX-License-Identifier: GPL-2.0-or-later
// An IDE disk's query-block counters and its werror= / rerror= policies
// (hv/devices/ide_bus.h) over an image that fails chosen calls:
//  - every PIO block and DMA transfer is counted (ops, bytes, failures,
//    io_errors by errno class);
//  - report: ERR with UNC (reads) or ABRT (writes, flushes);
//  - ignore: the command completes as if the call had worked;
//  - stop (and enospc for ENOSPC): the command is held with BSY (a DMA
//    keeps the bus master active), the sink sees a "stop" event, nothing
//    completes until retry_held(), which fails and holds again while the
//    fault lasts and completes the command once it is gone; a reset drops
//    a held command.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "hv/devices/ide_bus.h"
#include "tests/unit/virtio/flaky_image.h"

namespace amber::hv::devices {
namespace {

using virtio::BlkErrorAction;
using virtio::BlkErrorPolicy;
using virtio::BlkOperation;
using virtio::IoErrorClass;
using virtio::test::FlakyImage;

constexpr uint64_t kRamSize = 1 << 20;

class IdePolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ram_.assign(kRamSize, 0);
    ASSERT_TRUE(memory_.add_region(0, kRamSize, ram_.data()));
  }
  void make_bus(BlkErrorPolicy write_error, BlkErrorPolicy read_error) {
    image_ = std::make_shared<FlakyImage>();
    bus_ = std::make_unique<IdeBus>(0, memory_, [](bool) {});
    IdeDriveConfig config;
    config.image = image_;
    config.label = "ide0-0";
    config.write_error = write_error;
    config.read_error = read_error;
    bus_->attach(0, config);
    bus_->set_io_error_sink(0,
                            [this](const virtio::BlkIoError& e) { actions_.push_back(e.action); });
    bus_->reset();
  }
  uint8_t reg(unsigned offset) { return static_cast<uint8_t>(bus_->read_command_block(offset, 1)); }
  void set(unsigned offset, uint8_t v) { bus_->write_command_block(offset, 1, v); }
  void lba28(uint32_t lba, uint8_t count) {
    set(2, count);
    set(3, static_cast<uint8_t>(lba));
    set(4, static_cast<uint8_t>(lba >> 8));
    set(5, static_cast<uint8_t>(lba >> 16));
    set(6, static_cast<uint8_t>(0xE0 | ((lba >> 24) & 0x0F)));
  }
  void write_pio(uint8_t fill, size_t bytes) {
    for (size_t i = 0; i < bytes; i += 2) bus_->write_command_block(0, 2, fill | fill << 8);
  }
  void read_pio(size_t bytes) {
    for (size_t i = 0; i < bytes; i += 2) (void)bus_->read_command_block(0, 2);
  }
  // One PRD entry for `bytes` at 0x10000, table at 0x1000; starts the bus master.
  void dma(uint8_t command, uint32_t lba, uint8_t count, bool to_memory) {
    const uint32_t bytes = count * 512u;
    uint8_t e[8] = {
        0x00, 0x00, 0x01, 0x00, static_cast<uint8_t>(bytes), static_cast<uint8_t>(bytes >> 8),
        0,    0x80};
    std::memcpy(ram_.data() + 0x1000, e, 8);
    lba28(lba, count);
    set(7, command);
    bus_->write_bus_master(4, 4, 0x1000);
    bus_->write_bus_master(0, 1, (to_memory ? kBmCommandToMemory : 0) | kBmCommandStart);
  }
  uint8_t bm_status() { return static_cast<uint8_t>(bus_->read_bus_master(2, 1)); }

  std::vector<uint8_t> ram_;
  GuestMemory memory_;
  std::shared_ptr<FlakyImage> image_;
  std::unique_ptr<IdeBus> bus_;
  std::vector<BlkErrorAction> actions_;
};

TEST_F(IdePolicyTest, CountersOfPioAndDma) {
  make_bus(BlkErrorPolicy::kEnospc, BlkErrorPolicy::kReport);
  lba28(8, 2);
  set(7, 0x20);  // READ SECTORS: one 512-byte block per DRQ, two image reads
  read_pio(1024);
  lba28(16, 1);
  set(7, 0x30);  // WRITE SECTORS
  write_pio(0xAB, 512);
  dma(0xCA, 32, 4, false);  // WRITE DMA
  EXPECT_EQ(reg(7), kAtaDrdy | kAtaDsc);
  set(7, 0xE7);  // FLUSH CACHE
  const virtio::BlkStats s = bus_->stats(0);
  EXPECT_EQ(s.read.ops, 2u);
  EXPECT_EQ(s.read.bytes, 1024u);
  EXPECT_EQ(s.write.ops, 2u);
  EXPECT_EQ(s.write.bytes, 512u + 2048u);
  EXPECT_EQ(s.flush.ops, 1u);
  EXPECT_EQ(s.read.failed + s.write.failed + s.flush.failed, 0u);
  EXPECT_EQ(bus_->stats(1).read.ops, 0u);  // no drive: zeros
  EXPECT_EQ(image_->byte(16 * 512), 0xAB);
}

TEST_F(IdePolicyTest, ReportAndIgnore) {
  make_bus(BlkErrorPolicy::kReport, BlkErrorPolicy::kIgnore);
  image_->fail_writes(EIO);
  lba28(16, 1);
  set(7, 0x30);
  write_pio(0x11, 512);
  EXPECT_EQ(reg(7), kAtaDrdy | kAtaErr);
  EXPECT_EQ(reg(1), kAtaAbrt);
  image_->fail_reads(EIO);
  lba28(0, 1);
  set(7, 0x20);  // rerror=ignore: the guest gets a block as if it worked
  EXPECT_EQ(reg(7) & (kAtaDrq | kAtaErr), kAtaDrq);
  read_pio(512);
  EXPECT_EQ(reg(7), kAtaDrdy | kAtaDsc);
  const virtio::BlkStats s = bus_->stats(0);
  EXPECT_EQ(s.write.failed, 1u);
  EXPECT_EQ(s.read.failed, 0u);
  EXPECT_EQ(s.read.ops, 1u);
  EXPECT_EQ(s.io_error_count(BlkOperation::kWrite, IoErrorClass::kEio), 1u);
  EXPECT_EQ(s.io_error_count(BlkOperation::kRead, IoErrorClass::kEio), 1u);
  ASSERT_EQ(actions_.size(), 2u);
  EXPECT_EQ(actions_[0], BlkErrorAction::kReport);
  EXPECT_EQ(actions_[1], BlkErrorAction::kIgnore);
  EXPECT_FALSE(bus_->holding());
}

TEST_F(IdePolicyTest, EnospcStopsPioWriteUntilRetried) {
  make_bus(BlkErrorPolicy::kEnospc, BlkErrorPolicy::kReport);
  image_->fail_writes(ENOSPC);
  lba28(16, 1);
  set(7, 0x30);
  write_pio(0x5C, 512);
  EXPECT_TRUE(bus_->holding());
  EXPECT_EQ(reg(7) & (kAtaBsy | kAtaErr), kAtaBsy);
  ASSERT_EQ(actions_.size(), 1u);
  EXPECT_EQ(actions_[0], BlkErrorAction::kStop);
  bus_->retry_held();  // still full: held again, stop reported again
  EXPECT_TRUE(bus_->holding());
  EXPECT_EQ(actions_.size(), 2u);
  image_->heal();
  bus_->retry_held();
  EXPECT_FALSE(bus_->holding());
  EXPECT_EQ(reg(7), kAtaDrdy | kAtaDsc);
  EXPECT_EQ(image_->byte(16 * 512), 0x5C);
  const virtio::BlkStats s = bus_->stats(0);
  EXPECT_EQ(s.write.ops, 1u);  // held attempts are not requests of their own
  EXPECT_EQ(s.write.failed, 0u);
  EXPECT_EQ(s.io_error_count(BlkOperation::kWrite, IoErrorClass::kEnospc), 2u);
  // An EIO write under enospc is reported, not held.
  image_->fail_writes(EIO);
  lba28(17, 1);
  set(7, 0x30);
  write_pio(0x5C, 512);
  EXPECT_FALSE(bus_->holding());
  EXPECT_EQ(reg(7) & kAtaErr, kAtaErr);
}

TEST_F(IdePolicyTest, StopHoldsDmaReadAndFlush) {
  make_bus(BlkErrorPolicy::kStop, BlkErrorPolicy::kStop);
  image_->fail_reads(EIO);
  dma(0xC8, 0, 2, true);  // READ DMA
  EXPECT_TRUE(bus_->holding());
  EXPECT_EQ(bm_status() & (kBmStatusActive | kBmStatusInterrupt), kBmStatusActive);
  EXPECT_EQ(reg(7) & kAtaBsy, kAtaBsy);
  image_->heal();
  bus_->retry_held();
  EXPECT_FALSE(bus_->holding());
  EXPECT_EQ(bm_status() & (kBmStatusActive | kBmStatusInterrupt), kBmStatusInterrupt);
  EXPECT_EQ(reg(7), kAtaDrdy | kAtaDsc);
  EXPECT_EQ(bus_->stats(0).read.ops, 1u);
  EXPECT_EQ(bus_->stats(0).read.bytes, 1024u);
  bus_->write_bus_master(0, 1, 0);

  image_->fail_flushes(EIO);
  set(7, 0xE7);
  EXPECT_TRUE(bus_->holding());
  bus_->retry_held();
  EXPECT_TRUE(bus_->holding());
  image_->heal();
  const int before = image_->flushes();
  bus_->retry_held();
  EXPECT_EQ(image_->flushes(), before + 1);
  EXPECT_EQ(reg(7), kAtaDrdy | kAtaDsc);

  // A reset drops a held command; a later retry does nothing.
  image_->fail_writes(EIO);
  lba28(3, 1);
  set(7, 0x30);
  write_pio(0x77, 512);
  EXPECT_TRUE(bus_->holding());
  bus_->reset();
  EXPECT_FALSE(bus_->holding());
  image_->heal();
  bus_->retry_held();
  EXPECT_EQ(image_->written().size(), 0u);
}

}  // namespace
}  // namespace amber::hv::devices
