// SPDX-License-Identifier: GPL-2.0-or-later
// Hostile guests against the virtio-PCI transport and virtio-blk's
// iothreads: a ring that refills itself forever (each READ rewrites its own
// request header and the avail index), and DRIVER_OK set a second time
// without a reset while that ring keeps the iothread busy. Reset, PCI
// reset and destruction must still return promptly, and nothing may crash
// (the sanitizer build checks the iothread's accesses too).
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>

#include "hv/bus/io_bus.h"
#include "hv/pci/host_bridge.h"
#include "hv/virtio/blk_device.h"
#include "hv/virtio/blk_pci.h"
#include "hv/virtio/pci_transport.h"
#include "hv/virtio/virtio_spec.h"
#include "virtio_test_support.h"

namespace amber::hv::virtio {
namespace {

using test::GuestRam;
using test::MemImage;
using test::TestRing;

constexpr uint64_t kModernBase = 0xFE800000;
constexpr uint64_t kRing = 0x10000;
constexpr uint16_t kRingSize = 16;
// 65536 sectors: sector k names sector k + 1 and avail index k + 2, both
// modulo 2^16, so the loop never ends on its own.
constexpr uint64_t kSectors = 65536;
// How long a reset may take before the test calls it a hang.
constexpr auto kResetDeadline = std::chrono::seconds(5);

class HostilePciTest : public ::testing::Test {
 protected:
  void SetUp() override {
    image_ = std::make_shared<MemImage>(kSectors * 512);
    std::vector<uint8_t> sector(512, 0);
    for (uint64_t k = 0; k < kSectors; ++k) {
      const uint64_t next_sector = (k + 1) % kSectors;
      const auto next_avail = static_cast<uint16_t>(k + 2);
      std::memcpy(sector.data(), &next_sector, 8);
      std::memcpy(sector.data() + 8, &next_avail, 2);
      const iovec v{sector.data(), sector.size()};
      ASSERT_TRUE(image_->writev(k * 512, std::span(&v, 1)).ok());
    }
    BlkOptions options;
    auto made = make_virtio_blk_pci(image_, options, ram_.memory, irq_, io_, 4);
    ASSERT_TRUE(made.ok());
    dev_ = std::move(made).value().transport;
  }
  void TearDown() override {
    // Destruction (the guest's exit) joins the iothreads too.
    if (dev_ != nullptr) {
      EXPECT_TRUE(finishes([this] { dev_.reset(); }));
    }
  }

  void set_common(uint64_t offset, unsigned size, uint64_t value) {
    uint8_t bytes[8];
    std::memcpy(bytes, &value, 8);
    dev_->bar_write(VirtioPciTransport::kModernBar, offset, std::span<const uint8_t>(bytes, size));
  }
  uint8_t status() { return dev_->device_status(); }

  // Modern bring-up of one ring whose only request reads sector S into
  // (its own header's sector field, the avail index, scratch).
  void start_self_refilling_ring() {
    dev_->config_write(0x20, 4, static_cast<uint32_t>(kModernBase));
    dev_->config_write(0x24, 4, 0);
    dev_->config_write(0x04, 2, pci::kCommandMemory | pci::kCommandBusMaster);
    dev_->bar_remapped(VirtioPciTransport::kModernBar, dev_->bar(VirtioPciTransport::kModernBar));
    TestRing ring(ram_, kRing, kRingSize);
    const uint64_t header = ram_.alloc(16), scratch = ram_.alloc(502), st = ram_.alloc(1);
    ram_.put<uint32_t>(header, kBlkTypeIn);
    ram_.put<uint64_t>(header + 8, 0);
    const uint16_t head = ring.build({{header, 16, false},
                                      {header + 8, 8, true},
                                      {ring.avail() + 2, 2, true},
                                      {scratch, 502, true},
                                      {st, 1, true}});
    for (uint16_t i = 0; i < kRingSize; ++i) ram_.put<uint16_t>(ring.avail() + 4 + 2 * i, head);
    ring.set_avail_idx(1);
    set_common(kCommonDeviceStatus, 1, kStatusAcknowledge | kStatusDriver);
    set_common(kCommonDriverFeatureSelect, 4, 1);
    set_common(kCommonDriverFeature, 4, 1);  // VERSION_1
    set_common(kCommonDeviceStatus, 1, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
    set_common(kCommonQueueSelect, 2, 0);
    set_common(kCommonQueueSize, 2, kRingSize);
    set_common(kCommonQueueDesc, 8, ring.desc());
    set_common(kCommonQueueDriver, 8, ring.avail());
    set_common(kCommonQueueDevice, 8, ring.used());
    set_common(kCommonQueueEnable, 2, 1);
    set_common(kCommonDeviceStatus, 1, kDriverOkStatus);
    avail_ = ring.avail();
    // The ring is live: the header's sector field keeps moving.
    ASSERT_TRUE(header_moves(header));
    header_ = header;
  }
  bool header_moves(uint64_t header) {
    const uint64_t first = ram_.get<uint64_t>(header + 8);
    for (int i = 0; i < 2000; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      if (ram_.get<uint64_t>(header + 8) > first + 100) return true;
    }
    return false;
  }
  // Runs `action` on its own thread. If it has not returned by the
  // deadline, breaks the guest's loop (zeroes the disk, so the next READ
  // writes an avail index the queue refuses) so that the test can end,
  // and reports the hang.
  bool finishes(std::function<void()> action) {
    auto done = std::async(std::launch::async, std::move(action));
    if (done.wait_for(kResetDeadline) == std::future_status::ready) return true;
    image_->fill(0, kSectors * 512, 0);
    done.wait();
    return false;
  }

  static constexpr uint8_t kDriverOkStatus =
      kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk;
  GuestRam ram_;
  std::shared_ptr<MemImage> image_;
  test::FakeInterrupts irq_;
  test::FakeIoEvents io_;
  std::unique_ptr<VirtioPciTransport> dev_;
  uint64_t header_ = 0;
  uint64_t avail_ = 0;
};

TEST_F(HostilePciTest, DeviceResetStopsASelfRefillingRing) {
  start_self_refilling_ring();
  EXPECT_TRUE(finishes([this] { set_common(kCommonDeviceStatus, 1, 0); }));
  EXPECT_EQ(status(), 0u);
  // Nothing runs after the reset: the header stays where it is.
  const uint64_t sector = ram_.get<uint64_t>(header_ + 8);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(ram_.get<uint64_t>(header_ + 8), sector);
}

TEST_F(HostilePciTest, PciResetStopsASelfRefillingRing) {
  start_self_refilling_ring();  // a machine reset (0xCF9) resets every PCI function
  EXPECT_TRUE(finishes([this] { dev_->reset(); }));
  EXPECT_EQ(status(), 0u);
}

TEST_F(HostilePciTest, DestructionStopsASelfRefillingRing) {
  start_self_refilling_ring();  // TearDown destroys the device under the loop
}

TEST_F(HostilePciTest, DriverOkAgainWithoutResetIsAProtocolError) {
  start_self_refilling_ring();
  // Drop DRIVER_OK (not a reset), then set it again while the iothread
  // runs; again and again, restarting the loop each time, as the guest
  // that found it did (a re-activation resets the ring under the thread).
  for (int i = 0; i < 300; ++i) {
    set_common(kCommonDeviceStatus, 1, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
    ram_.put<uint64_t>(header_ + 8, 0);
    ram_.put<uint16_t>(avail_ + 2, 1);
    set_common(kCommonDeviceStatus, 1, kDriverOkStatus);
    set_common(VirtioPciTransport::kNotifyOffset, 2, 0);  // doorbell of queue 0
  }
  EXPECT_TRUE(status() & kStatusNeedsReset);
  // The device was not re-activated under its iothread; a reset recovers.
  EXPECT_TRUE(finishes([this] { set_common(kCommonDeviceStatus, 1, 0); }));
  EXPECT_EQ(status(), 0u);
}

// A port device that only counts what reaches it (stands for fw_cfg).
class CountingPorts final : public bus::IoDevice {
 public:
  void io_read(uint64_t, std::span<uint8_t> data) override {
    std::fill(data.begin(), data.end(), 0);
  }
  void io_write(uint64_t, std::span<const uint8_t>) override { ++writes; }
  int writes = 0;
};

// Through the real host bridge: a BAR the bridge refuses (it overlaps
// another device) must not get doorbell ioeventfds at that address.
class RefusedBarTest : public HostilePciTest {
 protected:
  void SetUp() override {
    HostilePciTest::SetUp();
    ASSERT_TRUE(pio_.add(0x510, 2, &fw_cfg_, "fw_cfg").ok());
    ASSERT_TRUE(bridge_.attach(4, 0, dev_.get()).ok());
  }
  void cfg(unsigned offset, unsigned size, uint32_t value) {
    bridge_.config_write(4 << 3, offset, size, value);
  }
  bool registered_at(IoSpace space, uint64_t address) {
    for (const auto& e : io_.entries)
      if (e.space == space && e.address == address) return true;
    return false;
  }
  bus::IoBus pio_{"pio"};
  bus::IoBus mmio_{"mmio"};
  pci::HostBridge bridge_{pio_, mmio_, nullptr};
  CountingPorts fw_cfg_;
};

TEST_F(RefusedBarTest, LegacyBarOverFwCfgGetsNoDoorbell) {
  // BAR0 (128 bytes) at 0x500 would cover fw_cfg's selector at 0x510,
  // exactly where the legacy QUEUE_NOTIFY doorbell (0x10) falls.
  cfg(0x10, 4, 0x500);
  cfg(0x04, 2, pci::kCommandIo);
  EXPECT_FALSE(registered_at(IoSpace::kPio, 0x500 + kLegacyQueueNotify));
  EXPECT_TRUE(io_.entries.empty());
  // Moved to a free place, the doorbell follows.
  cfg(0x10, 4, 0xC000);
  EXPECT_TRUE(registered_at(IoSpace::kPio, 0xC000 + kLegacyQueueNotify));
  // And back over fw_cfg: the old doorbell goes, no new one appears.
  cfg(0x10, 4, 0x500);
  EXPECT_TRUE(io_.entries.empty());
}

TEST_F(RefusedBarTest, ModernBarOverMsixBarGetsNoDoorbell) {
  const uint32_t msix_base = 0xFE003000;  // BAR1: the MSI-X table, 4 KiB
  cfg(0x14, 4, msix_base);
  cfg(0x04, 2, pci::kCommandMemory);
  cfg(0x20, 4, 0xFE800000);
  cfg(0x24, 4, 0);
  EXPECT_TRUE(registered_at(IoSpace::kMmio, 0xFE800000 + VirtioPciTransport::kNotifyOffset));
  // BAR4 (16 KiB) moved to 0xFE000000 would put its notify region (0x3000)
  // over BAR1: refused, so no doorbell may eat MSI-X table writes.
  cfg(0x20, 4, 0xFE000000);
  EXPECT_FALSE(registered_at(IoSpace::kMmio, 0xFE000000 + VirtioPciTransport::kNotifyOffset));
  EXPECT_TRUE(io_.entries.empty());
}

}  // namespace
}  // namespace amber::hv::virtio
