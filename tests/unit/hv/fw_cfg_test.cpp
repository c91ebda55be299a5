// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/devices/fw_cfg.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace amber::hv::devices {
namespace {

void select(FwCfg& fw, uint16_t key) {
  const uint8_t b[2] = {static_cast<uint8_t>(key), static_cast<uint8_t>(key >> 8)};
  fw.io_write(0, b);
}

std::vector<uint8_t> read_bytes(FwCfg& fw, size_t n) {
  std::vector<uint8_t> out(n);
  for (auto& byte : out) {
    uint8_t b[1];
    fw.io_read(1, b);
    byte = b[0];
  }
  return out;
}

TEST(FwCfg, SignatureIdAndDirectory) {
  FwCfg fw(nullptr);
  ASSERT_TRUE(fw.add_file("etc/e820", std::vector<uint8_t>(40, 1)).ok());
  ASSERT_TRUE(fw.add_file("bootorder", {'/', '\n'}).ok());
  EXPECT_FALSE(fw.add_file(std::string(60, 'x'), {}).ok());
  fw.add_u16(kFwCfgNbCpus, 2);
  fw.finalize();
  select(fw, kFwCfgSignature);
  EXPECT_EQ(read_bytes(fw, 4), (std::vector<uint8_t>{'Q', 'E', 'M', 'U'}));
  select(fw, kFwCfgId);
  EXPECT_EQ(read_bytes(fw, 4), (std::vector<uint8_t>{3, 0, 0, 0}));  // traditional + DMA
  select(fw, kFwCfgNbCpus);
  EXPECT_EQ(read_bytes(fw, 2), (std::vector<uint8_t>{2, 0}));

  select(fw, kFwCfgFileDir);
  const std::vector<uint8_t> dir = read_bytes(fw, 4 + 2 * 64);
  EXPECT_EQ(dir[3], 2);  // be32 count
  // Sorted by name: "bootorder" (key 0x20), then "etc/e820" (0x21).
  const uint8_t* first = dir.data() + 4;
  EXPECT_EQ(first[3], 2);     // be32 size 2
  EXPECT_EQ(first[4], 0x00);  // be16 select 0x0020
  EXPECT_EQ(first[5], 0x20);
  EXPECT_STREQ(reinterpret_cast<const char*>(first + 8), "bootorder");
  const uint8_t* second = first + 64;
  EXPECT_EQ(second[3], 40);
  EXPECT_EQ(second[5], 0x21);
  EXPECT_STREQ(reinterpret_cast<const char*>(second + 8), "etc/e820");
  select(fw, 0x20);
  EXPECT_EQ(read_bytes(fw, 3), (std::vector<uint8_t>{'/', '\n', 0}));  // past the end reads 0
  select(fw, 0x7777);
  EXPECT_EQ(read_bytes(fw, 1), (std::vector<uint8_t>{0}));
}

TEST(FwCfg, DmaReadAndHostileDescriptors) {
  std::vector<uint8_t> ram(0x10000, 0xEE);
  GuestMemory memory;
  ASSERT_TRUE(memory.add_region(0, ram.size(), ram.data()));
  FwCfg fw(&memory);
  ASSERT_TRUE(fw.add_file("etc/x", {1, 2, 3, 4}).ok());
  fw.finalize();
  auto dma = [&](uint32_t control, uint32_t length, uint64_t address) {
    uint8_t d[16] = {static_cast<uint8_t>(control >> 24), static_cast<uint8_t>(control >> 16),
                     static_cast<uint8_t>(control >> 8),  static_cast<uint8_t>(control),
                     static_cast<uint8_t>(length >> 24),  static_cast<uint8_t>(length >> 16),
                     static_cast<uint8_t>(length >> 8),   static_cast<uint8_t>(length)};
    for (int i = 0; i < 8; ++i) d[8 + i] = static_cast<uint8_t>(address >> (8 * (7 - i)));
    std::memcpy(ram.data() + 0x1000, d, sizeof(d));
    const uint8_t trigger[4] = {0, 0, 0x10, 0x00};  // be32 0x1000
    fw.io_write(8, trigger);
    return (uint32_t{ram[0x1000]} << 24) | (uint32_t{ram[0x1001]} << 16) |
           (uint32_t{ram[0x1002]} << 8) | ram[0x1003];
  };
  EXPECT_EQ(dma((0x20u << 16) | 0x8 | 0x2, 6, 0x2000), 0u);
  EXPECT_EQ(std::vector<uint8_t>(ram.begin() + 0x2000, ram.begin() + 0x2007),
            (std::vector<uint8_t>{1, 2, 3, 4, 0, 0, 0xEE}));
  EXPECT_EQ(dma(0x2, 0xFFFFFFFF, 0x3000), 1u);         // runs off the end of RAM: error
  EXPECT_EQ(dma(0x10, 4, 0x3000), 1u);                 // writes are refused
  EXPECT_EQ(dma(0x2, 16, 0xFFFFFFFFFFFFFFF0ULL), 1u);  // wrapping address
}

// A DMA read whose length runs far past its item must not zero-fill guest
// RAM at the guest's say-so: one 0xFFFFFFFF-byte read would otherwise wipe
// all of RAM (here 8 MiB of it, synthetic) inside one exit.
TEST(FwCfg, DmaReadPastItemIsBounded) {
  constexpr size_t kRam = 8 << 20;
  std::vector<uint8_t> ram(kRam, 0xEE);
  GuestMemory memory;
  ASSERT_TRUE(memory.add_region(0, ram.size(), ram.data()));
  FwCfg fw(&memory);
  ASSERT_TRUE(fw.add_file("etc/x", {1, 2, 3, 4}).ok());
  fw.finalize();
  auto dma = [&](uint32_t control, uint32_t length, uint64_t address) {
    uint8_t d[16] = {static_cast<uint8_t>(control >> 24), static_cast<uint8_t>(control >> 16),
                     static_cast<uint8_t>(control >> 8),  static_cast<uint8_t>(control),
                     static_cast<uint8_t>(length >> 24),  static_cast<uint8_t>(length >> 16),
                     static_cast<uint8_t>(length >> 8),   static_cast<uint8_t>(length)};
    for (int i = 0; i < 8; ++i) d[8 + i] = static_cast<uint8_t>(address >> (8 * (7 - i)));
    std::memcpy(ram.data() + 0x1000, d, sizeof(d));
    const uint8_t trigger[4] = {0, 0, 0x10, 0x00};  // be32 0x1000
    fw.io_write(8, trigger);
    return (uint32_t{ram[0x1000]} << 24) | (uint32_t{ram[0x1001]} << 16) |
           (uint32_t{ram[0x1002]} << 8) | ram[0x1003];
  };
  auto untouched = [&](size_t from, size_t to) {
    return std::all_of(ram.begin() + from, ram.begin() + to, [](uint8_t b) { return b == 0xEE; });
  };
  const uint32_t select_read = (0x20u << 16) | 0x8 | 0x2;
  // Whole-RAM length, and one just over the bound that fits in RAM: both
  // refused with the error bit, nothing written.
  EXPECT_EQ(dma(select_read, 0xFFFFFFFF, 0x2000), 1u);
  EXPECT_TRUE(untouched(0x2000, kRam));
  EXPECT_EQ(dma(select_read, 4 + kFwCfgMaxDmaZeroFill + 1, 0x2000), 1u);
  EXPECT_TRUE(untouched(0x2000, kRam));
  // A refused read leaves the position alone: the item still reads from 0.
  EXPECT_EQ(dma(0x2, 2, 0x2000), 0u);
  EXPECT_EQ(ram[0x2000], 1);
  EXPECT_EQ(ram[0x2001], 2);
  // Up to the bound past the end is still zero-filled, as under QEMU.
  EXPECT_EQ(dma(select_read, 4 + kFwCfgMaxDmaZeroFill, 0x2000), 0u);
  EXPECT_EQ(ram[0x2003], 4);
  EXPECT_TRUE(std::all_of(ram.begin() + 0x2004, ram.begin() + 0x2004 + kFwCfgMaxDmaZeroFill,
                          [](uint8_t b) { return b == 0; }));
  EXPECT_TRUE(untouched(0x2004 + kFwCfgMaxDmaZeroFill, kRam));
  // A skip of any length only moves the position.
  EXPECT_EQ(dma((0x20u << 16) | 0x8 | 0x4, 0xFFFFFFFF, 0x2000), 0u);
}

}  // namespace
}  // namespace amber::hv::devices
