// SPDX-License-Identifier: GPL-2.0-or-later
// The PIIX4 ACPI register block under guest accesses of any size at any
// offset: every byte comes from the register it falls in, and no access
// shifts past the 64-bit word the registers are assembled in (the
// sanitizer build aborts on such a shift). The power button, the SCI level
// (PM1 and GPE0), write-1-to-clear status, SMI_CMD's SCI_EN, S5 and the
// config bytes QEMU sets.
#include "hv/devices/piix4_pm.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "hv/bus/io_bus.h"

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
  // PM1_STS less TMR_STS (which follows the host clock; its own test).
  uint32_t status() { return read(0, 2) & ~AcpiPmRegisters::kTimerStatus; }
  int shutdowns_ = 0;
  std::vector<bool> sci_;  // every level change the line saw
  AcpiPmRegisters registers_{[this] { ++shutdowns_; },
                             [this](bool level) { sci_.push_back(level); }};
};

constexpr uint64_t kPm1Status = 0, kPm1Enable = 2, kPm1Control = 4;
constexpr uint32_t kPwrBtn = 1u << 8;
constexpr uint32_t kTimerSts = AcpiPmRegisters::kTimerStatus;

TEST_F(AcpiPmTest, PowerButtonIgnoredUntilEnabled) {
  EXPECT_FALSE(registers_.press_power_button());
  EXPECT_EQ(status(), 0u);  // no stale press for a later enable
  EXPECT_TRUE(sci_.empty());
  write(kPm1Enable, 2, kPwrBtn);
  EXPECT_FALSE(registers_.sci_level());
  EXPECT_TRUE(sci_.empty());
}

TEST_F(AcpiPmTest, PowerButtonRaisesSciUntilCleared) {
  write(kPm1Enable, 2, kPwrBtn);
  EXPECT_TRUE(registers_.press_power_button());
  EXPECT_EQ(status(), kPwrBtn);
  EXPECT_EQ((read(kPm1Status, 4) & ~kTimerSts),
            kPwrBtn | (kPwrBtn << 16));  // STS and EN in one dword
  EXPECT_TRUE(registers_.sci_level());
  EXPECT_EQ(sci_, std::vector<bool>{true});
  // A second press while pending: still one level, no new edge.
  EXPECT_TRUE(registers_.press_power_button());
  EXPECT_EQ(sci_, std::vector<bool>{true});
  // Writing 0s, or 1s to other bits, clears nothing.
  write(kPm1Status, 2, 0);
  write(kPm1Status, 2, 0x0001);
  EXPECT_EQ(status(), kPwrBtn);
  EXPECT_TRUE(registers_.sci_level());
  // Write-1-to-clear (a byte write to the high half, as a guest may do).
  write(kPm1Status + 1, 1, 0x01);
  EXPECT_EQ(status(), 0u);
  EXPECT_FALSE(registers_.sci_level());
  EXPECT_EQ(sci_, (std::vector<bool>{true, false}));
}

TEST_F(AcpiPmTest, SciLevelFollowsEnable) {
  write(kPm1Enable, 2, kPwrBtn);
  ASSERT_TRUE(registers_.press_power_button());
  ASSERT_TRUE(registers_.sci_level());
  write(kPm1Enable, 2, 0);  // masked: the status stays, the line drops
  EXPECT_EQ(status(), kPwrBtn);
  EXPECT_FALSE(registers_.sci_level());
  write(kPm1Enable, 2, kPwrBtn);  // unmasked: up again
  EXPECT_TRUE(registers_.sci_level());
  EXPECT_EQ(sci_, (std::vector<bool>{true, false, true}));
  // A GPE0 enable alone (no GPE status) does not hold the line: clear PM1.
  write(AcpiPmRegisters::kGpeOffset + 2, 2, 0xFFFF);
  write(kPm1Status, 2, kPwrBtn);
  EXPECT_FALSE(registers_.sci_level());
}

// TMR_STS as QEMU's: set when first read, re-armed by write-1-to-clear for
// the next change of the timer's bit 23 (2^23 ticks at 3.579545 MHz, about
// 2.34 s); with TMR_EN it raises the SCI.
TEST_F(AcpiPmTest, TimerStatusAsQemu) {
  EXPECT_EQ(read(kPm1Status, 2) & kTimerSts, kTimerSts);
  EXPECT_TRUE(sci_.empty());  // TMR_EN clear: no SCI
  write(kPm1Status, 2, kTimerSts);
  EXPECT_EQ(read(kPm1Status, 2) & kTimerSts, 0u);  // armed: the next boundary is ahead
  // It sets again within one period of bit 23.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(4);
  while ((read(kPm1Status, 2) & kTimerSts) == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(read(kPm1Status, 2) & kTimerSts, kTimerSts);
  write(kPm1Enable, 2, kTimerSts);  // TMR_EN with the status pending: SCI
  EXPECT_TRUE(registers_.sci_level());
  write(kPm1Status, 2, kTimerSts);
  EXPECT_FALSE(registers_.sci_level());
}

TEST_F(AcpiPmTest, ApmControlSetsAndClearsSciEnable) {
  EXPECT_EQ(read(kPm1Control, 2) & 1, 0u);      // SCI_EN clear at reset (legacy mode)
  write(AcpiPmRegisters::kApmOffset, 1, 0xF1);  // ACPI_ENABLE
  EXPECT_EQ(read(kPm1Control, 2) & 1, 1u);
  write(AcpiPmRegisters::kApmOffset, 1, 0x42);  // another command: no change
  EXPECT_EQ(read(kPm1Control, 2) & 1, 1u);
  write(AcpiPmRegisters::kApmOffset, 1, 0xF0);  // ACPI_DISABLE
  EXPECT_EQ(read(kPm1Control, 2) & 1, 0u);
  write(AcpiPmRegisters::kApmOffset + 1, 1, 0x5A);  // 0xB3 is a scratch byte
  EXPECT_EQ(read(AcpiPmRegisters::kApmOffset + 1, 1), 0x5Au);
  write(AcpiPmRegisters::kApmOffset, 1, 0xF1);
  registers_.reset_state();
  EXPECT_EQ(read(kPm1Control, 2) & 1, 0u);
}

TEST_F(AcpiPmTest, SleepTypeZeroIsSoftOff) {
  write(kPm1Control, 2, 1 | (5u << 10));  // SLP_TYP 5 without SLP_EN: nothing
  EXPECT_EQ(shutdowns_, 0);
  EXPECT_EQ(read(kPm1Control, 2), 1u | (5u << 10));
  write(kPm1Control, 2, 1 | (3u << 10) | (1u << 13));  // S3 is not offered: nothing
  EXPECT_EQ(shutdowns_, 0);
  write(kPm1Control, 2, 1 | (1u << 13));  // SLP_TYP 0 | SLP_EN: S5
  EXPECT_EQ(shutdowns_, 1);
  EXPECT_EQ(read(kPm1Control, 2) & (1u << 13), 0u);  // SLP_EN reads 0
}

TEST_F(AcpiPmTest, GpeStatusIsWriteOneToClear) {
  // GPE0 status bits are set by hardware only; a guest writing 1s clears.
  write(AcpiPmRegisters::kGpeOffset + 2, 2, 0x0003);
  EXPECT_EQ(read(AcpiPmRegisters::kGpeOffset, 4), 0x00030000u);
  write(AcpiPmRegisters::kGpeOffset, 2, 0xFFFF);
  EXPECT_EQ(read(AcpiPmRegisters::kGpeOffset, 2), 0u);
  EXPECT_FALSE(registers_.sci_level());
}

TEST(Piix4PmConfig, DecodeBytesAsQemu) {
  bus::IoBus pio("pio");
  AcpiPmRegisters registers([] {}, [](bool) {});
  Piix4Pm pm(pio, &registers);
  EXPECT_EQ(pm.config_read(0x00, 4), 0x71138086u);
  EXPECT_EQ(pm.config_read(0x3C, 1), 9u);     // SCI: IRQ 9
  EXPECT_EQ(pm.config_read(0x5B, 1), 0x02u);  // SMM "already set up"
  EXPECT_EQ(pm.config_read(0x5F, 1), 0x10u);  // bit 7 clear: no LPT
  EXPECT_EQ(pm.config_read(0x63, 1), 0x60u);
  EXPECT_EQ(pm.config_read(0x67, 1), 0x08u);  // bit 3: COM1
  pm.config_write(0x40, 4, 0xB001);
  pm.config_write(0x80, 1, 1);
  EXPECT_EQ(pm.config_read(0x40, 4), 0xB001u);
  // The block is mapped at PMBASE: a power-button enable through the bus.
  uint8_t enable[2] = {0x00, 0x01};
  ASSERT_TRUE(pio.write(0xB002, enable));
  EXPECT_TRUE(registers.press_power_button());
  uint8_t status[2] = {};
  ASSERT_TRUE(pio.read(0xB000, status));
  EXPECT_EQ(status[1], 0x01);
}

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
