// SPDX-License-Identifier: GPL-2.0-or-later
// PS/2 keyboard scan codes: Linux input keycodes (KEY_* of
// linux/input-event-codes.h) to scan code set 2 make/break sequences for the
// 104/105-key PC keyboard (plus the Japanese keys, keypad '=' and the ACPI
// and volume keys), and the i8042's set 2 -> set 1 translation (the table
// of the controller's XLATE mode, which is also how a keyboard in set 1
// numbers its keys).
//
// Thread-safety: pure functions over constant tables.
#pragma once

#include <cstddef>
#include <cstdint>

namespace amber::hv::devices {

// Longest sequence: Pause's make (8 bytes); Print Screen's break is 6.
inline constexpr size_t kMaxScancodeBytes = 8;

struct ScancodeSequence {
  uint8_t bytes[kMaxScancodeBytes] = {};
  size_t size = 0;
};

// The set 2 bytes of one key press (down) or release; size 0 for a keycode
// the keyboard does not have. Pause has no release sequence (size 0 too).
ScancodeSequence set2_sequence(unsigned linux_keycode, bool down);
// Whether the keyboard has this key.
bool has_scancode(unsigned linux_keycode);

// The i8042 translation of one set 2 byte (0xF0 is handled by the caller:
// it sets bit 7 of the next translated byte).
uint8_t translate_set2(uint8_t byte);

}  // namespace amber::hv::devices
