// SPDX-License-Identifier: GPL-2.0-or-later
// The PIIX4 ACPI register block under guest accesses of any size at any
// offset: every byte comes from the register it falls in, and no access
// shifts past the 64-bit word the registers are assembled in (the
// sanitizer build aborts on such a shift).
#include "hv/devices/piix4_pm.h"

#include <gtest/gtest.h>

#include <cstring>

namespace amber::hv::devices {
namespace {

class AcpiPmTest : public ::testing::Test {
 protected:
  uint32_t read(uint64_t offset, unsigned size) {
    uint8_t bytes[4] = {};
    registers_.io_read(offset, std::span(bytes, size));
    uint32_t value = 0;
    std::memcpy(&value, bytes, 4);
    return value;
  }
  void write(uint64_t offset, unsigned size, uint32_t value) {
    uint8_t bytes[4];
    std::memcpy(bytes, &value, 4);
    registers_.io_write(offset, std::span<const uint8_t>(bytes, size));
  }
  AcpiPmRegisters registers_{[] {}, [](bool) {}};
};

TEST_F(AcpiPmTest, WordReadsAtTheEndOfPm1) {
  write(2, 2, 0x0521);  // PM1_EN: PWRBTN_EN | GBL_EN | TMR_EN
  EXPECT_EQ(read(2, 2), 0x0521u);
  EXPECT_EQ(read(5, 2), 0u);  // PM1_CNT high byte, reserved byte 6
  EXPECT_EQ(read(6, 2), 0u);  // reserved bytes 6..7
  // +7 straddles into the timer: byte 7 reads 0, then timer bytes 0 (and 1).
  for (unsigned size : {2u, 4u}) {
    for (int attempt = 0; attempt < 100; ++attempt) {
      const uint32_t before = read(8, 4);
      const uint32_t straddling = read(7, size);
      const uint32_t after = read(8, 4);
      if ((before >> 16) != (after >> 16)) continue;  // the timer moved a lot: again
      EXPECT_EQ(straddling & 0xFF, 0u) << size;
      // Byte 3 is timer byte 2, not PM1_EN (a shift by 80 wrapped to 16).
      if (size == 4) {
        EXPECT_EQ(straddling >> 24, (before >> 16) & 0xFF);
      }
      break;
    }
  }
}

}  // namespace
}  // namespace amber::hv::devices

namespace amber::hv::devices {
namespace {

// SeaBIOS with etc/table-loader programs PMBASE 0x601 (the ACPI tables'
// PM1a_EVT 0x600); the block follows every PMBASE/PMREGMISC write.
TEST(Piix4PmConfig, PmBaseMovesTheBlock) {
  bus::IoBus pio("pio");
  AcpiPmRegisters registers([] {}, [](bool) {});
  Piix4Pm pm(pio, &registers);
  auto read16 = [&pio](uint64_t port) {
    uint8_t bytes[2] = {0xFF, 0xFF};
    const bool claimed = pio.read(port, bytes);
    return claimed ? static_cast<int>(bytes[0] | (bytes[1] << 8)) : -1;
  };
  auto write16 = [&pio](uint64_t port, uint16_t value) {
    const uint8_t bytes[2] = {static_cast<uint8_t>(value), static_cast<uint8_t>(value >> 8)};
    return pio.write(port, bytes);
  };
  EXPECT_EQ(read16(0x602), -1);  // not mapped before PMREGMISC
  pm.config_write(0x40, 4, 0xB001);
  pm.config_write(0x80, 1, 0x01);
  EXPECT_TRUE(write16(0xB002, 0x0100));  // PM1_EN: PWRBTN_EN
  EXPECT_EQ(read16(0xB002), 0x0100);
  pm.config_write(0x40, 4, 0x0601);
  EXPECT_EQ(pm.config_read(0x40, 4), 0x0601u);
  EXPECT_EQ(read16(0xB002), -1);
  EXPECT_EQ(read16(0x602), 0x0100);  // same registers, new place
  pm.config_write(0x80, 1, 0x00);
  EXPECT_EQ(read16(0x602), -1);
}

}  // namespace
}  // namespace amber::hv::devices
