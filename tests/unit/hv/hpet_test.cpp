// SPDX-License-Identifier: GPL-2.0-or-later
// Unit tests for the HPET model: QEMU's identity, the counter, level and
// edge timers, legacy replacement (PIT callback, RTC gating), and hostile
// accesses (odd sizes, unaligned, past the registers, 1-tick periods).
//
// Thread-safety: each test owns its Hpet; the callbacks record under a
// mutex (they run on the timer thread too).
#include "hv/devices/hpet.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

namespace amber::hv::devices {
namespace {

using namespace std::chrono_literals;

struct Recorder {
  std::mutex mutex;
  std::vector<std::pair<unsigned, bool>> edges;  // (line, level)
  std::vector<bool> legacy;
  std::array<bool, 16> level{};
  unsigned rises(unsigned line) {
    std::lock_guard lock(mutex);
    unsigned n = 0;
    for (auto [l, v] : edges)
      if (l == line && v) ++n;
    return n;
  }
};

class HpetTest : public ::testing::Test {
 protected:
  HpetTest()
      : hpet_(
            [this](unsigned line, bool level) {
              std::lock_guard lock(rec_.mutex);
              rec_.edges.emplace_back(line, level);
              rec_.level[line] = level;
            },
            [this](bool on) {
              std::lock_guard lock(rec_.mutex);
              rec_.legacy.push_back(on);
            }) {
    hpet_.start();
  }
  uint64_t read64(uint64_t off) {
    std::array<uint8_t, 8> b{};
    hpet_.io_read(off, b);
    uint64_t v;
    std::memcpy(&v, b.data(), 8);
    return v;
  }
  uint32_t read32(uint64_t off) {
    std::array<uint8_t, 4> b{};
    hpet_.io_read(off, b);
    uint32_t v;
    std::memcpy(&v, b.data(), 4);
    return v;
  }
  void write64(uint64_t off, uint64_t v) {
    std::array<uint8_t, 8> b;
    std::memcpy(b.data(), &v, 8);
    hpet_.io_write(off, b);
  }
  void write32(uint64_t off, uint32_t v) {
    std::array<uint8_t, 4> b;
    std::memcpy(b.data(), &v, 4);
    hpet_.io_write(off, b);
  }
  static constexpr uint64_t kConf = 0x10, kStatus = 0x20, kCounter = 0xF0;
  static constexpr uint64_t timer(unsigned n, uint64_t reg) { return 0x100 + 0x20 * n + reg; }

  Recorder rec_;
  Hpet hpet_;
};

TEST_F(HpetTest, CapabilitiesAreQemus) {
  EXPECT_EQ(read64(0), 0x8086A201ULL | (10000000ULL << 32));
  EXPECT_EQ(read32(4), 10000000u);  // period in fs, the high half alone
  for (unsigned n = 0; n < Hpet::kTimers; ++n) {
    const uint64_t conf = read64(timer(n, 0));
    EXPECT_EQ(conf & 0x30, 0x30u) << "periodic and 64-bit capable";
    EXPECT_EQ(conf >> 32, 1u << 2) << "route capability: IOAPIC pin 2";
    EXPECT_EQ(conf & (1u << 15), 0u) << "no FSB delivery";
    EXPECT_EQ(read64(timer(n, 8)), ~0ULL);
  }
  write64(0, 0);  // read-only
  EXPECT_EQ(read64(0) & 0xFFFFFFFF, 0x8086A201u);
}

TEST_F(HpetTest, CounterRunsOnlyWhileEnabled) {
  EXPECT_EQ(read64(kCounter), 0u);
  write64(kCounter, 1000);
  EXPECT_EQ(read64(kCounter), 1000u) << "writable while halted";
  std::this_thread::sleep_for(5ms);
  EXPECT_EQ(read64(kCounter), 1000u) << "halted counter does not move";
  const auto t0 = std::chrono::steady_clock::now();
  write64(kConf, 1);
  std::this_thread::sleep_for(20ms);
  const uint64_t c = read64(kCounter);
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  EXPECT_GE(c, 1000u + 20000000 / 10);
  EXPECT_LE(c, 1000u + static_cast<uint64_t>(ns) / 10 + 1);
  write64(kCounter, 5);  // ignored while running
  EXPECT_GE(read64(kCounter), c);
  write64(kConf, 0);
  const uint64_t frozen = read64(kCounter);
  std::this_thread::sleep_for(5ms);
  EXPECT_EQ(read64(kCounter), frozen);
  EXPECT_EQ(read32(kCounter + 4), static_cast<uint32_t>(frozen >> 32));
}

TEST_F(HpetTest, LevelTimerSetsStatusUntilCleared) {
  // Timer 2, level, routed to pin 2 (delivered on ISA line 0), one-shot.
  write64(timer(2, 0), (2u << 9) | (1u << 2) | (1u << 1));
  write64(timer(2, 8), 100000);  // 1 ms
  write64(kConf, 1);
  for (int i = 0; i < 200 && !(read64(kStatus) & 4); ++i) std::this_thread::sleep_for(1ms);
  ASSERT_EQ(read64(kStatus), 4u);
  {
    std::lock_guard lock(rec_.mutex);
    EXPECT_TRUE(rec_.level[0]);
  }
  write64(kStatus, 1);  // not its bit
  EXPECT_EQ(read64(kStatus), 4u);
  write64(kStatus, 4);
  EXPECT_EQ(read64(kStatus), 0u);
  std::lock_guard lock(rec_.mutex);
  EXPECT_FALSE(rec_.level[0]);
}

TEST_F(HpetTest, PeriodicEdgeTimerInLegacyMode) {
  // Timer 0 periodic at 1 kHz with SETVAL, legacy replacement: ISA IRQ 0.
  write64(timer(0, 0), (1u << 2) | (1u << 3) | (1u << 6));
  write64(timer(0, 8), 100000);
  write64(timer(0, 8), 100000);  // the period (SETVAL cleared by the first)
  write64(kConf, 3);
  {
    std::lock_guard lock(rec_.mutex);
    ASSERT_EQ(rec_.legacy, std::vector<bool>{true});
  }
  std::this_thread::sleep_for(100ms);
  write64(kConf, 0);
  const unsigned n = rec_.rises(0);
  EXPECT_GE(n, 50u);
  EXPECT_LE(n, 102u);
  EXPECT_EQ(rec_.rises(8), 0u);
  EXPECT_EQ(read64(kStatus), 0u) << "edge timers leave no status";
  std::lock_guard lock(rec_.mutex);
  EXPECT_EQ(rec_.legacy, (std::vector<bool>{true, false}));
}

TEST_F(HpetTest, RtcPassesThroughUnlessLegacy) {
  hpet_.rtc_irq(true);
  hpet_.rtc_irq(false);
  EXPECT_EQ(rec_.rises(8), 1u);
  write64(kConf, 2);  // legacy, counter halted
  hpet_.rtc_irq(true);
  hpet_.rtc_irq(false);
  EXPECT_EQ(rec_.rises(8), 1u) << "the RTC's IRQ 8 is cut off in legacy mode";
  write64(kConf, 0);
  hpet_.rtc_irq(true);
  EXPECT_EQ(rec_.rises(8), 2u);
}

TEST_F(HpetTest, ThirtyTwoBitModeTruncates) {
  write64(timer(1, 0), 1u << 8);
  write64(timer(1, 8), 0x123456789ULL);
  EXPECT_EQ(read64(timer(1, 8)), 0x23456789u);
  EXPECT_EQ(read64(timer(1, 0)) & (1u << 8), 1u << 8);
}

TEST_F(HpetTest, RouteOutsideCapabilityDeliversNothing) {
  write64(timer(2, 0), (5u << 9) | (1u << 2) | (1u << 1));  // pin 5: not offered
  write64(timer(2, 8), 1000);
  write64(kConf, 1);
  for (int i = 0; i < 200 && !(read64(kStatus) & 4); ++i) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(read64(kStatus), 4u);
  std::lock_guard lock(rec_.mutex);
  EXPECT_TRUE(rec_.edges.empty());
}

TEST_F(HpetTest, HostileAccessesAreServedOrIgnored) {
  // Odd sizes, unaligned spans across two registers, and offsets beyond
  // the registers: no crash, reads of nothing are 0.
  std::array<uint8_t, 3> three{0xFF, 0xFF, 0xFF};
  hpet_.io_write(0x0E, three);  // crosses into GEN_CONF's writable bits
  EXPECT_EQ(read64(kConf), 3u);
  write64(kConf, 0);
  std::array<uint8_t, 8> eight{};
  hpet_.io_read(0x3FC, std::span<uint8_t>(eight.data(), 4));
  EXPECT_EQ(eight[0], 0);
  hpet_.io_read(0x1C0, eight);  // past timer 2
  EXPECT_EQ(std::count(eight.begin(), eight.end(), 0), 8);
  std::array<uint8_t, 1> one{0x42};
  hpet_.io_write(0x3FF, one);
  // A 1-tick periodic timer must not flood: at most one interrupt per
  // 10 µs re-arm.
  write64(timer(0, 0), (1u << 2) | (1u << 3) | (1u << 6));
  write64(timer(0, 8), 1);
  write64(timer(0, 8), 1);
  write64(kConf, 3);
  std::this_thread::sleep_for(50ms);
  write64(kConf, 0);
  EXPECT_LE(rec_.rises(0), 5000u + 10);
  EXPECT_GT(rec_.rises(0), 0u);
}

TEST_F(HpetTest, ResetHaltsAndRestoresPit) {
  write64(kConf, 3);
  hpet_.reset_state();
  EXPECT_EQ(read64(kConf), 0u);
  EXPECT_EQ(read64(kCounter), 0u);
  std::lock_guard lock(rec_.mutex);
  EXPECT_EQ(rec_.legacy, (std::vector<bool>{true, false}));
}

}  // namespace
}  // namespace amber::hv::devices
namespace amber::hv::devices {
namespace {
TEST_F(HpetTest, LowHalfComparatorWrites) {
  write32(kConf, 1);
  write32(timer(2, 0), (1u << 2) | (1u << 1) | (2u << 9));
  write32(timer(2, 8), read32(kCounter) + 100000);
  std::this_thread::sleep_for(10ms);
  EXPECT_EQ(read32(kStatus), 4u);
}
}  // namespace
}  // namespace amber::hv::devices
