// SPDX-License-Identifier: GPL-2.0-or-later
// The EHCI (ich9-usb-ehci1) over synthetic guest memory: identity and
// registers, port routing between the EHCI and its companion UHCIs, a
// control transfer on the asynchronous schedule, interrupt IN reports on
// the periodic one, the doorbell, FRINDEX and error status.
#include <gtest/gtest.h>

#include "tests/unit/usb/ehci_harness.h"

namespace amber::hv::usb::test {
namespace {

constexpr uint32_t kQh = 0x20000;
constexpr uint32_t kQtds = 0x21000;
constexpr uint32_t kBuffers = 0x30000;

class EhciTest : public ::testing::Test {
 protected:
  EhciTest() { h.ehci().attach(0, &tablet); }

  // SETUP + optional IN data + status through one QH; returns the data.
  std::vector<uint8_t> control_in(std::vector<uint8_t> setup, unsigned device = 0) {
    const unsigned length = setup[6] | setup[7] << 8;
    h.put_bytes(kBuffers, setup);
    h.qh(kQh, kQh | kQhTypeLink, device, 0, kQtds);
    h.qtd(kQtds, kQtds + 0x20, qtd_token(kPidSetup, 8), kBuffers);
    h.qtd(kQtds + 0x20, kQtds + 0x40, qtd_token(kPidIn, length, false, 1), kBuffers + 0x100);
    h.qtd(kQtds + 0x40, 1, qtd_token(kPidOut, 0, true, 1), 0);
    h.run(kQh);
    h.ehci().run_frames(1);
    last_status = h.get32(kQtds + 0x48);
    const unsigned left = qtd_bytes(h.get32(kQtds + 0x28));
    return h.bytes(kBuffers + 0x100, length - left);
  }
  void control_out(std::vector<uint8_t> setup, unsigned device = 0) {
    h.put_bytes(kBuffers, setup);
    h.qh(kQh, kQh | kQhTypeLink, device, 0, kQtds);
    h.qtd(kQtds, kQtds + 0x20, qtd_token(kPidSetup, 8), kBuffers);
    h.qtd(kQtds + 0x20, 1, qtd_token(kPidIn, 0, true, 1), 0);
    h.run(kQh);
    h.ehci().run_frames(1);
    last_status = h.get32(kQtds + 0x28);
  }

  EhciHarness h;
  HidDevice tablet{HidKind::kTablet};
  uint32_t last_status = 0;
};

TEST_F(EhciTest, PciIdentityIsQemusIch9Ehci1) {
  Ehci& e = h.ehci();
  EXPECT_EQ(e.config_read(0x00, 4), 0x293A8086u);
  EXPECT_EQ(e.config_read(0x08, 4), 0x0C032003u);  // class 0C0320, rev 03
  EXPECT_EQ(e.config_read(0x2C, 4), 0x11001AF4u);
  EXPECT_EQ(e.config_read(0x3D, 1), 4u);  // INTD
  EXPECT_EQ(e.config_read(0x60, 1), 0x20u);
  EXPECT_EQ(e.config_read(0x61, 1), 0x20u);
  EXPECT_EQ(e.config_read(0x68, 4), 0x00000001u);  // USBLEGSUP, no BIOS owner
  EXPECT_EQ(e.config_read(0x6C, 4), 0xC0000000u);
  // The OS-owned semaphore takes (a driver's BIOS hand-off).
  e.config_write(0x68, 4, 0x01000001);
  EXPECT_EQ(e.config_read(0x68, 4), 0x01000001u);
  EXPECT_EQ(e.bar(kEhciBar).kind, pci::BarKind::kMemory32);
  EXPECT_EQ(e.bar(kEhciBar).size, 0x1000u);
  // The companions: 8086:2934..2936 rev 03 at pins A..C, function 0 says
  // multi-function.
  for (unsigned i = 0; i < 3; ++i) {
    EXPECT_EQ(h.uhci(i).config_read(0x00, 4), 0x80860000u >> 16 | (0x2934u + i) << 16);
    EXPECT_EQ(h.uhci(i).config_read(0x08, 4), 0x0C030003u);
    EXPECT_EQ(h.uhci(i).config_read(0x3D, 1), i + 1);
    EXPECT_EQ(h.uhci(i).config_read(0x0E, 1), i == 0 ? 0x80u : 0x00u);
  }
}

TEST_F(EhciTest, CapabilityAndOperationalRegistersAfterReset) {
  EXPECT_EQ(h.read(0x00) & 0xFF, 0x20u);           // CAPLENGTH
  EXPECT_EQ(h.read(0x00) >> 16, 0x0100u);          // HCIVERSION
  EXPECT_EQ(h.read(0x04), 0x00003206u);            // HCSPARAMS
  EXPECT_EQ(h.read(0x08), 0x00006880u);            // HCCPARAMS, EECP 0x68
  EXPECT_EQ(h.read(kEhciUsbCmd), 0x00080000u);     // ITC 8
  EXPECT_EQ(h.read(kEhciUsbSts), kEhciStsHalted);  // HCHalted
  EXPECT_EQ(h.read(kEhciConfigFlag), 0u);
  // Port 0 has the tablet, but on the companion until CONFIGFLAG.
  EXPECT_EQ(h.portsc(0), kEhciPortPower | kEhciPortOwner);
  EXPECT_EQ(h.portsc(5), kEhciPortPower | kEhciPortOwner);
  EXPECT_EQ(h.uhci_portsc(0, 0), kPortAlwaysOne | kPortConnected | kPortConnectChange);
  // Bases are masked; a frame list size other than 1024 does not take.
  h.write(kEhciPeriodicListBase, 0x12345678);
  EXPECT_EQ(h.read(kEhciPeriodicListBase), 0x12345000u);
  h.write(kEhciAsyncListAddr, 0x1234567F);
  EXPECT_EQ(h.read(kEhciAsyncListAddr), 0x12345660u);
  h.write(kEhciUsbCmd, 0x00080000 | kEhciCmdFrameListSize);
  EXPECT_EQ(h.read(kEhciUsbCmd) & kEhciCmdFrameListSize, 0u);
  // Run: not halted; stop: halted again.
  h.write(kEhciUsbCmd, kEhciCmdRun);
  EXPECT_EQ(h.read(kEhciUsbSts) & kEhciStsHalted, 0u);
  h.write(kEhciUsbCmd, 0);
  EXPECT_EQ(h.read(kEhciUsbSts) & kEhciStsHalted, kEhciStsHalted);
}

TEST_F(EhciTest, ConfigFlagTakesPortsAndResetEnablesHighSpeed) {
  h.write(kEhciUsbIntr, kEhciStsPortChange);
  h.write(kEhciConfigFlag, 1);
  // The companion lost the device; the EHCI port connected, PCD raised.
  EXPECT_EQ(h.uhci_portsc(0, 0), kPortAlwaysOne | kPortConnectChange);
  EXPECT_EQ(h.portsc(0), kEhciPortPower | kEhciPortConnect | kEhciPortConnectChange);
  EXPECT_EQ(h.portsc(1), kEhciPortPower);
  EXPECT_NE(h.read(kEhciUsbSts) & kEhciStsPortChange, 0u);
  EXPECT_TRUE(h.irq());
  h.write(kEhciUsbSts, kEhciStsPortChange);
  EXPECT_FALSE(h.irq());
  // The guest cannot enable a port itself; a reset does it (high speed).
  h.write(kEhciPortSc, kEhciPortPower | kEhciPortEnabled);
  EXPECT_EQ(h.portsc(0) & kEhciPortEnabled, 0u);
  h.write(kEhciPortSc, kEhciPortPower | kEhciPortReset);
  EXPECT_NE(h.portsc(0) & kEhciPortReset, 0u);
  h.write(kEhciPortSc, kEhciPortPower);
  EXPECT_EQ(h.portsc(0), kEhciPortPower | kEhciPortConnect | kEhciPortEnabled);
  EXPECT_EQ(tablet.speed(), UsbSpeed::kHigh);
  // HCRESET returns every port to its companion.
  h.write(kEhciUsbCmd, kEhciCmdReset);
  EXPECT_EQ(h.read(kEhciConfigFlag), 0u);
  EXPECT_EQ(h.portsc(0), kEhciPortPower | kEhciPortOwner);
  EXPECT_EQ(h.uhci_portsc(0, 0) & kPortConnected, kPortConnected);
  EXPECT_EQ(tablet.speed(), UsbSpeed::kFull);
}

TEST_F(EhciTest, FullSpeedDeviceIsHandedToItsCompanion) {
  FullSpeedDevice device;
  h.ehci().attach(3, &device);  // port 3: UHCI2's second port
  EXPECT_EQ(h.uhci_portsc(1, 1) & kPortConnected, kPortConnected);
  h.take_and_reset(3);
  // Not enabled by the EHCI reset: a full-speed device.
  EXPECT_EQ(h.portsc(3), kEhciPortPower | kEhciPortConnect);
  EXPECT_EQ(h.uhci_portsc(1, 1) & kPortConnected, 0u);
  // PORT_OWNER: the companion sees it connect; the EHCI port is empty.
  h.write(kEhciPortSc + 12, kEhciPortPower | kEhciPortOwner);
  EXPECT_EQ(h.portsc(3), kEhciPortPower | kEhciPortOwner | kEhciPortConnectChange);
  EXPECT_EQ(h.uhci_portsc(1, 1), kPortAlwaysOne | kPortConnected | kPortConnectChange);
  EXPECT_EQ(device.speed(), UsbSpeed::kFull);
  // Giving it back (owner 0) moves it again.
  h.write(kEhciPortSc + 12, kEhciPortPower | kEhciPortConnectChange);
  EXPECT_EQ(h.portsc(3) & (kEhciPortOwner | kEhciPortConnect), kEhciPortConnect);
  EXPECT_EQ(h.uhci_portsc(1, 1) & kPortConnected, 0u);
}

TEST_F(EhciTest, ControlTransfersOnTheAsyncSchedule) {
  h.take_and_reset(0);
  const std::vector<uint8_t> device = control_in({0x80, 0x06, 0x00, 0x01, 0, 0, 18, 0});
  ASSERT_EQ(device.size(), 18u);
  EXPECT_EQ(device[0], 18);
  EXPECT_EQ(device[7], 64);  // high speed: ep0 of 64 bytes
  EXPECT_EQ(device[8] | device[9] << 8, 0x0627);
  // Every qTD retired, IOC on the last: USBINT at the end of the frame.
  EXPECT_EQ(h.get32(kQtds + 8) & kQtdActive, 0u);
  EXPECT_EQ(qtd_bytes(h.get32(kQtds + 8)), 0u);
  EXPECT_EQ(last_status & (kQtdActive | kQtdHalted), 0u);
  EXPECT_NE(h.read(kEhciUsbSts) & kEhciStsInt, 0u);
  EXPECT_TRUE(h.irq());
  EXPECT_EQ(h.ehci().last_frame().transfers, 3u);
  h.write(kEhciUsbSts, kEhciStsInt);
  // The QH overlay points at the last qTD, retired.
  EXPECT_EQ(h.get32(kQh + 12), kQtds + 0x40);
  // A short read (wLength 64 for an 18-byte descriptor): 46 bytes left.
  EXPECT_EQ(control_in({0x80, 0x06, 0x00, 0x01, 0, 0, 64, 0}).size(), 18u);
  EXPECT_EQ(qtd_bytes(h.get32(kQtds + 0x28)), 46u);
  // SET_ADDRESS 5, then the device answers at 5 only.
  control_out({0x00, 0x05, 5, 0, 0, 0, 0, 0});
  EXPECT_EQ(last_status & (kQtdActive | kQtdHalted), 0u);
  EXPECT_EQ(tablet.address(), 5u);
  EXPECT_EQ(control_in({0x80, 0x06, 0x00, 0x02, 0, 0, 34, 0}, 5).back(), 4);  // bInterval
  control_out({0x00, 0x09, 1, 0, 0, 0, 0, 0}, 5);
  EXPECT_TRUE(tablet.configured());
  // Nobody at address 0 now: transaction error, halted, USBERRINT.
  control_in({0x80, 0x06, 0x00, 0x01, 0, 0, 18, 0}, 0);
  EXPECT_EQ(h.get32(kQtds + 8) & (kQtdHalted | kQtdXactErr), kQtdHalted | kQtdXactErr);
  EXPECT_NE(h.read(kEhciUsbSts) & kEhciStsError, 0u);
  // A request the device refuses stalls: halted without other errors.
  control_out({0x00, 0x09, 7, 0, 0, 0, 0, 0}, 5);
  EXPECT_EQ(last_status & (kQtdHalted | kQtdActive), kQtdHalted);
}

TEST_F(EhciTest, InterruptReportsOnThePeriodicSchedule) {
  h.take_and_reset(0);
  control_out({0x00, 0x05, 1, 0, 0, 0, 0, 0});
  control_out({0x00, 0x09, 1, 0, 0, 0, 0, 0}, 1);
  ASSERT_TRUE(tablet.configured());
  // Stop the async schedule; one interrupt QH in every frame.
  constexpr uint32_t kIntrQh = 0x22000, kIntrQtd = 0x22100;
  h.qh(kIntrQh, 1u, 1, 1, kIntrQtd, false, 0x01);
  h.qtd(kIntrQtd, 1, qtd_token(kPidIn, 6, true), kBuffers + 0x800);
  h.all_frames(kIntrQh | kQhTypeLink);
  h.write(kEhciUsbSts, 0x3F);
  h.run(0, true);
  EXPECT_NE(h.read(kEhciUsbSts) & kEhciStsPeriodic, 0u);
  // Nothing to report: NAK, the qTD stays active.
  h.ehci().run_frames(2);
  EXPECT_NE(h.get32(kIntrQtd + 8) & kQtdActive, 0u);
  EXPECT_EQ(h.read(kEhciUsbSts) & kEhciStsInt, 0u);
  send_screen_pointer(tablet, 400, 300, 800, 600, 1);
  h.ehci().run_frames(1);
  const uint32_t token = h.get32(kIntrQtd + 8);
  EXPECT_EQ(token & (kQtdActive | kQtdHalted), 0u);
  EXPECT_EQ(qtd_bytes(token), 0u);
  // Buttons, X = 400 * 0x7FFF / 800, Y = 300 * 0x7FFF / 600, wheel.
  EXPECT_EQ(h.bytes(kBuffers + 0x800, 6),
            (std::vector<uint8_t>{0x01, 0xFF, 0x3F, 0xFF, 0x3F, 0x00}));
  EXPECT_NE(h.read(kEhciUsbSts) & kEhciStsInt, 0u);
  EXPECT_TRUE(h.irq());
  // The QH keeps the toggle (DTC clear): flipped once by the transfer.
  EXPECT_NE(h.get32(kIntrQh + 24) & (1u << 31), 0u);
}

TEST_F(EhciTest, DoorbellFrameIndexAndRollover) {
  h.qh(kQh, kQh | kQhTypeLink, 0, 0, 1);
  h.all_frames(1);
  h.run(kQh, true);
  h.write(kEhciUsbSts, 0x3F);
  EXPECT_EQ(h.read(kEhciFrIndex), 0u);
  h.ehci().run_frames(3);
  EXPECT_EQ(h.read(kEhciFrIndex), 24u);  // 8 microframes a frame
  h.write(kEhciUsbCmd, h.read(kEhciUsbCmd) | kEhciCmdDoorbell);
  h.ehci().run_frames(1);
  EXPECT_EQ(h.read(kEhciUsbCmd) & kEhciCmdDoorbell, 0u);
  EXPECT_NE(h.read(kEhciUsbSts) & kEhciStsDoorbell, 0u);
  EXPECT_TRUE(h.irq());
  h.write(kEhciUsbSts, kEhciStsDoorbell);
  EXPECT_FALSE(h.irq());
  // Frame list rollover every 1024 frames.
  h.ehci().run_frames(1024 - 5);
  EXPECT_EQ(h.read(kEhciUsbSts) & kEhciStsFrameRollover, 0u);
  h.ehci().run_frames(1);
  EXPECT_NE(h.read(kEhciUsbSts) & kEhciStsFrameRollover, 0u);
  EXPECT_EQ(h.read(kEhciFrIndex), 0x2000u);
  // Halted: FRINDEX stays.
  h.write(kEhciUsbCmd, 0);
  h.ehci().run_frames(5);
  EXPECT_EQ(h.read(kEhciFrIndex), 0x2000u);
}

}  // namespace
}  // namespace amber::hv::usb::test
