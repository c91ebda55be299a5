// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/control/input_events.h"

#include <utility>

#include "hv/devices/i8042.h"
#include "hv/usb/hid_device.h"
#include "hv/vmm/builder.h"

namespace amber::hv::control {
namespace {

using vmmctl::InputButton;
using vmmctl::InputEventType;

// E0-prefixed set 1 codes (qnum 0x80 | code) and their Linux keycodes.
constexpr std::pair<uint8_t, uint16_t> kExtendedKeys[] = {
    {0x9C, 96},  {0x9D, 97},  {0xB5, 98},  {0xB7, 99},  {0xB8, 100}, {0xC7, 102},
    {0xC8, 103}, {0xC9, 104}, {0xCB, 105}, {0xCD, 106}, {0xCF, 107}, {0xD0, 108},
    {0xD1, 109}, {0xD2, 110}, {0xD3, 111}, {0xA0, 113}, {0xAE, 114}, {0xB0, 115},
    {0xDE, 116}, {0xDB, 125}, {0xDC, 126}, {0xDD, 127}, {0xC6, 119},
};

usb::HidDevice* find_hid(vmm::Vm& vm, usb::HidKind kind) {
  for (usb::HidDevice* device : vm.usb_hid)
    if (device->kind() == kind) return device;
  return nullptr;
}

usb::PointerButton hid_button(InputButton button) {
  switch (button) {
    case InputButton::kLeft:
      return usb::PointerButton::kLeft;
    case InputButton::kMiddle:
      return usb::PointerButton::kMiddle;
    case InputButton::kRight:
      return usb::PointerButton::kRight;
    case InputButton::kWheelUp:
      return usb::PointerButton::kWheelUp;
    case InputButton::kWheelDown:
      return usb::PointerButton::kWheelDown;
  }
  return usb::PointerButton::kLeft;
}

// PS/2 packet bits: 1 left, 2 right, 4 middle.
unsigned ps2_button_bit(InputButton button) {
  switch (button) {
    case InputButton::kLeft:
      return 1;
    case InputButton::kRight:
      return 2;
    case InputButton::kMiddle:
      return 4;
    default:
      return 0;
  }
}

}  // namespace

unsigned linux_keycode_for_qnum(unsigned qnum) {
  // Set 1 codes 0x01..0x58 are the Linux keycodes of the same number
  // (Linux numbers its keys after the AT keyboard), but 0x54/0x55 are none.
  if (qnum >= 0x01 && qnum <= 0x58 && qnum != 0x54 && qnum != 0x55) return qnum;
  for (const auto& [code, keycode] : kExtendedKeys)
    if (code == qnum) return keycode;
  return 0;
}

Result<void> send_input_events(vmm::Vm& vm, const vmmctl::InputSendEventArguments& arguments,
                               Ps2PointerState& ps2) {
  usb::HidDevice* tablet = find_hid(vm, usb::HidKind::kTablet);
  usb::HidDevice* mouse = find_hid(vm, usb::HidKind::kMouse);
  usb::HidDevice* keyboard = find_hid(vm, usb::HidKind::kKeyboard);
  bool has_abs = false, has_rel = false, has_btn = false;
  for (const vmmctl::InputEvent& event : arguments.events) {
    if (event.type == InputEventType::kAbsolute) has_abs = true;
    if (event.type == InputEventType::kRelative) has_rel = true;
    if (event.type == InputEventType::kButton) has_btn = true;
    if (event.type == InputEventType::kKey) {
      const unsigned keycode = linux_keycode_for_qnum(event.key_number);
      if (keycode == 0)
        return Error(ErrorKind::kInvalidArgument,
                     "key number " + std::to_string(event.key_number) + " is not a key");
    }
  }
  if (has_abs && tablet == nullptr)
    return Error(ErrorKind::kUnsupported,
                 "no absolute pointing device (start with --usb --usb-device tablet)");
  if ((has_rel || (has_btn && !has_abs)) && vm.ps2 == nullptr && mouse == nullptr &&
      tablet == nullptr)
    return Error(ErrorKind::kUnsupported, "no pointing device");
  // Buttons go where the motion goes; with none, to the tablet if any.
  usb::HidDevice* pointer = has_abs || (!has_rel && tablet != nullptr) ? tablet : mouse;
  const bool buttons_to_ps2 = pointer == nullptr;

  int ps2_dx = 0, ps2_dy = 0, ps2_dz = 0;
  bool ps2_touched = false;
  for (const vmmctl::InputEvent& event : arguments.events) {
    switch (event.type) {
      case InputEventType::kAbsolute:
        tablet->move_absolute(
            event.axis == vmmctl::InputAxis::kX ? usb::PointerAxis::kX : usb::PointerAxis::kY,
            static_cast<int>(event.value));
        break;
      case InputEventType::kRelative:
        if (mouse != nullptr) {
          mouse->move_relative(
              event.axis == vmmctl::InputAxis::kX ? usb::PointerAxis::kX : usb::PointerAxis::kY,
              static_cast<int>(event.value));
        } else {
          (event.axis == vmmctl::InputAxis::kX ? ps2_dx : ps2_dy) += static_cast<int>(event.value);
          ps2_touched = true;
        }
        break;
      case InputEventType::kButton:
        if (!buttons_to_ps2) {
          pointer->button(hid_button(event.button), event.down);
          break;
        }
        ps2_touched = true;
        if (event.button == InputButton::kWheelUp && event.down) --ps2_dz;
        if (event.button == InputButton::kWheelDown && event.down) ++ps2_dz;
        if (event.down)
          ps2.buttons |= ps2_button_bit(event.button);
        else
          ps2.buttons &= ~ps2_button_bit(event.button);
        break;
      case InputEventType::kKey: {
        const unsigned keycode = linux_keycode_for_qnum(event.key_number);
        if (keyboard != nullptr)
          (void)keyboard->key(keycode, event.down);
        else if (vm.ps2 != nullptr)
          (void)vm.ps2->key_event(keycode, event.down);
        break;
      }
    }
  }
  if (tablet != nullptr && (has_abs || (has_btn && pointer == tablet))) tablet->sync();
  if (mouse != nullptr && (has_rel || (has_btn && pointer == mouse))) mouse->sync();
  if (ps2_touched && vm.ps2 != nullptr) vm.ps2->mouse_event(ps2_dx, ps2_dy, ps2_dz, ps2.buttons);
  return ok();
}

}  // namespace amber::hv::control
