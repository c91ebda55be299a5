// SPDX-License-Identifier: GPL-2.0-or-later
// Base64 for secret values on disk (UUID.base64, as libvirt writes it: one
// line, no wrapping): the strict dialect of common/base64.h.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace amber::driver::secret {

std::string base64_encode(std::span<const uint8_t> bytes);
// Skips ASCII whitespace (a file edited by hand may end in a newline);
// kCorrupt for any other character outside the alphabet, bad padding or a
// length that is not a multiple of four. The message never quotes TEXT: it
// is a secret.
Result<std::vector<uint8_t>> base64_decode(std::string_view text);

}  // namespace amber::driver::secret
