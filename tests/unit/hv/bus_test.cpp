// SPDX-License-Identifier: GPL-2.0-or-later
#include <gtest/gtest.h>

#include <vector>

#include "hv/bus/io_bus.h"

namespace amber::hv::bus {
namespace {

class Recorder : public IoDevice {
 public:
  void io_read(uint64_t offset, std::span<uint8_t> data) override {
    for (auto& b : data) b = static_cast<uint8_t>(offset);
  }
  void io_write(uint64_t offset, std::span<const uint8_t> data) override {
    last_offset = offset;
    last_value = data[0];
  }
  uint64_t last_offset = ~0ULL;
  uint8_t last_value = 0;
};

TEST(IoBus, RejectsOverlaps) {
  IoBus bus("test");
  Recorder a, b;
  ASSERT_TRUE(bus.add(0x100, 0x10, &a, "a").ok());
  EXPECT_FALSE(bus.add(0x100, 1, &b, "b").ok());
  EXPECT_FALSE(bus.add(0x10F, 1, &b, "b").ok());
  EXPECT_FALSE(bus.add(0xF0, 0x11, &b, "b").ok());
  EXPECT_FALSE(bus.add(0x0, 0x1000, &b, "b").ok());
  EXPECT_TRUE(bus.add(0x110, 1, &b, "b").ok());
  EXPECT_TRUE(bus.add(0xF0, 0x10, &b, "c").ok());
  EXPECT_FALSE(bus.add(0x200, 0, &b, "empty").ok());
  EXPECT_FALSE(bus.add(~0ULL, 2, &b, "wrap").ok());
}

TEST(IoBus, DispatchesWithOffsetsAndUnclaimedReadsOnes) {
  IoBus bus("test");
  Recorder a;
  ASSERT_TRUE(bus.add(0x3F8, 8, &a, "uart").ok());
  std::vector<uint8_t> data(1);
  EXPECT_TRUE(bus.read(0x3FD, data));
  EXPECT_EQ(data[0], 5);
  const uint8_t value = 0x41;
  EXPECT_TRUE(bus.write(0x3F8, std::span<const uint8_t>(&value, 1)));
  EXPECT_EQ(a.last_offset, 0u);
  EXPECT_EQ(a.last_value, 0x41);
  std::vector<uint8_t> word(2);
  EXPECT_FALSE(bus.read(0x3FF, word));  // straddles the end: nobody claims it
  EXPECT_EQ(word[0], 0xFF);
  EXPECT_EQ(word[1], 0xFF);
  EXPECT_FALSE(bus.read(0x80, data));
  EXPECT_EQ(data[0], 0xFF);
  EXPECT_TRUE(bus.remove(0x3F8));
  EXPECT_FALSE(bus.read(0x3F8, data));
}

}  // namespace
}  // namespace amber::hv::bus
