// SPDX-License-Identifier: GPL-2.0-or-later
// The UHCI registers and the schedule over synthetic guest memory: a
// control transfer end to end, NAK and reports on the interrupt endpoint,
// short packets, error status.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "tests/unit/usb/uhci_harness.h"

namespace amber::hv::usb::test {
namespace {

constexpr uint32_t kQh = 0x20000;
constexpr uint32_t kTds = 0x21000;
constexpr uint32_t kBuffers = 0x30000;
constexpr uint32_t kActiveErr3 = kTdActive | 3u << kTdErrorShift;

class UhciTest : public ::testing::Test {
 protected:
  UhciTest() { h.uhci().attach(0, &tablet); }
  UhciHarness h;
  HidDevice tablet{HidKind::kTablet};
};

TEST_F(UhciTest, PciIdentityIsQemusPiix3Uhci) {
  Uhci& u = h.uhci();
  EXPECT_EQ(u.config_read(0x00, 4), 0x70208086u);
  EXPECT_EQ(u.config_read(0x08, 4), 0x0C030001u);  // class 0C0300, rev 01
  EXPECT_EQ(u.config_read(0x2C, 4), 0x11001AF4u);
  EXPECT_EQ(u.config_read(0x3D, 1), 4u);  // INTD
  EXPECT_EQ(u.config_read(0x60, 1), 0x10u);
  EXPECT_EQ(u.bar(kUhciBar).kind, pci::BarKind::kIo);
  EXPECT_EQ(u.bar(kUhciBar).size, 32u);
}

TEST_F(UhciTest, RegistersAfterResetAndPortBits) {
  EXPECT_EQ(h.inw(kUsbCmd), 0u);
  EXPECT_EQ(h.inw(kUsbSts), kStsHalted);
  EXPECT_EQ(h.inw(kSofMod) & 0xFF, 64u);
  // Port 1 has the tablet: connected + connect change; port 2 is empty.
  EXPECT_EQ(h.inw(kPortSc1), kPortAlwaysOne | kPortConnected | kPortConnectChange);
  EXPECT_EQ(h.inw(kPortSc2), kPortAlwaysOne);
  EXPECT_EQ(h.inw(0x14), 0xFF7Fu);  // no third port
  // Connect change is write-1-to-clear; enable needs a device.
  h.outw(kPortSc1, kPortConnectChange | kPortEnabled);
  EXPECT_EQ(h.inw(kPortSc1), kPortAlwaysOne | kPortConnected | kPortEnabled);
  h.outw(kPortSc2, kPortEnabled);
  EXPECT_EQ(h.inw(kPortSc2) & kPortEnabled, 0u);
  // FRNUM and FLBASEADD: frame number only while halted; base 4K-aligned.
  h.outw(kFrNum, 0x123);
  EXPECT_EQ(h.inw(kFrNum), 0x123u);
  h.outl(kFlBase, 0x12345678);
  EXPECT_EQ(h.inl(kFlBase), 0x12345000u);
  h.outl(kFlBase, kFrameList);
  h.all_frames(kLinkTerminate);
  h.outw(kUsbCmd, kCmdRun);
  EXPECT_EQ(h.inw(kUsbSts) & kStsHalted, 0u);
  h.outw(kFrNum, 0x7);
  EXPECT_EQ(h.inw(kFrNum), 0x123u);
  h.uhci().run_frames(5);
  EXPECT_EQ(h.inw(kFrNum), 0x128u);
  h.outw(kUsbCmd, 0);
  EXPECT_NE(h.inw(kUsbSts) & kStsHalted, 0u);
  h.uhci().run_frames(5);
  EXPECT_EQ(h.inw(kFrNum), 0x128u);  // stopped: no frames
  // Host controller reset: everything back, the port reconnected.
  h.outw(kUsbCmd, kCmdHostReset);
  EXPECT_EQ(h.inl(kFlBase), 0u);
  EXPECT_EQ(h.inw(kPortSc1), kPortAlwaysOne | kPortConnected | kPortConnectChange);
}

// GET_DESCRIPTOR(device) as a driver queues it: SETUP, three IN, status
// OUT with IOC, depth first under one QH.
TEST_F(UhciTest, ControlTransferGetDeviceDescriptor) {
  h.start();
  h.put_bytes(kBuffers, {0x80, 0x06, 0x00, 0x01, 0x00, 0x00, 0x12, 0x00});
  const uint32_t t0 = kTds, t1 = kTds + 0x20, t2 = kTds + 0x40, t3 = kTds + 0x60, t4 = kTds + 0x80;
  h.td(t0, t1 | kLinkDepthFirst, kActiveErr3, token(kSetup, 0, 0, 0, 8), kBuffers);
  h.td(t1, t2 | kLinkDepthFirst, kActiveErr3, token(kIn, 0, 0, 1, 8), kBuffers + 0x100);
  h.td(t2, t3 | kLinkDepthFirst, kActiveErr3, token(kIn, 0, 0, 0, 8), kBuffers + 0x108);
  h.td(t3, t4 | kLinkDepthFirst, kActiveErr3, token(kIn, 0, 0, 1, 8), kBuffers + 0x110);
  h.td(t4, kLinkTerminate, kActiveErr3 | kTdIoc, token(kOut, 0, 0, 1, 0), 0);
  h.qh(kQh, kLinkTerminate, t0);
  h.all_frames(kQh | kLinkQh);
  h.uhci().run_frames(1);
  const std::vector<uint8_t> want = {0x12, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x08, 0x27,
                                     0x06, 0x01, 0x00, 0x00, 0x00, 0x01, 0x03, 0x0A, 0x01};
  EXPECT_EQ(h.bytes(kBuffers + 0x100, 18), want);
  EXPECT_EQ(h.get32(t0 + 4) & (kTdActive | kTdActualLengthMask), 7u);
  EXPECT_EQ(h.get32(t1 + 4) & (kTdActive | kTdActualLengthMask), 7u);
  EXPECT_EQ(h.get32(t3 + 4) & (kTdActive | kTdActualLengthMask), 1u);      // 2 bytes
  EXPECT_EQ(h.get32(t4 + 4) & (kTdActive | kTdActualLengthMask), 0x7FFu);  // zero length
  EXPECT_EQ(h.get32(kQh + 4), kLinkTerminate);  // the queue advanced to its end
  EXPECT_NE(h.inw(kUsbSts) & kStsInterrupt, 0u);
  EXPECT_TRUE(h.irq());
  h.outw(kUsbSts, kStsInterrupt);
  EXPECT_FALSE(h.irq());
  EXPECT_EQ(h.inw(kUsbSts) & kStsInterrupt, 0u);
}

TEST_F(UhciTest, SetAddressThenTheDeviceAnswersThere) {
  h.start();
  h.put_bytes(kBuffers, {0x00, 0x05, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00});
  h.td(kTds, (kTds + 0x20) | kLinkDepthFirst, kActiveErr3, token(kSetup, 0, 0, 0, 8), kBuffers);
  h.td(kTds + 0x20, kLinkTerminate, kActiveErr3, token(kIn, 0, 0, 1, 0), 0);
  h.qh(kQh, kLinkTerminate, kTds);
  h.all_frames(kQh | kLinkQh);
  h.uhci().run_frames(1);
  EXPECT_EQ(tablet.address(), 7u);
  // Address 0 now has nobody: the TD times out with an error.
  h.td(kTds, kLinkTerminate, kActiveErr3 | kTdIoc, token(kSetup, 0, 0, 0, 8), kBuffers);
  h.qh(kQh, kLinkTerminate, kTds);
  h.uhci().run_frames(1);
  const uint32_t control = h.get32(kTds + 4);
  EXPECT_EQ(control & kTdActive, 0u);
  EXPECT_NE(control & kTdTimeout, 0u);
  EXPECT_EQ(control & (3u << kTdErrorShift), 0u);
  EXPECT_NE(h.inw(kUsbSts) & kStsError, 0u);
}

TEST_F(UhciTest, InterruptEndpointNaksUntilThereIsAReport) {
  h.start();
  h.td(kTds, kLinkTerminate, kActiveErr3 | kTdIoc | kTdShortPacket, token(kIn, 0, 1, 0, 8),
       kBuffers);
  h.qh(kQh, kLinkTerminate, kTds);
  h.all_frames(kQh | kLinkQh);
  h.uhci().run_frames(3);
  uint32_t control = h.get32(kTds + 4);
  EXPECT_NE(control & kTdActive, 0u);
  EXPECT_NE(control & kTdNak, 0u);
  EXPECT_EQ(h.inw(kUsbSts) & kStsInterrupt, 0u);
  EXPECT_FALSE(h.irq());

  tablet.move_absolute(PointerAxis::kX, 0x1234);
  tablet.move_absolute(PointerAxis::kY, 0x4321);
  tablet.button(PointerButton::kLeft, true);
  tablet.sync();
  h.uhci().run_frames(1);
  control = h.get32(kTds + 4);
  EXPECT_EQ(control & (kTdActive | kTdNak), 0u);
  EXPECT_EQ(control & kTdActualLengthMask, 5u);  // 6 bytes
  EXPECT_EQ(h.bytes(kBuffers, 6), (std::vector<uint8_t>{0x01, 0x34, 0x12, 0x21, 0x43, 0x00}));
  // Short packet with SPD: the QH keeps pointing at the TD.
  EXPECT_EQ(h.get32(kQh + 4), kTds);
  EXPECT_NE(h.inw(kUsbSts) & kStsInterrupt, 0u);
  EXPECT_TRUE(h.irq());

  // Re-armed: nothing new, NAK again.
  h.outw(kUsbSts, 0x3F);
  h.td(kTds, kLinkTerminate, kActiveErr3 | kTdShortPacket, token(kIn, 0, 1, 1, 8), kBuffers);
  h.uhci().run_frames(2);
  EXPECT_NE(h.get32(kTds + 4) & kTdNak, 0u);
  EXPECT_NE(h.get32(kTds + 4) & kTdActive, 0u);
}

TEST_F(UhciTest, StallAndBabble) {
  h.start();
  // OUT to the tablet's interrupt endpoint: stall.
  h.td(kTds, kLinkTerminate, kActiveErr3, token(kOut, 0, 1, 0, 4), kBuffers);
  h.all_frames(kTds);
  h.uhci().run_frames(1);
  EXPECT_EQ(h.get32(kTds + 4) & (kTdActive | kTdStalled | kTdBabble), kTdStalled);
  // A max length above 1280 is babble (and stall).
  h.td(kTds, kLinkTerminate, kActiveErr3, token(kIn, 0, 0, 0, 1281), kBuffers);
  h.uhci().run_frames(1);
  EXPECT_EQ(h.get32(kTds + 4) & (kTdActive | kTdStalled | kTdBabble), kTdStalled | kTdBabble);
  EXPECT_NE(h.inw(kUsbSts) & kStsError, 0u);
  // An inactive TD's PID is not looked at (SeaBIOS links to zeroed TDs).
  h.td(kTds, kLinkTerminate, 0, 0, 0);
  h.uhci().run_frames(2);
  EXPECT_EQ(h.inw(kUsbSts) & (kStsProcessError | kStsHalted), 0u);
  // A bad PID: process error, the controller halts.
  h.td(kTds, kLinkTerminate, kActiveErr3, 0x00000055, kBuffers);
  h.uhci().run_frames(2);
  EXPECT_NE(h.inw(kUsbSts) & kStsProcessError, 0u);
  EXPECT_NE(h.inw(kUsbSts) & kStsHalted, 0u);
  EXPECT_EQ(h.inw(kUsbCmd) & kCmdRun, 0u);
}

TEST_F(UhciTest, GlobalResetResetsTheDevice) {
  h.start();
  h.put_bytes(kBuffers, {0x00, 0x05, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00});
  h.td(kTds, (kTds + 0x20) | kLinkDepthFirst, kActiveErr3, token(kSetup, 0, 0, 0, 8), kBuffers);
  h.td(kTds + 0x20, kLinkTerminate, kActiveErr3, token(kIn, 0, 0, 1, 0), 0);
  h.all_frames(kTds);
  h.uhci().run_frames(1);
  EXPECT_EQ(tablet.address(), 9u);
  h.outw(kUsbCmd, kCmdGlobalReset);
  EXPECT_EQ(tablet.address(), 0u);
  EXPECT_EQ(h.inw(kUsbCmd), 0u);
}

TEST_F(UhciTest, NoScheduleWithoutBusMastering) {
  h.uhci().config_write(0x04, 2, 0x0001);  // I/O only
  h.start();
  h.td(kTds, kLinkTerminate, kActiveErr3, token(kOut, 0, 1, 0, 4), kBuffers);
  h.all_frames(kTds);
  h.uhci().run_frames(2);
  EXPECT_EQ(h.uhci().last_frame().links, 0u);
  EXPECT_NE(h.get32(kTds + 4) & kTdActive, 0u);
}

// The frame thread: frames at 1 kHz while RS is set, none once it is clear.
TEST_F(UhciTest, FrameThreadRunsOnlyWhileRunning) {
  h.all_frames(kLinkTerminate);
  h.uhci().start();
  h.outl(kFlBase, kFrameList);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(h.inw(kFrNum), 0u);
  h.outw(kUsbCmd, kCmdRun);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const uint16_t after = h.inw(kFrNum);
  // 200 frames due; a loaded host may lag, but frames must be counting.
  EXPECT_GE(after, 50u);
  EXPECT_LE(after, 400u);
  // The VM paused: the clock stops, no frames; resumed: they run again.
  h.uhci().set_clock_running(false);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const uint16_t paused = h.inw(kFrNum);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(h.inw(kFrNum), paused);
  EXPECT_EQ(h.inw(kUsbSts) & kStsHalted, 0u);  // still running, as far as the guest knows
  h.uhci().set_clock_running(true);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_GE(static_cast<uint16_t>(h.inw(kFrNum) - paused), 20u);
  h.outw(kUsbCmd, 0);
  EXPECT_NE(h.inw(kUsbSts) & kStsHalted, 0u);
  const uint16_t stopped = h.inw(kFrNum);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(h.inw(kFrNum), stopped);
}

// Remote wakeup: a suspended port whose device the host allowed to wake
// it gets resume detect with the next input; in global suspend the
// controller too (USBSTS.RD, FGR, the resume interrupt).
TEST_F(UhciTest, InputWakesASuspendedHost) {
  h.start();
  // SET_FEATURE(DEVICE_REMOTE_WAKEUP).
  h.put_bytes(kBuffers, {0x00, 0x03, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00});
  h.td(kTds, (kTds + 0x20) | kLinkDepthFirst, kActiveErr3, token(kSetup, 0, 0, 0, 8), kBuffers);
  h.td(kTds + 0x20, kLinkTerminate, kActiveErr3, token(kIn, 0, 0, 1, 0), 0);
  h.all_frames(kTds);
  h.uhci().run_frames(1);
  ASSERT_TRUE(tablet.remote_wakeup());
  h.outw(kUsbCmd, 0);
  h.outw(kUsbSts, 0x3F);
  h.outw(kPortSc1, kPortEnabled | kPortSuspend);
  h.outw(kUsbCmd, kCmdGlobalSuspend);
  EXPECT_FALSE(h.irq());
  tablet.move_absolute(PointerAxis::kX, 1);
  tablet.sync();
  EXPECT_NE(h.inw(kPortSc1) & kPortResumeDetect, 0u);
  EXPECT_NE(h.inw(kUsbSts) & kStsResumeDetect, 0u);
  EXPECT_NE(h.inw(kUsbCmd) & kCmdForceResume, 0u);
  EXPECT_TRUE(h.irq());  // USBINTR has the resume interrupt on
  // Without remote wakeup enabled, input does not wake anything.
  h.outw(kUsbCmd, kCmdHostReset);
  h.outw(kPortSc1, kPortEnabled | kPortSuspend);
  h.outw(kUsbCmd, kCmdGlobalSuspend);
  tablet.sync();
  EXPECT_EQ(h.inw(kPortSc1) & kPortResumeDetect, 0u);
  EXPECT_EQ(h.inw(kUsbSts) & kStsResumeDetect, 0u);
}

}  // namespace
}  // namespace amber::hv::usb::test
