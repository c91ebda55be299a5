// SPDX-License-Identifier: GPL-2.0-or-later
// A hostile guest's EHCI schedules: QH and qTD loops, periodic loops,
// pointers and buffers outside RAM, oversized qTDs, odd register
// accesses, and frames over random memory. The controller must neither
// crash nor do more than its bounded work in a frame.
#include <gtest/gtest.h>

#include <random>

#include "tests/unit/usb/ehci_harness.h"

namespace amber::hv::usb::test {
namespace {

constexpr uint32_t kQh = 0x20000;
constexpr uint32_t kQtd = 0x40000;
constexpr uint32_t kBuffer = 0x30000;

class EhciHostileTest : public ::testing::Test {
 protected:
  EhciHostileTest() {
    h.ehci().attach(0, &tablet);
    h.ehci().attach(2, &keyboard);
    h.take_and_reset(0);
    h.write(kEhciUsbSts, 0x3F);
  }
  EhciHarness h;
  HidDevice tablet{HidKind::kTablet};
  HidDevice keyboard{HidKind::kKeyboard};
};

TEST_F(EhciHostileTest, AsyncRingsAndQtdChainsAreBounded) {
  // A ring of 1000 QHs that never returns to the first one's address
  // twice in time: bounded by the QH budget.
  for (uint32_t i = 0; i < 1000; ++i)
    h.qh(kQh + 0x40 * i, (kQh + 0x40 * ((i + 1) % 1000)) | kQhTypeLink, 0, 0, 1);
  h.run(kQh);
  h.ehci().run_frames(2);
  EXPECT_LE(h.ehci().last_frame().queue_heads, kEhciMaxQueueHeads);
  // A "rho": the ring goes back to its second QH, never to the first.
  h.qh(kQh, (kQh + 0x40) | kQhTypeLink, 0, 0, 1);
  h.qh(kQh + 0x40, (kQh + 0x80) | kQhTypeLink, 0, 0, 1);
  h.qh(kQh + 0x80, (kQh + 0x40) | kQhTypeLink, 0, 0, 1);
  h.ehci().run_frames(1);
  EXPECT_EQ(h.ehci().last_frame().queue_heads, 3u);
  // 4000 active SETUPs (GET_CONFIGURATION: a device always takes a SETUP)
  // in one chain: bounded by the transfer budget, the rest wait.
  h.put_bytes(kBuffer, {0x80, 0x08, 0, 0, 0, 0, 1, 0});
  for (uint32_t i = 0; i < 4000; ++i)
    h.qtd(kQtd + 0x20 * i, kQtd + 0x20 * (i + 1), qtd_token(kPidSetup, 8), kBuffer);
  h.qtd(kQtd + 0x20 * 3999, 1, qtd_token(kPidSetup, 8), kBuffer);
  h.qh(kQh, kQh | kQhTypeLink, 0, 0, kQtd);
  h.ehci().run_frames(1);
  EXPECT_EQ(h.ehci().last_frame().transfers, kEhciMaxTransfers);
  h.ehci().run_frames(20);
  EXPECT_EQ(h.get32(kQtd + 0x20 * 3999 + 8) & kQtdActive, 0u);
  // A qTD that links to itself: run once, then the inactive qTD ends it.
  h.qtd(kQtd, kQtd, qtd_token(kPidSetup, 8), kBuffer);
  h.qh(kQh, kQh | kQhTypeLink, 0, 0, kQtd);
  h.ehci().run_frames(1);
  EXPECT_EQ(h.ehci().last_frame().transfers, 1u);
  // Horizontal links that are not QHs, or terminate, end the pass.
  h.qh(kQh, kQtd | 0 /* iTD type */, 0, 0, 1);
  h.ehci().run_frames(1);
  EXPECT_EQ(h.ehci().last_frame().queue_heads, 1u);
}

TEST_F(EhciHostileTest, PeriodicLoopsAreBounded) {
  // A QH that links to itself in every frame.
  h.qh(kQh, kQh | kQhTypeLink, 0, 0, 1, false, 1);
  h.all_frames(kQh | kQhTypeLink);
  h.run(0, true);
  h.ehci().run_frames(2);
  EXPECT_LE(h.ehci().last_frame().periodic_links, 2u);
  // An iTD chain that loops: skipped, counted, bounded by the link budget.
  h.put32(kQtd, kQtd | 0);
  h.all_frames(kQtd | 0);
  h.ehci().run_frames(2);
  EXPECT_EQ(h.ehci().last_frame().periodic_links, kEhciMaxPeriodicLinks);
  EXPECT_EQ(h.ehci().last_frame().skipped, kEhciMaxPeriodicLinks);
  // siTDs and FSTNs likewise, then a terminating link.
  h.put32(kQtd, (kQtd + 0x40) | 2u << 1);
  h.put32(kQtd + 0x40, 1);
  h.all_frames(kQtd | 3u << 1);
  h.ehci().run_frames(1);
  EXPECT_EQ(h.ehci().last_frame().skipped, 2u);
}

TEST_F(EhciHostileTest, AddressesOutsideRamAndOversizedQtds) {
  // Schedules outside RAM: nothing runs.
  h.run(0xF0000000, true);
  h.write(kEhciPeriodicListBase, 0xFFFFF000);
  h.ehci().run_frames(2);
  EXPECT_EQ(h.ehci().last_frame().transfers, 0u);
  // A qTD pointer outside RAM.
  h.qh(kQh, kQh | kQhTypeLink, 0, 0, 0xF0000000);
  h.write(kEhciAsyncListAddr, kQh);
  h.ehci().run_frames(1);
  EXPECT_EQ(h.ehci().last_frame().transfers, 0u);
  // A SETUP whose buffer is outside RAM: transaction error, halted.
  h.qh(kQh, kQh | kQhTypeLink, 0, 0, kQtd);
  h.qtd(kQtd, 1, qtd_token(kPidSetup, 8), 0xFFFFF000);
  h.ehci().run_frames(1);
  EXPECT_EQ(h.get32(kQtd + 8) & (kQtdHalted | kQtdXactErr | kQtdActive), kQtdHalted | kQtdXactErr);
  EXPECT_NE(h.read(kEhciUsbSts) & kEhciStsError, 0u);
  // The halted QH is not run again until the guest clears it.
  h.ehci().run_frames(1);
  EXPECT_EQ(h.ehci().last_frame().transfers, 0u);
  // An IN whose buffer crosses out of RAM: RAM's last page untouched past
  // the buffer, the qTD halted.
  h.put_bytes(kBuffer, {0x80, 0x06, 0x00, 0x02, 0, 0, 0xFF, 0});
  h.qh(kQh, kQh | kQhTypeLink, 0, 0, kQtd);
  h.qtd(kQtd, kQtd + 0x20, qtd_token(kPidSetup, 8), kBuffer);
  h.qtd(kQtd + 0x20, 1, qtd_token(kPidIn, 0xFF), kEhciRamSize - 16);
  h.ehci().run_frames(1);
  EXPECT_NE(h.get32(kQtd + 0x28) & kQtdHalted, 0u);
  // Total bytes past five pages (0x7FFF) and PID code 3: halted, babble.
  h.qh(kQh, kQh | kQhTypeLink, 0, 0, kQtd);
  h.qtd(kQtd, 1, qtd_token(kPidIn, 0x7FFF), kBuffer);
  h.ehci().run_frames(1);
  EXPECT_EQ(h.get32(kQtd + 8) & (kQtdHalted | kQtdBabble), kQtdHalted | kQtdBabble);
  h.qh(kQh, kQh | kQhTypeLink, 0, 0, kQtd);
  h.qtd(kQtd, 1, qtd_token(3, 8), kBuffer);
  h.ehci().run_frames(1);
  EXPECT_NE(h.get32(kQtd + 8) & kQtdHalted, 0u);
  // A buffer that runs past its fifth page (current page 4, offset 0xFF0,
  // 64 bytes): halted, nothing written past the pages.
  h.qh(kQh, kQh | kQhTypeLink, 0, 0, kQtd);
  h.qtd(kQtd, 1, qtd_token(kPidOut, 64) | 4u << 12, kBuffer + 0xFF0);
  h.ehci().run_frames(1);
  EXPECT_NE(h.get32(kQtd + 8) & kQtdHalted, 0u);
}

TEST_F(EhciHostileTest, OddRegisterAccesses) {
  // Narrow writes to operational registers are ignored; reads outside the
  // BAR and past the ports are harmless.
  const uint8_t one = 1;
  h.ehci().bar_write(kEhciBar, kEhciConfigFlag, std::span<const uint8_t>(&one, 1));
  EXPECT_EQ(h.read(kEhciConfigFlag), 1u);  // (set by take_and_reset)
  h.ehci().bar_write(kEhciBar, kEhciUsbCmd, std::span<const uint8_t>(&one, 1));
  EXPECT_EQ(h.read(kEhciUsbCmd) & kEhciCmdRun, 0u);
  EXPECT_EQ(h.read(kEhciPortSc + 4 * kEhciPorts), 0u);
  EXPECT_EQ(h.read(0xFFC), 0u);
  uint8_t bytes[8] = {};
  h.ehci().bar_read(kEhciBar, 0xFFC, bytes);
  EXPECT_EQ(bytes[7], 0xFF);
  h.write(0x00, 0xFFFFFFFF);  // capability registers are read-only
  EXPECT_EQ(h.read(0x04), 0x00003206u);
  // Toggling ownership and resets in any order keeps the device on
  // exactly one controller.
  for (uint32_t value :
       {kEhciPortOwner, 0u, kEhciPortReset, kEhciPortOwner | kEhciPortReset, 0u, kEhciPortOwner}) {
    h.write(kEhciPortSc, kEhciPortPower | value);
    const bool on_ehci = (h.portsc(0) & kEhciPortConnect) != 0;
    const bool on_uhci = (h.uhci_portsc(0, 0) & kPortConnected) != 0;
    EXPECT_NE(on_ehci, on_uhci);
  }
}

TEST_F(EhciHostileTest, RandomMemoryFramesAreBounded) {
  std::mt19937 random(4242);
  std::uniform_int_distribution<uint32_t> any;
  for (unsigned round = 0; round < 40; ++round) {
    for (uint32_t at = 0x10000; at < 0x60000; at += 4) {
      // Links mostly inside RAM, so walks go somewhere.
      uint32_t value = any(random);
      if (value & 0x100) value &= kEhciRamSize - 1;
      h.put32(at, value);
    }
    h.run(0x20000 + (any(random) & 0x3FFE0), true);
    h.write(kEhciFrIndex, any(random));
    for (unsigned frame = 0; frame < 25; ++frame) {
      h.ehci().run_frames(1);
      const EhciFrameWork work = h.ehci().last_frame();
      EXPECT_LE(work.queue_heads, kEhciMaxQueueHeads + kEhciMaxPeriodicLinks);
      EXPECT_LE(work.transfers, kEhciMaxTransfers);
      EXPECT_LE(work.periodic_links, kEhciMaxPeriodicLinks);
    }
    h.write(kEhciUsbSts, 0x3F);
  }
}

}  // namespace
}  // namespace amber::hv::usb::test
