// SPDX-License-Identifier: GPL-2.0-or-later
// The HID devices through their endpoints: QEMU's descriptors, the class
// requests, and the reports of the tablet, mouse and keyboard.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "hv/usb/hid_device.h"

namespace amber::hv::usb {
namespace {

// One control transfer: SETUP, the data stage in 8-byte packets, status.
std::vector<uint8_t> control_in(UsbDevice& device, std::vector<uint8_t> setup) {
  if (device.handle_packet(UsbPid::kSetup, 0, setup).status != UsbStatus::kOk) return {0xEE};
  std::vector<uint8_t> out;
  const size_t want = setup[6] | setup[7] << 8;
  while (out.size() < want) {
    uint8_t packet[8];
    const UsbResult r = device.handle_packet(UsbPid::kIn, 0, packet);
    if (r.status != UsbStatus::kOk) {
      out.push_back(0xEE);  // marks a stall
      return out;
    }
    out.insert(out.end(), packet, packet + r.length);
    if (r.length < 8) break;
  }
  EXPECT_EQ(device.handle_packet(UsbPid::kOut, 0, {}).status, UsbStatus::kOk);
  return out;
}

UsbStatus control_out(UsbDevice& device, std::vector<uint8_t> setup, std::vector<uint8_t> data) {
  EXPECT_EQ(device.handle_packet(UsbPid::kSetup, 0, setup).status, UsbStatus::kOk);
  if (!data.empty()) {
    EXPECT_EQ(device.handle_packet(UsbPid::kOut, 0, data).status, UsbStatus::kOk);
  }
  return device.handle_packet(UsbPid::kIn, 0, {}).status;
}

std::vector<uint8_t> poll(HidDevice& device, size_t room = 8) {
  std::vector<uint8_t> data(room);
  const UsbResult r = device.handle_packet(UsbPid::kIn, 1, data);
  if (r.status == UsbStatus::kNak) return {};
  EXPECT_EQ(r.status, UsbStatus::kOk);
  data.resize(r.length);
  return data;
}

TEST(HidDevice, TabletDescriptorsAreQemus) {
  HidDevice tablet(HidKind::kTablet);
  const std::vector<uint8_t> config = {
      0x09, 0x02, 0x22, 0x00, 0x01, 0x01, 0x07, 0xA0, 0x32,  // configuration
      0x09, 0x04, 0x00, 0x00, 0x01, 0x03, 0x00, 0x00, 0x00,  // interface: HID
      0x09, 0x21, 0x01, 0x00, 0x00, 0x01, 0x22, 0x4A, 0x00,  // HID, report 74 bytes
      0x07, 0x05, 0x81, 0x03, 0x08, 0x00, 0x0A,              // endpoint 1 IN
  };
  EXPECT_EQ(control_in(tablet, {0x80, 0x06, 0x00, 0x02, 0x00, 0x00, 0xFF, 0x00}), config);
  // wLength shorter than the descriptor: only that much.
  EXPECT_EQ(control_in(tablet, {0x80, 0x06, 0x00, 0x02, 0x00, 0x00, 0x09, 0x00}).size(), 9u);
  const std::vector<uint8_t> product =
      control_in(tablet, {0x80, 0x06, 0x03, 0x03, 0x09, 0x04, 0xFF, 0x00});
  ASSERT_EQ(product.size(), 2u + 2 * 15);
  EXPECT_EQ(product[0], 32);
  std::string text;
  for (size_t i = 2; i < product.size(); i += 2) text += static_cast<char>(product[i]);
  EXPECT_EQ(text, "QEMU USB Tablet");
  EXPECT_EQ(control_in(tablet, {0x80, 0x06, 0x00, 0x03, 0x00, 0x00, 0xFF, 0x00}),
            (std::vector<uint8_t>{4, 3, 0x09, 0x04}));
  const std::vector<uint8_t> report =
      control_in(tablet, {0x81, 0x06, 0x00, 0x22, 0x00, 0x00, 0xFF, 0x00});
  ASSERT_EQ(report.size(), 74u);
  EXPECT_EQ(report[0], 0x05);
  // Logical maximum 0x7FFF of X/Y.
  EXPECT_EQ(std::vector<uint8_t>(report.begin() + 40, report.begin() + 43),
            (std::vector<uint8_t>{0x26, 0xFF, 0x7F}));
  // QEMU 7.2's usb_version=2 tablet has a high-speed twin: at full speed
  // the qualifier describes it (bcdUSB 2.0, ep0 of 64 bytes); BOS stalls.
  EXPECT_EQ(control_in(tablet, {0x80, 0x06, 0x00, 0x06, 0x00, 0x00, 0x0A, 0x00}),
            (std::vector<uint8_t>{10, 6, 0x00, 0x02, 0, 0, 0, 64, 1, 0}));
  EXPECT_EQ(control_in(tablet, {0x80, 0x06, 0x00, 0x0F, 0x00, 0x00, 0x05, 0x00}),
            (std::vector<uint8_t>{0xEE}));
}

// Microsoft OS descriptors as QEMU's HID devices give them: string 0xEE,
// then vendor request 'Q' for the compat ID (wIndex 4) and the
// SelectiveSuspendEnabled property (wIndex 5, QEMU's length fields).
TEST(HidDevice, MicrosoftOsDescriptorsAreQemus) {
  for (HidKind kind : {HidKind::kTablet, HidKind::kMouse, HidKind::kKeyboard}) {
    HidDevice device(kind);
    const std::vector<uint8_t> str =
        control_in(device, {0x80, 0x06, 0xEE, 0x03, 0x00, 0x00, 0xFF, 0x00});
    EXPECT_EQ(str, (std::vector<uint8_t>{18, 3, 'M', 0, 'S', 0, 'F', 0, 'T', 0, '1', 0, '0', 0, '0',
                                         0, 'Q', 0}));
    const std::vector<uint8_t> compat =
        control_in(device, {0xC0, 'Q', 0x00, 0x00, 0x04, 0x00, 0xFF, 0x00});
    ASSERT_EQ(compat.size(), 40u);
    EXPECT_EQ(compat[0], 40);
    EXPECT_EQ(compat[4], 0x00);
    EXPECT_EQ(compat[5], 0x01);  // bcdVersion 1.0
    EXPECT_EQ(compat[6], 0x04);
    EXPECT_EQ(compat[8], 1);  // one function
    EXPECT_EQ(compat[17], 1);
    // The header's dwLength first (wLength 16), as Windows asks.
    EXPECT_EQ(control_in(device, {0xC1, 'Q', 0x00, 0x00, 0x05, 0x00, 0x10, 0x00}).size(), 16u);
    const std::vector<uint8_t> props =
        control_in(device, {0xC1, 'Q', 0x00, 0x00, 0x05, 0x00, 0xFF, 0x00});
    const size_t name = (23 + 1) * 2;  // "SelectiveSuspendEnabled" and its NUL, UTF-16
    ASSERT_EQ(props.size(), 10 + 24 + name);
    EXPECT_EQ(props[0], 10 + 24 + name);
    EXPECT_EQ(props[6], 0x05);
    EXPECT_EQ(props[8], 1);           // wCount
    EXPECT_EQ(props[10], 24 + name);  // QEMU's property dwLength
    EXPECT_EQ(props[14], 4);          // REG_DWORD
    EXPECT_EQ(props[18], name);       // name length in bytes
    EXPECT_EQ(props[20], 'S');
    EXPECT_EQ(props[20 + name], 4);  // data length
    EXPECT_EQ(props[24 + name], 1);  // enabled
    // Other indexes, other requests and host-to-device stall.
    EXPECT_EQ(control_in(device, {0xC0, 'Q', 0x00, 0x00, 0x06, 0x00, 0xFF, 0x00}),
              (std::vector<uint8_t>{0xEE}));
    EXPECT_EQ(control_in(device, {0xC0, 'R', 0x00, 0x00, 0x04, 0x00, 0xFF, 0x00}),
              (std::vector<uint8_t>{0xEE}));
  }
}

TEST(HidDevice, HighSpeedDescriptorsAreQemusUsbVersion2) {
  for (const HidKind kind : {HidKind::kTablet, HidKind::kMouse, HidKind::kKeyboard}) {
    HidDevice device(kind);
    EXPECT_TRUE(device.supports_high_speed());
    const std::vector<uint8_t> full_config =
        control_in(device, {0x80, 0x06, 0x00, 0x02, 0x00, 0x00, 0xFF, 0x00});
    device.set_speed(UsbSpeed::kHigh);
    const std::vector<uint8_t> dev =
        control_in(device, {0x80, 0x06, 0x00, 0x01, 0x00, 0x00, 0x12, 0x00});
    ASSERT_EQ(dev.size(), 18u);
    EXPECT_EQ(dev[2] | dev[3] << 8, 0x0200);
    EXPECT_EQ(dev[7], 64);  // bMaxPacketSize0
    const std::vector<uint8_t> config =
        control_in(device, {0x80, 0x06, 0x00, 0x02, 0x00, 0x00, 0xFF, 0x00});
    ASSERT_EQ(config.size(), 34u);
    // The endpoint's bInterval: 2^(n-1) microframes, 1 ms for the tablet,
    // 8 ms for the mouse and the keyboard; the rest as at full speed.
    EXPECT_EQ(config.back(), kind == HidKind::kTablet ? 4 : 7);
    EXPECT_EQ(full_config.back(), 10);
    EXPECT_TRUE(std::equal(config.begin(), config.end() - 1, full_config.begin()));
    // The other speed: full (bcdUSB 1.0, ep0 of 8 bytes).
    EXPECT_EQ(control_in(device, {0x80, 0x06, 0x00, 0x06, 0x00, 0x00, 0x0A, 0x00}),
              (std::vector<uint8_t>{10, 6, 0x00, 0x01, 0, 0, 0, 8, 1, 0}));
    std::vector<uint8_t> other = full_config;
    other[1] = 7;
    EXPECT_EQ(control_in(device, {0x80, 0x06, 0x00, 0x07, 0x00, 0x00, 0xFF, 0x00}), other);
  }
}

TEST(HidDevice, StandardRequests) {
  HidDevice mouse(HidKind::kMouse);
  EXPECT_EQ(control_in(mouse, {0x80, 0x08, 0, 0, 0, 0, 1, 0}), (std::vector<uint8_t>{0}));
  EXPECT_EQ(control_out(mouse, {0x00, 0x09, 1, 0, 0, 0, 0, 0}, {}), UsbStatus::kOk);
  EXPECT_TRUE(mouse.configured());
  EXPECT_EQ(control_in(mouse, {0x80, 0x08, 0, 0, 0, 0, 1, 0}), (std::vector<uint8_t>{1}));
  EXPECT_EQ(control_out(mouse, {0x00, 0x09, 2, 0, 0, 0, 0, 0}, {}), UsbStatus::kStall);
  EXPECT_EQ(control_out(mouse, {0x00, 0x03, 1, 0, 0, 0, 0, 0}, {}), UsbStatus::kOk);
  EXPECT_EQ(control_in(mouse, {0x80, 0x00, 0, 0, 0, 0, 2, 0}), (std::vector<uint8_t>{2, 0}));
  EXPECT_EQ(control_out(mouse, {0x00, 0x05, 3, 0, 0, 0, 0, 0}, {}), UsbStatus::kOk);
  EXPECT_EQ(mouse.address(), 3u);
  mouse.reset();
  EXPECT_EQ(mouse.address(), 0u);
  EXPECT_FALSE(mouse.configured());
}

TEST(HidDevice, TabletReportsAbsolutePositionAndButtons) {
  HidDevice tablet(HidKind::kTablet);
  EXPECT_TRUE(poll(tablet).empty());  // NAK
  tablet.move_absolute(PointerAxis::kX, 0x7FFF);
  tablet.move_absolute(PointerAxis::kY, 100000);  // clamped
  tablet.button(PointerButton::kRight, true);
  tablet.button(PointerButton::kWheelUp, true);
  tablet.button(PointerButton::kWheelUp, false);
  tablet.sync();
  EXPECT_EQ(poll(tablet), (std::vector<uint8_t>{0x02, 0xFF, 0x7F, 0xFF, 0x7F, 0x01}));
  EXPECT_TRUE(poll(tablet).empty());
  // Motion only, twice before the guest reads: one report, the newest.
  tablet.move_absolute(PointerAxis::kX, 10);
  tablet.sync();
  tablet.move_absolute(PointerAxis::kX, 20);
  tablet.sync();
  EXPECT_EQ(poll(tablet), (std::vector<uint8_t>{0x02, 20, 0, 0xFF, 0x7F, 0}));
  EXPECT_TRUE(poll(tablet).empty());
  // GET_REPORT answers the current state.
  EXPECT_EQ(control_in(tablet, {0xA1, 0x01, 0x00, 0x01, 0, 0, 6, 0}),
            (std::vector<uint8_t>{0x02, 20, 0, 0xFF, 0x7F, 0}));
}

TEST(HidDevice, MouseMotionIsClampedAndCarriedOver) {
  HidDevice mouse(HidKind::kMouse);
  mouse.move_relative(PointerAxis::kX, 300);
  mouse.move_relative(PointerAxis::kY, -5);
  mouse.sync();
  EXPECT_EQ(poll(mouse, 4), (std::vector<uint8_t>{0, 127, 0xFB, 0}));
  EXPECT_EQ(poll(mouse, 4), (std::vector<uint8_t>{0, 127, 0, 0}));
  EXPECT_EQ(poll(mouse, 4), (std::vector<uint8_t>{0, 46, 0, 0}));
  EXPECT_TRUE(poll(mouse, 4).empty());
  // A tablet's absolute event does nothing on a mouse.
  mouse.move_absolute(PointerAxis::kX, 5);
  mouse.sync();
  EXPECT_EQ(poll(mouse, 4), (std::vector<uint8_t>{0, 0, 0, 0}));
}

TEST(HidDevice, KeyboardBootReportsAndLeds) {
  HidDevice keyboard(HidKind::kKeyboard);
  EXPECT_TRUE(keyboard.key(42, true));  // left shift
  EXPECT_TRUE(keyboard.key(30, true));  // a
  EXPECT_TRUE(keyboard.key(30, false));
  EXPECT_FALSE(keyboard.key(0x2FF, true));
  EXPECT_EQ(poll(keyboard), (std::vector<uint8_t>{0x02, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(poll(keyboard), (std::vector<uint8_t>{0x02, 0, 0x04, 0, 0, 0, 0, 0}));
  EXPECT_EQ(poll(keyboard), (std::vector<uint8_t>{0x02, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_TRUE(poll(keyboard).empty());
  // Seven keys held: the boot report says rollover.
  for (unsigned key = 2; key <= 8; ++key) keyboard.key(key, true);
  std::vector<uint8_t> last;
  for (int i = 0; i < 7; ++i) last = poll(keyboard);
  EXPECT_EQ(last, (std::vector<uint8_t>{0x02, 0, 1, 1, 1, 1, 1, 1}));
  // SET_REPORT (output): the LEDs.
  EXPECT_EQ(control_out(keyboard, {0x21, 0x09, 0x00, 0x02, 0, 0, 1, 0}, {0x03}), UsbStatus::kOk);
  EXPECT_EQ(keyboard.leds(), 0x03);
  // SET_IDLE / GET_IDLE, SET_PROTOCOL / GET_PROTOCOL.
  EXPECT_EQ(control_out(keyboard, {0x21, 0x0A, 0x00, 0x7D, 0, 0, 0, 0}, {}), UsbStatus::kOk);
  EXPECT_EQ(control_in(keyboard, {0xA1, 0x02, 0, 0, 0, 0, 1, 0}), (std::vector<uint8_t>{0x7D}));
  EXPECT_EQ(control_out(keyboard, {0x21, 0x0B, 0x00, 0x00, 0, 0, 0, 0}, {}), UsbStatus::kOk);
  EXPECT_EQ(control_in(keyboard, {0xA1, 0x03, 0, 0, 0, 0, 1, 0}), (std::vector<uint8_t>{0}));
  // The tablet has no boot protocol.
  HidDevice tablet(HidKind::kTablet);
  EXPECT_EQ(control_out(tablet, {0x21, 0x0B, 0x00, 0x00, 0, 0, 0, 0}, {}), UsbStatus::kStall);
}

TEST(HidDevice, ScreenPointerScalesAsQemu) {
  HidDevice tablet(HidKind::kTablet);
  // The middle of a 1024x768 screen with left and middle held.
  send_screen_pointer(tablet, 512, 384, 1024, 768, 0x3);
  EXPECT_EQ(poll(tablet), (std::vector<uint8_t>{0x05, 0xFF, 0x3F, 0xFF, 0x3F, 0x00}));
  // The far corner (clamped), right button, one wheel step down.
  send_screen_pointer(tablet, 5000, 768, 1024, 768, 0x4 | 0x10);
  EXPECT_EQ(poll(tablet), (std::vector<uint8_t>{0x02, 0xFF, 0x7F, 0xFF, 0x7F, 0xFF}));
  send_screen_pointer(tablet, 0, 0, 1024, 768, 0x8);
  EXPECT_EQ(poll(tablet), (std::vector<uint8_t>{0x00, 0, 0, 0, 0, 0x01}));
  EXPECT_TRUE(poll(tablet).empty());
}

}  // namespace
}  // namespace amber::hv::usb
