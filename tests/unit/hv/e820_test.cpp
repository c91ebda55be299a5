// SPDX-License-Identifier: GPL-2.0-or-later
#include <gtest/gtest.h>

#include "hv/memory/ram.h"

namespace amber::hv {
namespace {

TEST(RamLayout, SplitsAroundThePciHole) {
  EXPECT_EQ(plan_ram(2 * kGiB).below_4g, 2 * kGiB);
  EXPECT_EQ(plan_ram(2 * kGiB).above_4g, 0u);
  EXPECT_EQ(plan_ram(3 * kGiB).below_4g, 3 * kGiB);
  const RamLayout big = plan_ram(6 * kGiB);
  EXPECT_EQ(big.below_4g, 0xC0000000u);
  EXPECT_EQ(big.above_4g, 6 * kGiB - 0xC0000000ULL);
}

TEST(E820, FirmwareMap) {
  const auto small = firmware_e820(plan_ram(256 * kMiB));
  ASSERT_EQ(small.size(), 2u);
  EXPECT_EQ(small[0], (E820Entry{0, 256 * kMiB, E820Type::kRam}));
  EXPECT_EQ(small[1], (E820Entry{kTssAddress, kTssAreaSize, E820Type::kReserved}));
  const auto big = firmware_e820(plan_ram(6 * kGiB));
  ASSERT_EQ(big.size(), 3u);
  EXPECT_EQ(big[2], (E820Entry{k4GiB, 6 * kGiB - 0xC0000000ULL, E820Type::kRam}));
}

TEST(E820, KernelMapHasLowHolesAndNoOverlaps) {
  const auto map = kernel_e820(plan_ram(6 * kGiB));
  EXPECT_EQ(map.front(), (E820Entry{0, 0x9FC00, E820Type::kRam}));
  for (size_t i = 1; i < map.size(); ++i)
    EXPECT_LE(map[i - 1].address + map[i - 1].length, map[i].address);
  bool has_high = false;
  for (const auto& e : map) has_high |= e.address == k4GiB && e.type == E820Type::kRam;
  EXPECT_TRUE(has_high);
}

TEST(Hugepages, RefusesWithAdviceWhenTooFew) {
  // Ask for far more than any test host reserves.
  auto ram = GuestRam::allocate(512 * kGiB, Hugepages::kOn);
  ASSERT_FALSE(ram.ok());
  EXPECT_NE(ram.error().message().find("hugepages"), std::string::npos) << ram.error().message();
}

}  // namespace
}  // namespace amber::hv
