// SPDX-License-Identifier: GPL-2.0-or-later
// End-to-end tests of the transitional virtio-PCI transport with virtio-blk, driven the
// way SeaBIOS / Windows viostor (legacy I/O BAR, INTx or MSI-X) and Linux
// (modern capabilities, MSI-X, EVENT_IDX, MQ) drive it, with synthetic
// guest RAM and fake interrupt / ioeventfd sinks.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <string>

#include "hv/virtio/blk_device.h"
#include "hv/virtio/blk_pci.h"
#include "hv/virtio/pci_transport.h"
#include "virtio_test_support.h"

namespace amber::hv::virtio {
namespace {

using test::Buf;
using test::GuestRam;
using test::MemImage;
using test::TestRing;

constexpr uint64_t kIoBase = 0xC000;
constexpr uint64_t kMsixBase = 0xFE000000;
constexpr uint64_t kModernBase = 0xFE800000;
constexpr uint64_t kRing0 = 0x10000;
constexpr uint64_t kRing1 = 0x20000;
constexpr uint32_t kConfigMsiData = 0x40;
constexpr uint32_t kQueueMsiData = 0x41;

class PciTest : public ::testing::Test {
 protected:
  void make(unsigned queues = 1, block::DiscardMode discard = block::DiscardMode::kIgnore) {
    image_ = std::make_shared<MemImage>(1 << 20);
    BlkOptions o;
    o.queues = queues;
    o.discard = discard;
    o.serial = "disk0";
    auto r = make_virtio_blk_pci(image_, o, ram_.memory, irq_, io_, 4);
    ASSERT_TRUE(r.ok());
    VirtioBlkPci blk = std::move(r).value();
    dev_ = std::move(blk.transport);
    blk_ = blk.device;
  }
  pci::PciDevice& pci() { return *dev_; }
  uint32_t cfg(unsigned off, unsigned size) { return pci().config_read(off, size); }
  void set_cfg(unsigned off, unsigned size, uint32_t v) { pci().config_write(off, size, v); }
  void map_bars() {
    set_cfg(0x10, 4, kIoBase);
    set_cfg(0x14, 4, kMsixBase);
    set_cfg(0x20, 4, static_cast<uint32_t>(kModernBase));
    set_cfg(0x24, 4, 0);
    set_cfg(0x04, 2, pci::kCommandIo | pci::kCommandMemory | pci::kCommandBusMaster);
    for (unsigned i : {0u, 1u, 4u}) pci().bar_remapped(i, pci().bar(i));
  }
  uint64_t rd(unsigned bar, uint64_t off, unsigned size) {
    uint8_t b[8] = {};
    pci().bar_read(bar, off, std::span(b, size));
    uint64_t v = 0;
    std::memcpy(&v, b, size);
    return v;
  }
  void wr(unsigned bar, uint64_t off, unsigned size, uint64_t v) {
    uint8_t b[8];
    std::memcpy(b, &v, 8);
    pci().bar_write(bar, off, std::span<const uint8_t>(b, size));
  }
  uint64_t common(uint64_t off, unsigned size) { return rd(4, off, size); }
  void set_common(uint64_t off, unsigned size, uint64_t v) { wr(4, off, size, v); }
  // Offset of the capability with this id (and vendor cfg_type), or 0.
  unsigned find_cap(uint8_t id, uint8_t type = 0) {
    for (unsigned p = cfg(0x34, 1); p != 0; p = cfg(p + 1, 1)) {
      if (cfg(p, 1) == id && (type == 0 || cfg(p + 3, 1) == type)) return p;
    }
    return 0;
  }
  void enable_msix() {
    const unsigned cap = find_cap(pci::kCapabilityMsix);
    set_cfg(cap + 2, 2, 0x8000);
    for (unsigned v = 0; v < 3; ++v) {
      wr(1, v * 16, 4, 0xFEE00000);
      wr(1, v * 16 + 4, 4, 0);
      wr(1, v * 16 + 8, 4, kConfigMsiData + v);
      wr(1, v * 16 + 12, 4, 0);  // unmask
    }
  }
  // Modern bring-up of `queues` rings of `size`, with MSI-X vectors
  // config = 0, queue i = i + 1.
  void modern_setup(uint64_t driver_low, unsigned queues = 1, uint16_t size = 128) {
    map_bars();
    enable_msix();
    set_common(kCommonDeviceStatus, 1, kStatusAcknowledge | kStatusDriver);
    set_common(kCommonDeviceFeatureSelect, 4, 0);
    const uint64_t low = common(kCommonDeviceFeature, 4);
    set_common(kCommonDriverFeatureSelect, 4, 0);
    set_common(kCommonDriverFeature, 4, low & driver_low);
    set_common(kCommonDriverFeatureSelect, 4, 1);
    set_common(kCommonDriverFeature, 4, 1);  // VERSION_1
    set_common(kCommonDeviceStatus, 1, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
    ASSERT_TRUE(common(kCommonDeviceStatus, 1) & kStatusFeaturesOk);
    set_common(kCommonMsixConfig, 2, 0);
    for (unsigned q = 0; q < queues; ++q) {
      rings_.push_back(std::make_unique<TestRing>(ram_, q == 0 ? kRing0 : kRing1, size));
      TestRing& r = *rings_.back();
      set_common(kCommonQueueSelect, 2, q);
      set_common(kCommonQueueSize, 2, size);
      set_common(kCommonQueueMsixVector, 2, q + 1);
      set_common(kCommonQueueDesc, 4, r.desc());
      set_common(kCommonQueueDesc + 4, 4, 0);
      set_common(kCommonQueueDriver, 8, r.avail());  // a 64-bit store works too
      set_common(kCommonQueueDevice, 4, r.used());
      set_common(kCommonQueueDevice + 4, 4, 0);
      set_common(kCommonQueueEnable, 2, 1);
    }
    set_common(kCommonDeviceStatus, 1,
               kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
  }
  // Legacy bring-up (SeaBIOS style): 256-entry ring at kRing0 via QUEUE_PFN.
  void legacy_setup(uint32_t guest_features, uint64_t ring = kRing0) {
    map_bars();
    wr(0, kLegacyStatus, 1, kStatusAcknowledge | kStatusDriver);
    wr(0, kLegacyGuestFeatures, 4, rd(0, kLegacyHostFeatures, 4) & guest_features);
    wr(0, kLegacyQueueSelect, 2, 0);
    ASSERT_EQ(rd(0, kLegacyQueueSize, 2), 256u);
    rings_.push_back(std::make_unique<TestRing>(ram_, ring, 256));
    wr(0, kLegacyQueuePfn, 4, ring >> 12);
    wr(0, kLegacyStatus, 1, kStatusAcknowledge | kStatusDriver | kStatusDriverOk);
  }
  uint64_t header(uint32_t type, uint64_t sector) {
    const uint64_t h = ram_.alloc(16);
    ram_.put<uint32_t>(h, type);
    ram_.put<uint64_t>(h + 8, sector);
    return h;
  }
  // Queues a write of 512 bytes of `fill` at `sector` on ring q.
  uint64_t submit_write(unsigned q, uint64_t sector, uint8_t fill) {
    const uint64_t data = ram_.alloc(512), st = ram_.alloc(1);
    std::memset(ram_.at(data), fill, 512);
    ram_.put<uint8_t>(st, 0xFF);
    rings_[q]->publish(rings_[q]->build(
        {{header(kBlkTypeOut, sector), 16, false}, {data, 512, false}, {st, 1, true}}));
    return st;
  }
  bool wait_status(uint8_t bits) {
    for (int i = 0; i < 5000; ++i) {
      if ((dev_->device_status() & bits) == bits) return true;
      usleep(1000);
    }
    return false;
  }

  GuestRam ram_;
  std::shared_ptr<MemImage> image_;
  test::FakeInterrupts irq_;
  test::FakeIoEvents io_;
  std::vector<std::unique_ptr<TestRing>> rings_;
  std::unique_ptr<VirtioPciTransport> dev_;
  BlkDevice* blk_ = nullptr;  // owned by dev_
};

TEST_F(PciTest, IdentityBarsAndCapabilities) {
  make(2);
  EXPECT_EQ(cfg(0x00, 4), 0x10011af4u);
  EXPECT_EQ(cfg(0x08, 4), 0x01000000u);  // class 010000, revision 0
  EXPECT_EQ(cfg(0x2C, 4), 0x00021af4u);
  EXPECT_EQ(cfg(0x3D, 1), 1u);
  set_cfg(0x10, 4, 0xFFFFFFFF);
  EXPECT_EQ(cfg(0x10, 4), 0xFFFFFF81u);  // 128-byte I/O BAR
  set_cfg(0x14, 4, 0xFFFFFFFF);
  EXPECT_EQ(cfg(0x14, 4), 0xFFFFF000u);  // 4 KiB 32-bit memory
  set_cfg(0x20, 4, 0xFFFFFFFF);
  EXPECT_EQ(cfg(0x20, 4), 0xFFFFC00Cu);  // 16 KiB 64-bit prefetchable
  const unsigned msix = find_cap(pci::kCapabilityMsix);
  ASSERT_NE(msix, 0u);
  EXPECT_EQ(cfg(msix + 2, 2), 2u);  // 3 vectors
  EXPECT_EQ(cfg(msix + 4, 4), 1u);
  EXPECT_EQ(cfg(msix + 8, 4), 0x801u);
  const uint32_t offsets[] = {0, 0, 0x3000, 0x1000, 0x2000};
  for (uint8_t type = kPciCapCommonCfg; type <= kPciCapDeviceCfg; ++type) {
    const unsigned cap = find_cap(pci::kCapabilityVendor, type);
    ASSERT_NE(cap, 0u) << int(type);
    EXPECT_EQ(cfg(cap + 4, 1), 4u);
    EXPECT_EQ(cfg(cap + 8, 4), offsets[type]);
  }
  const unsigned notify = find_cap(pci::kCapabilityVendor, kPciCapNotifyCfg);
  EXPECT_EQ(cfg(notify + 2, 1), 20u);
  EXPECT_EQ(cfg(notify + 16, 4), 4u);
  EXPECT_NE(find_cap(pci::kCapabilityVendor, kPciCapPciCfg), 0u);
}

// COMMAND.Interrupt Disable (bit 10) keeps INTx low while set; an
// interrupt still pending when it is cleared reaches the line then; the
// ISR is unaffected (a polling guest reads it as before).
TEST_F(PciTest, IntxDisableGatesTheLine) {
  make();
  legacy_setup(feature_bit(kBlkFeatureFlush));
  const uint32_t command = cfg(pci::kCommand, 2);
  set_cfg(pci::kCommand, 2, command | pci::kCommandIntxDisable);
  submit_write(0, 7, 0xAB);
  wr(0, kLegacyQueueNotify, 2, 0);
  ASSERT_TRUE(rings_[0]->wait_used(1));
  usleep(10000);  // the completion's notify_queue follows push_used
  EXPECT_EQ(irq_.intx_raised.load(), 0);
  EXPECT_FALSE(irq_.intx_level);
  set_cfg(pci::kCommand, 2, command);  // enabled again: the pending interrupt shows
  EXPECT_EQ(irq_.intx_raised.load(), 1);
  EXPECT_TRUE(irq_.intx_level);
  set_cfg(pci::kCommand, 2, command | pci::kCommandIntxDisable);
  EXPECT_FALSE(irq_.intx_level);
  EXPECT_EQ(rd(0, kLegacyIsr, 1), kIsrQueue);
  set_cfg(pci::kCommand, 2, command);  // ISR read: nothing pending any more
  EXPECT_FALSE(irq_.intx_level);
  EXPECT_EQ(irq_.intx_raised.load(), 1);
}

TEST_F(PciTest, LegacyInterfaceWithIntx) {
  make();
  legacy_setup(feature_bit(kBlkFeatureFlush) | feature_bit(kBlkFeatureBlkSize));
  const uint32_t host = static_cast<uint32_t>(rd(0, kLegacyHostFeatures, 4));
  EXPECT_NE(host & feature_bit(kFeatureAnyLayout), 0u);
  EXPECT_NE(host & feature_bit(kFeatureEventIdx), 0u);
  EXPECT_EQ(host & feature_bit(kBlkFeatureMq), 0u);
  EXPECT_EQ(rd(0, kLegacyDeviceConfig, 4), 2048u);  // capacity, low half
  EXPECT_EQ(rd(0, kLegacyDeviceConfig + kBlkCfgBlkSize, 4), 512u);
  // Ioeventfds: legacy port (datamatch = queue) and the modern doorbell.
  ASSERT_EQ(io_.entries.size(), 2u);
  EXPECT_EQ(io_.entries[0].space, IoSpace::kPio);
  EXPECT_EQ(io_.entries[0].address, kIoBase + kLegacyQueueNotify);
  EXPECT_EQ(io_.entries[0].datamatch, std::optional<uint64_t>(0));
  EXPECT_EQ(io_.entries[1].address, kModernBase + 0x3000);

  const uint64_t st = submit_write(0, 7, 0xAB);
  wr(0, kLegacyQueueNotify, 2, 0);  // notify that reached the vCPU thread
  ASSERT_TRUE(rings_[0]->wait_used(1));
  EXPECT_EQ(ram_.get<uint8_t>(st), kBlkStatusOk);
  EXPECT_EQ(image_->byte(7 * 512), 0xAB);
  EXPECT_GE(irq_.intx_raised.load(), 1);
  EXPECT_TRUE(irq_.intx_level);
  EXPECT_EQ(rd(0, kLegacyIsr, 1), kIsrQueue);
  EXPECT_FALSE(irq_.intx_level);
  EXPECT_EQ(rd(0, kLegacyIsr, 1), 0u);

  // A kick through the registered ioeventfd (what KVM would do).
  const uint64_t st2 = submit_write(0, 8, 0xCD);
  const uint64_t one = 1;
  ASSERT_EQ(write(io_.entries[0].fd, &one, 8), 8);
  ASSERT_TRUE(rings_[0]->wait_used(2));
  EXPECT_EQ(ram_.get<uint8_t>(st2), kBlkStatusOk);
  // FLUSH negotiated without CONFIG_WCE: writeback, no flush per write.
  EXPECT_EQ(image_->flushes, 0);
  EXPECT_EQ(stats(*blk_).write.ops, 2u);
}

TEST_F(PciTest, LegacyWithoutFlushIsWritethrough) {
  make();
  legacy_setup(feature_bit(kBlkFeatureBlkSize));
  submit_write(0, 1, 1);
  wr(0, kLegacyQueueNotify, 2, 0);
  ASSERT_TRUE(rings_[0]->wait_used(1));
  EXPECT_EQ(image_->flushes, 1);
}

TEST_F(PciTest, LegacyMsixRegisterLayout) {
  make();
  map_bars();
  enable_msix();
  // With MSI-X on, 0x14/0x16 are the vector registers and config moves to 0x18.
  wr(0, kLegacyConfigVector, 2, 0);
  EXPECT_EQ(rd(0, kLegacyConfigVector, 2), 0u);
  wr(0, kLegacyQueueSelect, 2, 0);
  wr(0, kLegacyQueueVector, 2, 1);
  EXPECT_EQ(rd(0, kLegacyQueueVector, 2), 1u);
  wr(0, kLegacyQueueVector, 2, 7);  // beyond the table: refused
  EXPECT_EQ(rd(0, kLegacyQueueVector, 2), kNoVector);
  EXPECT_EQ(rd(0, kLegacyDeviceConfigMsix, 4), 2048u);
}

TEST_F(PciTest, ModernInterfaceWithMsixAndEventIdx) {
  make(1, block::DiscardMode::kUnmap);
  set_cfg(0x04, 2, 0);
  set_common(kCommonDeviceFeatureSelect, 4, 1);
  map_bars();
  EXPECT_EQ(common(kCommonDeviceFeature, 4), 1u);  // VERSION_1, no RING_PACKED
  set_common(kCommonDeviceFeatureSelect, 4, 0);
  const uint64_t low = common(kCommonDeviceFeature, 4);
  EXPECT_EQ(low & feature_bit(kFeatureAnyLayout), 0u);
  EXPECT_NE(low & feature_bit(kBlkFeatureDiscard), 0u);
  modern_setup(feature_bit(kFeatureEventIdx) | feature_bit(kFeatureIndirectDesc) |
               feature_bit(kBlkFeatureFlush) | feature_bit(kBlkFeatureDiscard));
  EXPECT_EQ(common(kCommonQueueMsixVector, 2), 1u);
  EXPECT_EQ(common(kCommonNumQueues, 2), 1u);
  EXPECT_EQ(rd(4, 0x2000, 8), 2048u);  // capacity through the device cfg region
  EXPECT_EQ(rd(4, 0x2000 + kBlkCfgMaxDiscardSeg, 4), kBlkMaxDiscardSegments);

  // An indirect request; the guest asks for an interrupt after each used.
  TestRing& ring = *rings_[0];
  ring.set_used_event(0);
  const uint64_t table = ram_.alloc(48), data = ram_.alloc(512), st = ram_.alloc(1);
  image_->fill(512, 512, 0x3C);
  ring.publish(ring.build_indirect(
      table, {{header(kBlkTypeIn, 1), 16, false}, {data, 512, true}, {st, 1, true}}));
  set_common(0x3000, 2, 0);  // doorbell of queue 0
  ASSERT_TRUE(ring.wait_used(1));
  EXPECT_EQ(ring.used_len(0), 513u);
  EXPECT_EQ(ram_.get<uint8_t>(data + 17), 0x3C);
  for (int i = 0; i < 1000 && irq_.msi_count(kQueueMsiData) == 0; ++i) usleep(1000);
  EXPECT_EQ(irq_.msi_count(kQueueMsiData), 1u);
  EXPECT_EQ(irq_.intx_raised, 0);
  // The device published avail_event = 1 before sleeping.
  for (int i = 0; i < 1000 && ring.avail_event() != 1; ++i) usleep(1000);
  EXPECT_EQ(ring.avail_event(), 1);

  // used_event far ahead: completions without interrupts.
  ring.set_used_event(100);
  submit_write(0, 2, 9);
  set_common(0x3000, 2, 0);
  ASSERT_TRUE(ring.wait_used(2));
  usleep(20000);
  EXPECT_EQ(irq_.msi_count(kQueueMsiData), 1u);
}

TEST_F(PciTest, FeaturesOkRefusedForUnofferedFeatures) {
  make();
  map_bars();
  set_common(kCommonDeviceStatus, 1, kStatusAcknowledge | kStatusDriver);
  set_common(kCommonDriverFeatureSelect, 4, 1);
  set_common(kCommonDriverFeature, 4, 1 | (1u << (kFeatureRingPacked - 32)));
  set_common(kCommonDeviceStatus, 1, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
  EXPECT_EQ(common(kCommonDeviceStatus, 1) & kStatusFeaturesOk, 0u);
}

TEST_F(PciTest, RingViolationSetsNeedsResetAndRecovers) {
  make();
  modern_setup(feature_bit(kBlkFeatureFlush));
  const uint64_t generation = common(kCommonConfigGeneration, 1);
  rings_[0]->set_avail_idx(1000);  // jumps by more than the queue size
  set_common(0x3000, 2, 0);
  ASSERT_TRUE(wait_status(kStatusNeedsReset));
  for (int i = 0; i < 1000 && irq_.msi_count(kConfigMsiData) == 0; ++i) usleep(1000);
  EXPECT_EQ(irq_.msi_count(kConfigMsiData), 1u);
  EXPECT_NE(common(kCommonConfigGeneration, 1), generation);
  // The driver resets the device and starts again; it works.
  set_common(kCommonDeviceStatus, 1, 0);
  EXPECT_EQ(common(kCommonDeviceStatus, 1), 0u);
  std::memset(ram_.at(kRing0), 0, 0x4000);
  rings_.clear();
  modern_setup(feature_bit(kBlkFeatureFlush));
  const uint64_t st = submit_write(0, 3, 0x42);
  set_common(0x3000, 2, 0);
  ASSERT_TRUE(rings_[0]->wait_used(1));
  EXPECT_EQ(ram_.get<uint8_t>(st), kBlkStatusOk);
  EXPECT_EQ(image_->byte(3 * 512), 0x42);
}

TEST_F(PciTest, NeedsResetSinkRunsOncePerTransition) {
  make();
  std::atomic<int> calls{0};
  std::mutex mutex;
  std::string reason;
  dev_->set_needs_reset_sink([&](const Error& why) {
    std::lock_guard lock(mutex);
    reason = why.message();
    ++calls;
  });
  modern_setup(feature_bit(kBlkFeatureFlush));
  rings_[0]->set_avail_idx(1000);  // a ring violation, from the iothread
  set_common(0x3000, 2, 0);
  ASSERT_TRUE(wait_status(kStatusNeedsReset));
  for (int i = 0; i < 1000 && calls.load() == 0; ++i) usleep(1000);
  EXPECT_EQ(calls.load(), 1);
  {
    std::lock_guard lock(mutex);
    EXPECT_FALSE(reason.empty());
  }
  // More failures while NEEDS_RESET is set: no new transition.
  dev_->needs_reset(Error(ErrorKind::kCorrupt, "again"));
  dev_->needs_reset(Error(ErrorKind::kCorrupt, "and again"));
  EXPECT_EQ(calls.load(), 1);
  // After the guest's reset, the next failure is a new transition.
  set_common(kCommonDeviceStatus, 1, 0);
  ASSERT_EQ(common(kCommonDeviceStatus, 1), 0u);
  dev_->needs_reset(Error(ErrorKind::kCorrupt, "after reset"));
  EXPECT_EQ(calls.load(), 2);
  std::lock_guard lock(mutex);
  EXPECT_EQ(reason, "after reset");
}

TEST_F(PciTest, BadChainSetsNeedsReset) {
  make();
  legacy_setup(0);
  TestRing& ring = *rings_[0];
  ring.set_desc(0, GuestRam::kRamEnd + 4096, 16, 0, 0);  // buffer outside RAM
  ring.publish(0);
  wr(0, kLegacyQueueNotify, 2, 0);
  ASSERT_TRUE(wait_status(kStatusNeedsReset));
  EXPECT_EQ(rd(0, kLegacyIsr, 1), kIsrConfig);
  EXPECT_EQ(ring.used_idx(), 0);
}

TEST_F(PciTest, RingOutsideRamAtDriverOkSetsNeedsReset) {
  make();
  legacy_setup(0, GuestRam::kRamEnd);  // PFN beyond RAM
  EXPECT_TRUE(dev_->device_status() & kStatusNeedsReset);
  EXPECT_TRUE(irq_.intx_level);
  EXPECT_EQ(rd(0, kLegacyIsr, 1), kIsrConfig);
}

TEST_F(PciTest, BadModernQueueSizeSetsNeedsReset) {
  make();
  modern_setup(0, 1, 100);  // not a power of two
  EXPECT_TRUE(dev_->device_status() & kStatusNeedsReset);
}

TEST_F(PciTest, MultiQueueEachQueueServedWithItsVector) {
  make(2);
  EXPECT_EQ(common(kCommonNumQueues, 2), 2u);
  modern_setup(feature_bit(kBlkFeatureMq) | feature_bit(kBlkFeatureFlush), 2);
  EXPECT_EQ(rd(4, 0x2000 + kBlkCfgNumQueues, 2), 2u);
  EXPECT_EQ(io_.entries.size(), 4u);  // 2 legacy + 2 modern doorbells
  set_common(kCommonQueueSelect, 2, 1);
  EXPECT_EQ(common(kCommonQueueNotifyOff, 2), 1u);
  submit_write(0, 10, 0x10);
  submit_write(1, 11, 0x11);
  set_common(0x3000, 2, 0);
  set_common(0x3004, 2, 1);
  ASSERT_TRUE(rings_[0]->wait_used(1));
  ASSERT_TRUE(rings_[1]->wait_used(1));
  EXPECT_EQ(image_->byte(10 * 512), 0x10);
  EXPECT_EQ(image_->byte(11 * 512), 0x11);
  for (int i = 0; i < 1000 && irq_.msi_count(kQueueMsiData + 1) == 0; ++i) usleep(1000);
  EXPECT_EQ(irq_.msi_count(kQueueMsiData), 1u);
  EXPECT_EQ(irq_.msi_count(kQueueMsiData + 1), 1u);
}

TEST_F(PciTest, WriteCacheEnableToggle) {
  make();
  modern_setup(feature_bit(kBlkFeatureFlush) | feature_bit(kBlkFeatureConfigWce));
  EXPECT_EQ(rd(4, 0x2000 + kBlkCfgWriteback, 1), 1u);
  wr(4, 0x2000 + kBlkCfgWriteback, 1, 0);
  EXPECT_EQ(rd(4, 0x2000 + kBlkCfgWriteback, 1), 0u);
  submit_write(0, 1, 1);
  set_common(0x3000, 2, 0);
  ASSERT_TRUE(rings_[0]->wait_used(1));
  EXPECT_EQ(image_->flushes, 1);
}

TEST_F(PciTest, MaskedVectorIsPendingUntilUnmasked) {
  make();
  modern_setup(feature_bit(kBlkFeatureFlush));
  wr(1, 16 + 12, 4, 1);  // mask vector 1 (queue 0)
  submit_write(0, 1, 1);
  set_common(0x3000, 2, 0);
  ASSERT_TRUE(rings_[0]->wait_used(1));
  for (int i = 0; i < 1000 && rd(1, 0x800, 1) == 0; ++i) usleep(1000);
  EXPECT_EQ(rd(1, 0x800, 1), 2u);  // PBA bit 1
  EXPECT_EQ(irq_.msi_count(kQueueMsiData), 0u);
  wr(1, 16 + 12, 4, 0);
  EXPECT_EQ(irq_.msi_count(kQueueMsiData), 1u);
  EXPECT_EQ(rd(1, 0x800, 1), 0u);
}

TEST_F(PciTest, PciCfgWindowReachesBars) {
  make(3);
  map_bars();
  const unsigned cap = find_cap(pci::kCapabilityVendor, kPciCapPciCfg);
  set_cfg(cap + 4, 1, 4);  // BAR4
  set_cfg(cap + 8, 4, kCommonNumQueues);
  set_cfg(cap + 12, 4, 2);
  EXPECT_EQ(cfg(cap + 16, 2), 3u);
  set_cfg(cap + 8, 4, kCommonDeviceStatus);
  set_cfg(cap + 12, 4, 1);
  set_cfg(cap + 16, 1, kStatusAcknowledge);
  EXPECT_EQ(dev_->device_status(), kStatusAcknowledge);
  // Bogus windows are ignored.
  set_cfg(cap + 8, 4, 0xFFFFFFFF);
  EXPECT_EQ(cfg(cap + 16, 4), 0u);
  set_cfg(cap + 4, 1, 9);
  set_cfg(cap + 8, 4, 0);
  EXPECT_EQ(cfg(cap + 16, 4), 0u);
}

TEST_F(PciTest, IoeventfdsFollowBars) {
  make();
  map_bars();
  ASSERT_EQ(io_.entries.size(), 2u);
  set_cfg(0x10, 4, 0xD000);
  pci().bar_remapped(0, pci().bar(0));
  ASSERT_EQ(io_.entries.size(), 2u);
  bool found = false;
  for (const auto& e : io_.entries) found |= e.address == 0xD000 + kLegacyQueueNotify;
  EXPECT_TRUE(found);
  set_cfg(0x04, 2, pci::kCommandMemory);  // I/O decode off
  pci().bar_remapped(0, pci().bar(0));
  ASSERT_EQ(io_.entries.size(), 1u);
  EXPECT_EQ(io_.entries[0].space, IoSpace::kMmio);
  pci().reset();
  EXPECT_EQ(io_.entries.size(), 0u);
}

TEST_F(PciTest, HostileRegisterAccessesAreHarmless) {
  make();
  map_bars();
  for (uint64_t off = 0; off < 0x4000; off += 4) EXPECT_NO_FATAL_FAILURE(rd(4, off, 4));
  for (uint64_t off = 0; off < 0x80; ++off) rd(0, off, 1);
  set_common(kCommonQueueSelect, 2, 500);  // no such queue
  EXPECT_EQ(common(kCommonQueueSize, 2), 0u);
  set_common(kCommonQueueSize, 2, 64);
  set_common(kCommonQueueEnable, 2, 1);
  wr(0, kLegacyQueueSelect, 2, 77);
  wr(0, kLegacyQueuePfn, 4, 0x12345);
  wr(0, kLegacyQueueNotify, 2, 0xFFFF);
  set_common(0x3FFC, 2, 0);
  rd(4, 0x10000, 4);
  wr(1, 0x2000, 4, 1);
  uint8_t big[16] = {};
  pci().bar_read(4, 0, std::span(big, 16));
  pci().bar_write(0, 0x7F, std::span<const uint8_t>(big, 4));
  EXPECT_EQ(dev_->device_status(), 0u);
}

TEST_F(PciTest, ResetUnderLoadQuiesces) {
  make(2);
  for (int round = 0; round < 20; ++round) {
    std::memset(ram_.at(kRing0), 0, 0x20000);
    rings_.clear();
    modern_setup(feature_bit(kBlkFeatureFlush) | feature_bit(kFeatureEventIdx), 2, 64);
    for (int i = 0; i < 60; ++i) {
      submit_write(0, i, static_cast<uint8_t>(i));
      submit_write(1, 100 + i, static_cast<uint8_t>(i));
      set_common(0x3000, 2, 0);
      set_common(0x3004, 2, 1);
    }
    set_common(kCommonDeviceStatus, 1, 0);  // reset while requests are in flight
    EXPECT_EQ(common(kCommonDeviceStatus, 1), 0u);
  }
  pci().reset();
}

}  // namespace
}  // namespace amber::hv::virtio
