// SPDX-License-Identifier: GPL-2.0-or-later
// The floppy controller without drives (hv/devices/floppy.h) through its
// registers: the power-on registers, a DOR reset with IRQ 6 and its four
// SENSE INTERRUPT answers, VERSION / DUMPREG / CONFIGURE / LOCK, an
// invalid opcode, SEEK's interrupt, a READ on no medium, a DSR software
// reset; and random register traffic (every command byte and length a
// guest can send) without a crash or a stuck controller.
#include "hv/devices/floppy.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace amber::hv::devices {
namespace {

class FloppyTest : public ::testing::Test {
 protected:
  uint8_t in(unsigned offset) {
    uint8_t v = 0;
    fdc_.io_read(offset, std::span(&v, 1));
    return v;
  }
  void out(unsigned offset, uint8_t v) { fdc_.io_write(offset, std::span(&v, 1)); }
  // Sends a command; returns its result bytes.
  std::vector<uint8_t> command(std::vector<uint8_t> bytes) {
    for (uint8_t b : bytes) {
      EXPECT_EQ(in(4) & 0xC0, 0x80) << "controller not ready for a byte";
      out(5, b);
    }
    std::vector<uint8_t> got;
    while ((in(4) & 0xC0) == 0xC0 && got.size() < 32) got.push_back(in(5));
    return got;
  }

  bool line_ = false;
  int raised_ = 0;
  FloppyController fdc_{[this](bool level) {
    if (level && !line_) ++raised_;
    line_ = level;
  }};
};

TEST_F(FloppyTest, PowerOnRegistersAsQemu) {
  EXPECT_EQ(in(1), 0xC0);  // SRB
  EXPECT_EQ(in(2), 0x0C);  // DOR: nRESET, DMA
  EXPECT_EQ(in(3), 0x00);
  EXPECT_EQ(in(4), 0x80);  // MSR: RQM
  EXPECT_EQ(in(7), 0x80);  // DIR: disk change
  EXPECT_FALSE(line_);
  EXPECT_EQ(command({0x08}), (std::vector<uint8_t>{0x80}));  // nothing pending: INVALID
}

TEST_F(FloppyTest, DorResetRaisesIrq6AndFourSenseInterrupts) {
  out(2, 0x00);
  EXPECT_FALSE(line_);
  out(2, 0x0C);
  EXPECT_TRUE(line_);
  EXPECT_EQ(raised_, 1);
  EXPECT_EQ(in(0) & 0x80, 0x80);  // SRA INTPEND
  for (uint8_t drive = 0; drive < 4; ++drive)
    EXPECT_EQ(command({0x08}), (std::vector<uint8_t>{static_cast<uint8_t>(0xC0 + drive), 0}));
  EXPECT_FALSE(line_);
  EXPECT_EQ(command({0x08}), (std::vector<uint8_t>{0x80}));
  // DSR bit 7: a software reset, the same interrupt and answers.
  out(4, 0x80);
  EXPECT_TRUE(line_);
  EXPECT_EQ(command({0x08}), (std::vector<uint8_t>{0xC0, 0}));
}

TEST_F(FloppyTest, IdentificationAndConfiguration) {
  EXPECT_EQ(command({0x10}), (std::vector<uint8_t>{0x90}));
  EXPECT_EQ(command({0x18}), (std::vector<uint8_t>{0x41}));
  EXPECT_TRUE(command({0x03, 0xDF, 0x02}).empty());  // SPECIFY: no result
  EXPECT_EQ(command({0x0E}), (std::vector<uint8_t>{0, 0, 0, 0, 0x0D, 0x03, 0, 0, 0x60, 0}));
  EXPECT_TRUE(command({0x13, 0x00, 0x57, 0x00}).empty());
  EXPECT_EQ(command({0x0E})[8], 0x57);
  EXPECT_EQ(command({0x94}), (std::vector<uint8_t>{0x10}));
  EXPECT_EQ(command({0x0E})[7], 0x80);
  EXPECT_EQ(command({0x14}), (std::vector<uint8_t>{0x00}));
  EXPECT_EQ(command({0x01}), (std::vector<uint8_t>{0x80}));  // invalid opcode
  EXPECT_EQ(command({0x04, 0x01}), (std::vector<uint8_t>{0x79}));
  EXPECT_FALSE(line_);
}

TEST_F(FloppyTest, SeekAndReadWithoutMedium) {
  EXPECT_TRUE(command({0x0F, 0x00, 0x05}).empty());
  EXPECT_TRUE(line_);
  EXPECT_EQ(command({0x08}), (std::vector<uint8_t>{0x20, 0}));  // the head did not move
  EXPECT_FALSE(line_);
  EXPECT_EQ(command({0x46, 0x00, 0x00, 0x00, 0x01, 0x02, 0x12, 0x1B, 0xFF}),
            (std::vector<uint8_t>{0x40, 0x80, 0, 0, 0, 1, 2}));
  EXPECT_FALSE(line_);  // reading the result cleared it
  EXPECT_EQ(command({0x46, 0x00, 0x03, 0x00, 0x01, 0x02, 0x12, 0x1B, 0xFF})[1], 0x00);
}

TEST_F(FloppyTest, RandomTrafficNeverWedges) {
  std::mt19937 rng(99);
  for (int i = 0; i < 20000; ++i) {
    const unsigned offset = rng() % 8;
    if (rng() % 2)
      out(offset, static_cast<uint8_t>(rng()));
    else
      (void)in(offset);
  }
  // A reset always brings it back to a known state.
  out(2, 0x00);
  out(2, 0x0C);
  EXPECT_EQ(in(4), 0x80);
  EXPECT_EQ(command({0x10}), (std::vector<uint8_t>{0x90}));
}

}  // namespace
}  // namespace amber::hv::devices
