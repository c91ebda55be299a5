// SPDX-License-Identifier: GPL-2.0-or-later
// X keysyms (what a VNC client sends in a KeyEvent) to Linux input keycodes
// (KEY_*, what the i8042 keyboard takes) for the US layout. A shifted
// keysym ('A', '!', '{') gives the key it is on ('a', '1', '['): the
// client sends Shift as a key of its own, so the guest sees the Shift the
// user pressed and applies its own layout, as QEMU's VNC server does
// without a -k keymap.
//
// Thread-safety: a pure function over constant tables.
#pragma once

#include <cstdint>

namespace amber::hv::display {

// 0 for a keysym the PC keyboard has no key for.
unsigned keysym_to_keycode(uint32_t keysym);

}  // namespace amber::hv::display
