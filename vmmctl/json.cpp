// SPDX-License-Identifier: GPL-2.0-or-later
#include "vmmctl/json.h"

namespace amber::vmmctl {
namespace {

Error corrupt(std::string message) {
  return Error(ErrorKind::kCorrupt, std::move(message));
}

// nlohmann's parser has no depth limit: check it first, in one pass that
// skips over strings (where brackets are text).
bool depth_within(std::string_view text, unsigned max_depth) {
  unsigned depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) return false;
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return true;
}

Result<const Json*> get_typed(const Json& object, std::string_view key, Json::value_t type,
                              std::string_view type_name) {
  const Json* member = find_member(object, key);
  if (member == nullptr) return corrupt("missing member \"" + std::string(key) + "\"");
  const bool matches = type == Json::value_t::number_unsigned  ? member->is_number_unsigned()
                       : type == Json::value_t::number_integer ? member->is_number_integer()
                                                               : member->type() == type;
  if (!matches)
    return corrupt("member \"" + std::string(key) + "\" is not " + std::string(type_name));
  return member;
}

}  // namespace

Result<Json> parse_json(std::string_view text, size_t max_length) {
  if (text.size() > max_length)
    return corrupt("JSON text longer than " + std::to_string(max_length) + " bytes");
  if (!depth_within(text, kMaxJsonDepth)) return corrupt("JSON nested too deeply");
  Json value = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return corrupt("malformed JSON");
  return value;
}

std::string dump_json(const Json& value) {
  return value.dump(-1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
}

const Json* find_member(const Json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

Result<std::string> get_string(const Json& object, std::string_view key) {
  AMBER_TRY_ASSIGN(const Json* member, get_typed(object, key, Json::value_t::string, "a string"));
  return member->get_ref<const std::string&>();
}

Result<uint64_t> get_unsigned(const Json& object, std::string_view key) {
  AMBER_TRY_ASSIGN(const Json* member,
                   get_typed(object, key, Json::value_t::number_unsigned, "an unsigned integer"));
  return member->get<uint64_t>();
}

Result<int64_t> get_integer(const Json& object, std::string_view key) {
  AMBER_TRY_ASSIGN(const Json* member,
                   get_typed(object, key, Json::value_t::number_integer, "an integer"));
  if (member->is_number_unsigned() && member->get<uint64_t>() > INT64_MAX)
    return corrupt("member \"" + std::string(key) + "\" is out of range");
  return member->get<int64_t>();
}

Result<bool> get_bool(const Json& object, std::string_view key) {
  AMBER_TRY_ASSIGN(const Json* member, get_typed(object, key, Json::value_t::boolean, "a boolean"));
  return member->get<bool>();
}

Result<const Json*> get_object(const Json& object, std::string_view key) {
  return get_typed(object, key, Json::value_t::object, "an object");
}

Result<const Json*> get_array(const Json& object, std::string_view key) {
  return get_typed(object, key, Json::value_t::array, "an array");
}

}  // namespace amber::vmmctl
