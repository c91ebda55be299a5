// SPDX-License-Identifier: GPL-2.0-or-later
// Linux input keycodes (KEY_* of linux/input-event-codes.h, what send-key
// and the PS/2 keyboard take) to USB HID keyboard usages (HID Usage Tables,
// page 7), for the 104/105-key PC keyboard plus the keypad, Japanese and
// volume keys that usb-kbd reports.
//
// Thread-safety: pure functions over a constant table.
#pragma once

#include <cstdint>

namespace amber::hv::usb {

// Usages 0xE0..0xE7 are the modifiers (left ctrl, shift, alt, GUI, then
// the right ones): a boot keyboard reports them as bits of byte 0.
inline constexpr uint8_t kHidFirstModifier = 0xE0;
inline constexpr uint8_t kHidLastModifier = 0xE7;

// 0 for a keycode the USB keyboard does not have.
uint8_t hid_usage_for_keycode(unsigned linux_keycode);

}  // namespace amber::hv::usb
