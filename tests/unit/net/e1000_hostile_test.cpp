// SPDX-License-Identifier: GPL-2.0-or-later
// A hostile guest against the e1000: rings and buffers outside RAM, empty
// rings, head/tail beyond the ring, TX chains that never end, and random
// register and descriptor contents. Nothing may crash, hang or touch
// memory outside guest RAM (ASan), and what is lost is counted. Also the
// full RX ring holding frames back, and the bound beyond which it drops.
#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include "hv/net/e1000.h"
#include "net_test_support.h"

namespace amber::hv::net::test {
namespace {

using namespace e1000;

TEST(E1000Hostile, FullRingHoldsFramesThenDrops) {
  Nic nic;
  nic.setup_rx(8);  // seven descriptors for the card (RDLEN is a multiple of 8)
  for (uint8_t i = 0; i < 10; ++i) nic.device->receive_frame(frame_to(kMac, 100, i));
  NicCounters c = nic.device->stats().snapshot();
  EXPECT_EQ(c.rx_packets, 7u);
  EXPECT_EQ(c.rx_drops, 0u);  // three held, not dropped
  EXPECT_TRUE(nic.device->can_receive());
  // Fill the held queue to its bound; the next frames are dropped.
  for (size_t i = 3; i < kMaxHeldFrames; ++i) nic.device->receive_frame(frame_to(kMac, 100, 50));
  EXPECT_FALSE(nic.device->can_receive());
  nic.device->receive_frame(frame_to(kMac, 100, 99));
  nic.device->receive_frame(frame_to(kMac, 100, 99));
  c = nic.device->stats().snapshot();
  EXPECT_EQ(c.rx_drops, 2u);
  EXPECT_EQ(c.rx_packets, 7u);
  EXPECT_EQ(nic.reg(kMpc), 2u);
  EXPECT_TRUE(nic.reg(kIcr) & kIcrRxo);
  for (uint32_t i = 0; i < 7; ++i) {
    const auto want = frame_to(kMac, 100, static_cast<uint8_t>(i));
    EXPECT_EQ(std::memcmp(nic.rx_buffer(i), want.data(), 100), 0) << i;
    nic.ram.put<uint8_t>(Nic::kRxRing + 16 * i + 12, 0);
  }
  // The guest gives the seven descriptors back: held frames 7, 8, 9 come
  // first, in order, then four of the rest.
  const unsigned wakes = nic.backend->wakes;
  EXPECT_EQ(nic.reg(kRdh), 7u);
  nic.set(kRdt, 6);
  EXPECT_EQ(nic.device->stats().snapshot().rx_packets, 14u);
  const uint32_t slots[3] = {7, 0, 1};
  for (uint8_t k = 0; k < 3; ++k) {
    const auto want = frame_to(kMac, 100, static_cast<uint8_t>(7 + k));
    EXPECT_TRUE(nic.rx_status(slots[k]) & kRxdStatDd);
    EXPECT_EQ(std::memcmp(nic.rx_buffer(slots[k]), want.data(), 100), 0) << int(k);
  }
  EXPECT_TRUE(nic.device->can_receive());  // room in the held queue again
  nic.set(kRdt, nic.reg(kRdh) == 0 ? 7 : nic.reg(kRdh) - 1);
  EXPECT_GT(nic.backend->wakes, wakes - 1);
}

TEST(E1000Hostile, ReceiverOffDropsAndCounts) {
  Nic nic;
  nic.setup_rx(4, 0);  // RCTL.EN clear
  EXPECT_FALSE(nic.device->can_receive());
  nic.device->receive_frame(frame_to(kMac, 100));
  EXPECT_EQ(nic.device->stats().snapshot().rx_drops, 1u);
  // No bus mastering: no DMA either.
  nic.set(kRctl, kRctlEn | kRctlBam);
  nic.device->config_write(pci::kCommand, 2, pci::kCommandMemory);
  nic.device->receive_frame(frame_to(kMac, 100));
  EXPECT_EQ(nic.device->stats().snapshot().rx_drops, 2u);
  EXPECT_EQ(nic.rx_status(0), 0);
}

TEST(E1000Hostile, RxRingsThatAreNotRam) {
  Nic nic;
  nic.setup_rx(8);
  nic.set(kRdbal, 0xfffff000);  // the ring outside RAM
  nic.set(kRdbah, 0xffffffff);
  nic.device->receive_frame(frame_to(kMac, 100));
  EXPECT_EQ(nic.device->stats().snapshot().rx_errors, 1u);
  // A buffer outside RAM.
  nic.setup_rx(8);
  nic.ram.put<uint64_t>(Nic::kRxRing, kRamSize - 10);  // straddles the end
  nic.device->receive_frame(frame_to(kMac, 100));
  EXPECT_EQ(nic.device->stats().snapshot().rx_errors, 2u);
  // RDLEN 0, or head / tail outside the ring: no buffers, frames held.
  nic.setup_rx(8);
  nic.set(kRdlen, 0);
  nic.device->receive_frame(frame_to(kMac, 100));
  nic.set(kRdlen, 8 * 16);
  nic.set(kRdh, 9);
  nic.device->receive_frame(frame_to(kMac, 100));
  nic.set(kRdh, 0);
  nic.set(kRdt, 0xffff);
  nic.device->receive_frame(frame_to(kMac, 100));
  EXPECT_EQ(nic.device->stats().snapshot().rx_packets, 0u);
  // Every descriptor without a buffer: the ring is used up, the frame lost.
  nic.setup_rx(8);
  for (uint32_t i = 0; i < 8; ++i) nic.ram.put<uint64_t>(Nic::kRxRing + 16 * i, 0);
  nic.device->receive_frame(frame_to(kMac, 100));
  EXPECT_EQ(nic.reg(kRdh), 7u);  // stopped at the tail
  // Frames too short or too long for Ethernet.
  nic.device->receive_frame(std::vector<uint8_t>(5, 0xff));
  nic.device->receive_frame(std::vector<uint8_t>(kMaxFrameSize + 1, 0xff));
  EXPECT_GE(nic.device->stats().snapshot().rx_errors, 4u);
}

TEST(E1000Hostile, TxRingsThatAreNotRam) {
  Nic nic;
  nic.setup_tx(8);
  nic.set(kTdbal, 0xffff0000);
  nic.set(kTdbah, 0x7fffffff);
  nic.set(kTdt, 3);
  EXPECT_EQ(nic.device->stats().snapshot().tx_errors, 3u);
  EXPECT_EQ(nic.reg(kTdh), 3u);
  // A buffer outside RAM: the packet is not sent.
  nic.setup_tx(8);
  nic.put_tx(kRamSize - 8, 100 | kTxdCmdEop | kTxdCmdRs);
  nic.kick();
  EXPECT_TRUE(nic.backend->sent.empty());
  EXPECT_EQ(nic.device->stats().snapshot().tx_errors, 4u);
  // Head or tail outside the ring, TDLEN 0.
  nic.setup_tx(8);
  nic.set(kTdt, 100);
  nic.set(kTdlen, 0);
  nic.set(kTdt, 1);
  EXPECT_TRUE(nic.backend->sent.empty());
  EXPECT_GE(nic.device->stats().snapshot().tx_errors, 6u);
}

TEST(E1000Hostile, TxPacketThatNeverEndsIsBounded) {
  Nic nic;
  nic.setup_tx(64);
  // 63 descriptors of 64 KiB - 1 each, none with EOP, over and over.
  for (int round = 0; round < 4; ++round) {
    for (int i = 0; i < 63; ++i) nic.put_tx(0, 0xffff);
    nic.kick();
  }
  EXPECT_TRUE(nic.backend->sent.empty());
  nic.put_tx(0, 0xffff | kTxdCmdEop);
  nic.kick();
  ASSERT_EQ(nic.backend->sent.size(), 1u);
  EXPECT_EQ(nic.backend->sent[0].size(), kMaxFrameSize);  // cut at 64 KiB, as QEMU
  EXPECT_EQ(nic.device->stats().snapshot().tx_errors, 1u);
  // TSO with hostile lengths: a zero MSS, a header longer than the packet.
  uint8_t c[16] = {};
  const uint32_t cmd = kTxdCmdDext | kTxdCmdTse | kTxdCmdTcp | kTxdCmdIp | 0xfffff;
  std::memcpy(c + 8, &cmd, 4);
  c[0] = 250;
  c[1] = 255;
  c[4] = 254;
  c[5] = 255;
  c[13] = 255;  // hdr_len
  nic.put_tx_raw(c);
  nic.put_tx(0, 0xffff | kTxdCmdDext | kTxdDtypData | kTxdCmdTse | kTxdCmdEop,
             (kPoptsIxsm | kPoptsTxsm) << 8);
  nic.put_tx(0, 10 | kTxdCmdDext | kTxdDtypData | kTxdCmdTse | kTxdCmdEop,
             (kPoptsIxsm | kPoptsTxsm) << 8);
  nic.kick();
  EXPECT_GE(nic.backend->sent.size(), 2u);
}

TEST(E1000Hostile, RandomRegistersAndDescriptors) {
  // Registers a driver touches, hit with random values between random
  // descriptors, frames from the host and doorbells.
  static constexpr uint32_t kOffsets[] = {kCtrl, kEecd,  kEerd,   kMdic,  kIcr,   kIcs,    kIms,
                                          kImc,  kRctl,  kTctl,   kRdbal, kRdbah, kRdlen,  kRdh,
                                          kRdt,  kTdbal, kTdbah,  kTdlen, kTdh,   kTdt,    kItr,
                                          kMta,  kRa,    kRa + 4, kGprc,  kTorh,  0x1fffc, 0x5b50};
  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<Nic> nic;
  std::mt19937_64 rng;
  for (int iteration = 0; iteration < 12000; ++iteration) {
    if (iteration % 4000 == 0) rng.seed(20261207 + iteration);  // three seeds
    if (iteration % 500 == 0) nic = std::make_unique<Nic>();
    Nic& n = *nic;
    // Random descriptors in the first 64 KiB (where the rings usually are).
    for (int k = 0; k < 8; ++k) {
      const uint64_t at = (rng() % (0x10000 / 8)) * 8;
      uint64_t value = rng();
      if (rng() % 2) value &= 0x3fffff;  // often a plausible buffer address
      n.ram.put<uint64_t>(at, value);
    }
    const uint32_t offset = kOffsets[rng() % std::size(kOffsets)];
    uint32_t value = static_cast<uint32_t>(rng());
    if (offset == kRdbal || offset == kTdbal) value &= 0xffff;
    if (offset == kRdbah || offset == kTdbah) value = rng() % 8 ? 0 : value;
    // Rings of up to 15 descriptors: each doorbell walks the ring once.
    if (offset == kRdlen || offset == kTdlen) value &= 0xff;
    if (offset == kCtrl && rng() % 4) value &= ~kCtrlRst;
    n.set(offset, value);
    if (rng() % 3 == 0) {
      const size_t size = 14 + rng() % 3000;
      const std::array<uint8_t, 6> broadcast = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
      n.device->receive_frame(frame_to(rng() % 2 ? kMac : broadcast, size));
    }
    if (rng() % 5 == 0) (void)n.reg(kOffsets[rng() % std::size(kOffsets)]);
  }
  nic.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(60));
}

}  // namespace
}  // namespace amber::hv::net::test
