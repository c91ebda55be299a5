// SPDX-License-Identifier: GPL-2.0-or-later
// Byte-range helpers shared by the engine and the daemon.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstring>

namespace amber {

// Whether LENGTH bytes at DATA are all zero (true for none): the first byte
// is zero and every byte equals the one before it.
inline bool all_zero(const void* data, size_t length) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  return length == 0 || (bytes[0] == 0 && std::memcmp(bytes, bytes + 1, length - 1) == 0);
}

}  // namespace amber
