// SPDX-License-Identifier: GPL-2.0-or-later
// A hostile guest's schedules: TD and QH loops, links and buffers outside
// RAM, and 10,000 frames over random memory. The controller must neither
// crash nor spend more than its bounded work on a frame.
#include <gtest/gtest.h>

#include <random>

#include "tests/unit/usb/uhci_harness.h"

namespace amber::hv::usb::test {
namespace {

constexpr uint32_t kQh = 0x20000;
constexpr uint32_t kTd = 0x21000;
constexpr uint32_t kBuffer = 0x30000;

class UhciHostileTest : public ::testing::Test {
 protected:
  UhciHostileTest() {
    h.uhci().attach(0, &tablet);
    h.uhci().attach(1, &keyboard);
  }
  UhciHarness h;
  HidDevice tablet{HidKind::kTablet};
  HidDevice keyboard{HidKind::kKeyboard};
};

TEST_F(UhciHostileTest, TdThatLinksToItselfIsBounded) {
  h.start();
  // Inactive (nothing to do), depth first, back to itself.
  h.td(kTd, kTd | kLinkDepthFirst, 0, token(kIn, 0, 1, 0, 8), kBuffer);
  h.all_frames(kTd);
  h.uhci().run_frames(3);
  EXPECT_EQ(h.uhci().last_frame().links, kFrameMaxLinks);
  // Active zero-length OUTs to endpoint 0 that always complete, in a loop.
  h.td(kTd, kTd | kLinkDepthFirst, kTdActive, token(kOut, 0, 0, 0, 0), kBuffer);
  h.uhci().run_frames(3);
  EXPECT_LE(h.uhci().last_frame().links, kFrameMaxLinks);
}

TEST_F(UhciHostileTest, QueueHeadLoopsEndTheFrame) {
  h.start();
  // An empty QH that links to itself: the second visit without a TD ends
  // the frame.
  h.qh(kQh, kQh | kLinkQh, kLinkTerminate);
  h.all_frames(kQh | kLinkQh);
  h.uhci().run_frames(1);
  EXPECT_LE(h.uhci().last_frame().links, 2u);
  // Two QHs whose element TDs NAK forever, linked in a ring.
  h.qh(kQh, (kQh + 0x10) | kLinkQh, kTd);
  h.qh(kQh + 0x10, kQh | kLinkQh, kTd + 0x20);
  h.td(kTd, kLinkTerminate, kTdActive, token(kIn, 0, 1, 0, 8), kBuffer);
  h.td(kTd + 0x20, kLinkTerminate, kTdActive, token(kIn, 0, 1, 0, 8), kBuffer);
  h.uhci().run_frames(2);
  EXPECT_LE(h.uhci().last_frame().links, 6u);
  // Many distinct QHs in a ring whose TDs complete (bandwidth
  // reclamation): bounded by the link budget and the frame's bytes.
  tablet.move_absolute(PointerAxis::kX, 5);
  for (uint32_t i = 0; i < 200; ++i) {
    const uint32_t qh = kQh + 0x10 * i;
    h.qh(qh, (kQh + 0x10 * ((i + 1) % 200)) | kLinkQh, kTd + 0x20 * i);
    h.td(kTd + 0x20 * i, kLinkTerminate, kTdActive, token(kOut, 0, 0, 0, 0), kBuffer);
  }
  h.uhci().run_frames(1);
  EXPECT_LE(h.uhci().last_frame().links, kFrameMaxLinks);
}

TEST_F(UhciHostileTest, AddressesOutsideRamFailTheTdOrEndTheFrame) {
  h.start();
  // The frame list itself outside RAM.
  h.outl(kFlBase, 0xFFFFF000);
  h.uhci().run_frames(2);
  EXPECT_EQ(h.uhci().last_frame().links, 0u);
  h.outl(kFlBase, kFrameList);
  // A link to a TD outside RAM.
  h.all_frames(0xF0000000);
  h.uhci().run_frames(2);
  EXPECT_EQ(h.uhci().last_frame().tds, 0u);
  // A SETUP whose buffer is outside RAM: the TD fails, RAM is untouched.
  h.td(kTd, kLinkTerminate, kTdActive | 3u << kTdErrorShift, token(kSetup, 0, 0, 0, 8), 0xFFFFFFF8);
  h.all_frames(kTd);
  h.uhci().run_frames(1);
  uint32_t control = h.get32(kTd + 4);
  EXPECT_EQ(control & kTdActive, 0u);
  EXPECT_NE(control & kTdTimeout, 0u);
  // An IN whose buffer crosses the end of RAM.
  h.put_bytes(kBuffer, {0x80, 0x06, 0x00, 0x01, 0x00, 0x00, 0x12, 0x00});
  h.td(kTd, (kTd + 0x20) | kLinkDepthFirst, kTdActive, token(kSetup, 0, 0, 0, 8), kBuffer);
  h.td(kTd + 0x20, kLinkTerminate, kTdActive, token(kIn, 0, 0, 1, 8), kRamSize - 4);
  h.uhci().run_frames(1);
  control = h.get32(kTd + 0x24);
  EXPECT_EQ(control & kTdActive, 0u);
  EXPECT_NE(control & kTdTimeout, 0u);
}

TEST_F(UhciHostileTest, ControlRequestsWithHugeOrOddLengths) {
  h.start();
  // wLength 0xFFFF (more than the device buffers): the SETUP stalls.
  h.put_bytes(kBuffer, {0x80, 0x06, 0x00, 0x02, 0x00, 0x00, 0xFF, 0xFF});
  h.td(kTd, kLinkTerminate, kTdActive, token(kSetup, 0, 0, 0, 8), kBuffer);
  h.all_frames(kTd);
  h.uhci().run_frames(1);
  EXPECT_NE(h.get32(kTd + 4) & kTdStalled, 0u);
  // A SETUP that is not 8 bytes stalls; an IN without a SETUP stalls.
  h.td(kTd, kLinkTerminate, kTdActive, token(kSetup, 0, 0, 0, 7), kBuffer);
  h.uhci().run_frames(1);
  EXPECT_NE(h.get32(kTd + 4) & kTdStalled, 0u);
  h.td(kTd, kLinkTerminate, kTdActive, token(kIn, 0, 0, 1, 64), kBuffer + 0x100);
  h.uhci().run_frames(1);
  EXPECT_NE(h.get32(kTd + 4) & kTdStalled, 0u);
}

// Random memory that looks like a schedule: link words mostly inside RAM,
// TDs with valid and invalid PIDs, random SETUP packets and lengths; random
// register writes in between. 10,000 frames.
TEST_F(UhciHostileTest, RandomSchedulesForTenThousandFrames) {
  std::mt19937 random(20261207);
  auto word = [&random]() -> uint32_t {
    const uint32_t r = random();
    switch (r % 8) {
      case 0:
        return random();  // anything, often outside RAM
      case 1:
        return kLinkTerminate;
      default:
        return (random() & (kRamSize - 1) & ~0xFu) | (r >> 8 & 6);
    }
  };
  auto fill = [&] {
    for (uint32_t address = 0x10000; address < kRamSize; address += 16) {
      h.put32(address, word());
      uint32_t control = random();
      if (random() % 4 != 0) control |= kTdActive;
      h.put32(address + 4, control);
      // Mostly valid PIDs: a bad one halts the controller for the frame.
      static constexpr uint8_t kPids[] = {kSetup, kIn, kOut, kIn, kOut, kSetup, kIn, 0x55};
      const uint32_t length = random() % 4 == 0 ? random() % 0x800 : random() % 64;
      h.put32(address + 8,
              token(kPids[random() % 4], random() % 3, random() % 3, random() % 2, length + 1) &
                  (random() % 2 ? 0xFFFFFFFFu : 0xFFFF80FFu));
      h.put32(address + 12, word());
    }
  };
  fill();
  h.start();
  h.outw(kPortSc2, kPortEnabled);
  unsigned tds = 0;
  for (unsigned frame = 0; frame < 10000; ++frame) {
    if (frame % 500 == 0) fill();
    if (frame % 97 == 0) {
      tablet.move_absolute(PointerAxis::kX, static_cast<int>(random() % 0x8000));
      tablet.sync();
      keyboard.key(30, frame % 2 == 0);
    }
    switch (random() % 64) {
      case 0:
        h.outw(kPortSc1 + 2 * (random() % 2), static_cast<uint16_t>(random()));
        break;
      case 1:
        h.outw(kUsbSts, 0xFFFF);
        break;
      case 2:
        h.outl(kFlBase, random() % 8 == 0 ? random() : random() & (kRamSize - 1));
        break;
      default:
        break;
    }
    if (!(h.inw(kUsbCmd) & kCmdRun)) {
      h.outw(kUsbSts, 0xFFFF);
      h.outw(kUsbCmd, kCmdRun);
      h.outw(kPortSc1, kPortEnabled);
      h.outw(kPortSc2, kPortEnabled);
    }
    h.uhci().run_frames(1);
    const FrameWork work = h.uhci().last_frame();
    ASSERT_LE(work.links, kFrameMaxLinks) << "frame " << frame;
    ASSERT_LE(work.bytes, 2 * kFrameBandwidth) << "frame " << frame;
    tds += work.tds;
  }
  // The schedule was really walked (not refused at the first link).
  EXPECT_GT(tds, 1000u);
}

}  // namespace
}  // namespace amber::hv::usb::test
