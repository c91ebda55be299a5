// A small JSON reader and writer for the control protocol.
//
// parse_json() accepts one JSON text (RFC 8259) with bounded input length
// (kMaxJsonLength) and nesting depth (kMaxJsonDepth); anything malformed
// (or over the limits) is an Error with a short reason, never a crash.
// Numbers are kept as double (and int64 when integral). \u escapes are
// decoded to UTF-8 (surrogate pairs included; lone surrogates refused).
// JsonWriter builds compact output with correct string escaping.
//
// Thread-safety: values and pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace amber::hv::control {

// Limits: a control line is a small command; 64 KiB and depth 32 are far
// above any real one and keep a hostile client from exhausting memory or
// the stack.
inline constexpr size_t kMaxJsonLength = 64 * 1024;
inline constexpr unsigned kMaxJsonDepth = 32;

class JsonValue {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  JsonValue() = default;
  static JsonValue boolean(bool b);
  static JsonValue number(double d);
  static JsonValue string(std::string s);
  static JsonValue array();
  static JsonValue object();

  Type type() const { return type_; }
  bool is_object() const { return type_ == Type::kObject; }
  bool is_string() const { return type_ == Type::kString; }
  const std::string& as_string() const { return string_; }
  double as_number() const { return number_; }
  bool as_bool() const { return bool_; }
  const std::vector<JsonValue>& items() const { return array_; }
  const std::vector<std::pair<std::string, JsonValue>>& members() const { return object_; }
  // Member lookup (last duplicate wins); nullptr when absent or not an object.
  const JsonValue* find(std::string_view key) const;

  void push(JsonValue v) { array_.push_back(std::move(v)); }
  void set(std::string key, JsonValue v) { object_.emplace_back(std::move(key), std::move(v)); }
  // Compact serialization.
  std::string dump() const;

 private:
  Type type_ = Type::kNull;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<JsonValue> array_;
  std::vector<std::pair<std::string, JsonValue>> object_;
};

Result<JsonValue> parse_json(std::string_view text);
std::string json_quote(std::string_view text);

}  // namespace amber::hv::control
