// SPDX-License-Identifier: GPL-2.0-or-later
// A small strict JSON parser for `json:{...}` pseudo file names, which
// arrive from command lines and from the backing file names stored in
// image headers: hostile input. It accepts what QEMU 7.2's JSON parser
// accepts (RFC 8259 plus single-quoted strings) and refuses the rest with
// QEMU's messages ("JSON parse error, premature EOI", ...). Limits: the
// input length (kMaxInputBytes), the nesting depth (kMaxNesting, QEMU's),
// the token count; strings never hold a NUL byte (\u0000 becomes the
// modified-UTF-8 pair C0 80, as in QEMU), and raw bytes must be UTF-8.
//
// Thread-safety: pure functions over their arguments.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace amber::block::json {

inline constexpr size_t kMaxInputBytes = size_t{1} << 20;
inline constexpr size_t kMaxNesting = 1024;  // QEMU's MAX_NESTING
inline constexpr size_t kMaxTokens = size_t{2} << 20;

struct Value {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;
  std::string text;  // kString: the decoded bytes; kNumber: as written
  std::vector<Value> items;
  std::vector<std::pair<std::string, Value>> members;  // in input order, keys unique

  bool is_string() const { return kind == Kind::kString; }
  const Value* find(std::string_view key) const;
};

// Parses exactly one JSON value. Errors (kInvalidArgument) carry QEMU's
// text: "JSON parse error, ...", "Expecting a JSON value", "Expecting at
// most one JSON value", "JSON nesting depth limit exceeded".
Result<Value> parse(std::string_view text);

// QEMU's qdict_flatten: nested non-empty objects and arrays become dotted
// keys ("file.filename", "list.0"); empty ones stay values. Where a nested
// key and a dotted key collide, the nested one wins (as QEMU ends up).
std::vector<std::pair<std::string, Value>> flatten(const Value& object);

}  // namespace amber::block::json
