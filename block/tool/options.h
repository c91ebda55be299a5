// SPDX-License-Identifier: GPL-2.0-or-later
// amber-img option parsing shared by every command: qemu-img's size syntax
// (qemu_strtosz: k K M G T P E suffixes, 1024-based, optional fraction with
// a suffix, "b"/"B" for bytes), its boolean words, and "-o key=value,..."
// lists (",," escapes a comma inside a value).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace amber::block::tool {

// The largest size qemu-img accepts for an image (INT64_MAX).
inline constexpr uint64_t kMaxImageSize = 9223372036854775807ull;

// Parses a size. Syntax errors give kInvalidArgument; values above 2^64-1
// give kOutOfRange. The caller applies its own upper bound and wording.
Result<uint64_t> parse_size(std::string_view text);

// create's size argument with qemu-img's two messages (bad syntax, > INT64_MAX).
Result<uint64_t> parse_image_size(std::string_view text);

// An unsigned number as C's strtoul base 0 reads it (decimal, 0x hex,
// 0 octal): bench's -c, -d, --pattern, convert's -m, refcount_bits.
Result<uint64_t> parse_number(std::string_view text);

// "on"/"off" and their synonyms yes/no, true/false.
Result<bool> parse_bool(std::string_view text, std::string_view name);

struct KeyValue {
  std::string key;
  std::string value;
};

// Splits "a=1,b=2" (",," is a literal comma). A bare word "help" or "?"
// becomes {key "help"}; another bare word is "word=on". Empty items are
// skipped.
Result<std::vector<KeyValue>> parse_option_list(std::string_view text);

// The message for a bad size argument: "Invalid <what> specified. You may
// use k, M, G, T, P or E suffixes for kilobytes, ... exabytes."
std::string invalid_size_message(std::string_view what);

}  // namespace amber::block::tool
