// SPDX-License-Identifier: GPL-2.0-or-later
// Uint128: the unsigned 128-bit integer GCC and Clang provide as an
// extension, for intermediates that would overflow 64 bits (size parsing,
// bench offsets, timer ticks).
//
// ISO C++ has no 128-bit type; `__extension__` marks the one use of the
// extension so the rest of the tree builds under -Wpedantic.
//
// Thread-safety: a type alias; no state.
#pragma once

namespace amber {

__extension__ typedef unsigned __int128 Uint128;

}  // namespace amber
