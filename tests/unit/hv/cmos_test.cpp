// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/devices/cmos.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <map>
#include <thread>

namespace amber::hv::devices {
namespace {

std::map<uint8_t, uint8_t> bytes_for(uint64_t ram, unsigned cpus) {
  std::map<uint8_t, uint8_t> out;
  for (auto [i, v] : cmos_platform_bytes(plan_ram(ram), cpus)) out[i] = v;
  return out;
}

TEST(Cmos, MemoryAndCpuFields256M) {
  auto b = bytes_for(256 * kMiB, 2);
  EXPECT_EQ(b[0x15], 0x80);  // 640 KiB base
  EXPECT_EQ(b[0x16], 0x02);
  EXPECT_EQ(b[0x30] | (b[0x31] << 8), 0xFFFF);           // 255 MiB in KiB, capped
  EXPECT_EQ(b[0x34] | (b[0x35] << 8), (256 - 16) * 16);  // 64 KiB units above 16 MiB
  EXPECT_EQ(b[0x5B] | (b[0x5C] << 8) | (b[0x5D] << 16), 0);
  EXPECT_EQ(b[0x5F], 1);  // CPUs - 1
}

TEST(Cmos, HighMemory8G) {
  auto b = bytes_for(8 * kGiB, 4);
  EXPECT_EQ(b[0x34] | (b[0x35] << 8), (0xC0000000ULL - 16 * kMiB) / 65536);
  EXPECT_EQ(uint64_t(b[0x5B] | (b[0x5C] << 8) | (b[0x5D] << 16)),
            (8 * kGiB - 0xC0000000ULL) / 65536);
  EXPECT_EQ(b[0x5F], 3);
}

TEST(Cmos, PortsAndClock) {
  Cmos cmos;
  cmos.set(0x5F, 7);
  uint8_t index[1] = {0x80 | 0x5F};  // NMI-disable bit is ignored
  cmos.io_write(0, index);
  uint8_t value[1];
  cmos.io_read(1, value);
  EXPECT_EQ(value[0], 7);
  EXPECT_EQ(cmos.get(0x0A) & 0x80, 0);  // never update-in-progress
  EXPECT_EQ(cmos.get(0x0D), 0x80);
  const uint8_t seconds = cmos.get(0x00);
  EXPECT_LT(seconds & 0x0F, 10);  // BCD
  EXPECT_LT(seconds >> 4, 6);
  EXPECT_EQ(cmos.get(0x32), 0x20);  // century, BCD
}

}  // namespace
}  // namespace amber::hv::devices

namespace amber::hv::devices {
namespace {

TEST(Cmos, PeriodicInterruptAndReadToClear) {
  Cmos cmos;
  std::atomic<int> edges{0};
  cmos.start([&](bool level) { edges += level ? 1 : 0; });
  auto write = [&](uint8_t index, uint8_t value) {
    uint8_t i[1] = {index};
    uint8_t v[1] = {value};
    cmos.io_write(0, i);
    cmos.io_write(1, v);
  };
  write(0x0A, 0x26);  // 1024 Hz
  write(0x0B, 0x42);  // PIE, 24-hour
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_GT(edges.load(), 10);
  EXPECT_EQ(cmos.get(0x0C) & 0xC0, 0xC0);
  write(0x0B, 0x02);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  cmos.get(0x0C);
  const int before = edges.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(edges.load(), before);
  EXPECT_EQ(cmos.get(0x0C), 0);
}

}  // namespace
}  // namespace amber::hv::devices

namespace amber::hv::devices {
namespace {

void write_reg(Cmos& cmos, uint8_t index, uint8_t value) {
  uint8_t i[1] = {index};
  uint8_t v[1] = {value};
  cmos.io_write(0, i);
  cmos.io_write(1, v);
}

// driftfix=slew: ticks the guest left unacknowledged are owed, and each
// register C read re-raises one (at most 20 between two real ticks);
// without catch-up nothing is owed.
TEST(Cmos, CatchupReinjectsMissedTicksOnAcknowledge) {
  for (bool catchup : {false, true}) {
    Cmos cmos;
    cmos.set_catchup(catchup);
    std::atomic<int> edges{0};
    cmos.start([&](bool level) { edges += level ? 1 : 0; });
    write_reg(cmos, 0x0A, 0x2F);  // 2 Hz: no real tick during the reads below
    write_reg(cmos, 0x0B, 0x42);
    std::this_thread::sleep_for(std::chrono::milliseconds(1600));  // 3 ticks, none acknowledged
    write_reg(cmos, 0x0A, 0x2F);
    const uint64_t owed = cmos.lost_ticks();
    if (!catchup) {
      EXPECT_EQ(owed, 0u);
      continue;
    }
    EXPECT_GE(owed, 2u);
    const int before = edges.load();
    EXPECT_EQ(cmos.get(0x0C) & 0xC0, 0xC0);  // the real tick's flags
    EXPECT_EQ(edges.load(), before + 1);     // and one owed tick at once
    EXPECT_EQ(cmos.get(0x0C) & 0xC0, 0xC0);  // the re-raised one's flags
    EXPECT_EQ(cmos.lost_ticks(), owed >= 2 ? owed - 2 : 0);
    write_reg(cmos, 0x0B, 0x02);  // PIE off: nothing more re-raised
    const int after = edges.load();
    cmos.get(0x0C);
    EXPECT_EQ(edges.load(), after);
  }
}

TEST(Cmos, LocaltimeShowsTheHostsZone) {
  // A zone 5:30 off UTC, so the two hours differ whatever the host's zone.
  setenv("TZ", "IST-5:30", 1);
  tzset();
  Cmos utc, local;
  local.set_localtime(true);
  const std::time_t now = std::time(nullptr);
  std::tm lt{}, gt{};
  localtime_r(&now, &lt);
  gmtime_r(&now, &gt);
  auto bcd = [](int v) { return static_cast<uint8_t>(((v / 10) << 4) | (v % 10)); };
  if (gt.tm_min == 59 && gt.tm_sec == 59) GTEST_SKIP() << "at an hour boundary";
  EXPECT_EQ(utc.get(0x04), bcd(gt.tm_hour));
  EXPECT_EQ(local.get(0x04), bcd(lt.tm_hour));
  EXPECT_NE(lt.tm_hour * 60 + lt.tm_min, gt.tm_hour * 60 + gt.tm_min);
  unsetenv("TZ");
  tzset();
}

}  // namespace
}  // namespace amber::hv::devices
