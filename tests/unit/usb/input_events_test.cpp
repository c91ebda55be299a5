// SPDX-License-Identifier: GPL-2.0-or-later
// input-send-event's routing (hv/control/input_events.h) over a Vm that
// has only USB HID devices: abs to the tablet, rel to the mouse, buttons
// with the motion, keys (qnum) to the keyboard; refusals send nothing.
#include "hv/control/input_events.h"

#include <gtest/gtest.h>

#include "hv/usb/hid_device.h"
#include "hv/vmm/builder.h"

namespace amber::hv::control {
namespace {

using vmmctl::InputEvent;
using vmmctl::InputEventType;

std::vector<uint8_t> poll(usb::HidDevice& device) {
  std::vector<uint8_t> data(8);
  const usb::UsbResult r = device.handle_packet(usb::UsbPid::kIn, 1, data);
  if (r.status != usb::UsbStatus::kOk) return {};
  data.resize(r.length);
  return data;
}

InputEvent abs_event(vmmctl::InputAxis axis, int64_t value) {
  InputEvent e;
  e.type = InputEventType::kAbsolute;
  e.axis = axis;
  e.value = value;
  return e;
}
InputEvent rel_event(vmmctl::InputAxis axis, int64_t value) {
  InputEvent e = abs_event(axis, value);
  e.type = InputEventType::kRelative;
  return e;
}
InputEvent button_event(vmmctl::InputButton button, bool down) {
  InputEvent e;
  e.type = InputEventType::kButton;
  e.button = button;
  e.down = down;
  return e;
}
InputEvent key_event(unsigned qnum, bool down) {
  InputEvent e;
  e.type = InputEventType::kKey;
  e.key_number = qnum;
  e.down = down;
  return e;
}

TEST(InputEvents, RoutesToTheUsbDevices) {
  usb::HidDevice tablet(usb::HidKind::kTablet), mouse(usb::HidKind::kMouse),
      keyboard(usb::HidKind::kKeyboard);
  vmm::Vm vm;
  vm.usb_hid = {&tablet, &mouse, &keyboard};
  Ps2PointerState ps2;
  ASSERT_TRUE(send_input_events(vm,
                                {{abs_event(vmmctl::InputAxis::kX, 0x100),
                                  abs_event(vmmctl::InputAxis::kY, 0x200),
                                  button_event(vmmctl::InputButton::kMiddle, true)}},
                                ps2)
                  .ok());
  EXPECT_EQ(poll(tablet), (std::vector<uint8_t>{0x04, 0x00, 0x01, 0x00, 0x02, 0x00}));
  EXPECT_TRUE(poll(mouse).empty());
  ASSERT_TRUE(send_input_events(vm,
                                {{rel_event(vmmctl::InputAxis::kX, -3),
                                  button_event(vmmctl::InputButton::kRight, true)}},
                                ps2)
                  .ok());
  EXPECT_EQ(poll(mouse), (std::vector<uint8_t>{0x02, 0xFD, 0x00, 0x00}));
  EXPECT_TRUE(poll(tablet).empty());
  // Keys: qnum 0x2A (left shift) and 0xC8 (E0 48: up arrow).
  ASSERT_TRUE(send_input_events(vm, {{key_event(0x2A, true), key_event(0xC8, true)}}, ps2).ok());
  EXPECT_EQ(poll(keyboard), (std::vector<uint8_t>{0x02, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(poll(keyboard), (std::vector<uint8_t>{0x02, 0, 0x52, 0, 0, 0, 0, 0}));
  // A number that is no key: refused, and nothing of the command is sent.
  EXPECT_FALSE(
      send_input_events(vm, {{abs_event(vmmctl::InputAxis::kX, 9), key_event(0x54, true)}}, ps2)
          .ok());
  EXPECT_TRUE(poll(tablet).empty());
  EXPECT_TRUE(poll(keyboard).empty());
}

TEST(InputEvents, AbsoluteNeedsATablet) {
  usb::HidDevice keyboard(usb::HidKind::kKeyboard);
  vmm::Vm vm;
  vm.usb_hid = {&keyboard};
  Ps2PointerState ps2;
  const Result<void> r = send_input_events(vm, {{abs_event(vmmctl::InputAxis::kX, 1)}}, ps2);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("tablet"), std::string::npos) << r.error().message();
  EXPECT_FALSE(send_input_events(vm, {{button_event(vmmctl::InputButton::kLeft, true)}}, ps2).ok());
}

TEST(InputEvents, QnumToLinuxKeycodes) {
  EXPECT_EQ(linux_keycode_for_qnum(0x1E), 30u);   // a
  EXPECT_EQ(linux_keycode_for_qnum(0x58), 88u);   // F12
  EXPECT_EQ(linux_keycode_for_qnum(0x9C), 96u);   // keypad enter
  EXPECT_EQ(linux_keycode_for_qnum(0xD3), 111u);  // delete
  EXPECT_EQ(linux_keycode_for_qnum(0xDB), 125u);  // left meta
  EXPECT_EQ(linux_keycode_for_qnum(0), 0u);
  EXPECT_EQ(linux_keycode_for_qnum(0x80), 0u);
}

}  // namespace
}  // namespace amber::hv::control
