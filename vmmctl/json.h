// SPDX-License-Identifier: GPL-2.0-or-later
// JSON glue over nlohmann-json for the control protocol, in the codebase's
// no-exceptions style: parsing is bounded and returns Result, dumping never
// throws (invalid UTF-8 in a string becomes U+FFFD; control characters are
// escaped), and members are read through typed getters that return Result.
// Integers keep all 64 bits (nlohmann stores uint64_t/int64_t exactly).
//
// Thread-safety: pure functions over values.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/result.h"

namespace amber::vmmctl {

// Ordered: members go out in the order they are set ("event" first, "id" last).
using Json = nlohmann::ordered_json;

// Nesting limit: protocol messages are at most 4 levels deep; 32 leaves
// room for an "id" a client chooses and keeps the recursive dump() (of an
// echoed id) far from the stack's end.
inline constexpr unsigned kMaxJsonDepth = 32;

// One JSON text of at most max_length bytes and kMaxJsonDepth levels.
// Errors are kCorrupt with a short reason.
Result<Json> parse_json(std::string_view text, size_t max_length);
// Compact, one line, never throws.
std::string dump_json(const Json& value);

// Members of an object. A missing member or one of another type is a
// kCorrupt error naming the member.
Result<std::string> get_string(const Json& object, std::string_view key);
Result<uint64_t> get_unsigned(const Json& object, std::string_view key);
Result<int64_t> get_integer(const Json& object, std::string_view key);
Result<bool> get_bool(const Json& object, std::string_view key);
Result<const Json*> get_object(const Json& object, std::string_view key);
Result<const Json*> get_array(const Json& object, std::string_view key);
// nullptr when the member is absent (or `object` is not an object).
const Json* find_member(const Json& object, std::string_view key);

}  // namespace amber::vmmctl
