// SPDX-License-Identifier: GPL-2.0-or-later
#include "vmmctl/option_list.h"

#include <charconv>

namespace amber::vmmctl {
namespace {

Error bad(std::string message) {
  return Error(ErrorKind::kInvalidArgument, std::move(message));
}

}  // namespace

Result<unsigned> parse_unsigned(std::string_view value, std::string_view what, unsigned min,
                                unsigned max) {
  unsigned n = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || ptr != value.data() + value.size() || n < min || n > max)
    return bad(std::string(what) + ": '" + std::string(value) + "' is not a number from " +
               std::to_string(min) + " to " + std::to_string(max));
  return n;
}

Result<std::vector<OptionItem>> split_option_list(std::string_view text, std::string_view option) {
  std::vector<OptionItem> items;
  std::string current;
  auto finish = [&]() -> Result<void> {
    if (current.empty())
      return bad(std::string(option) + ": empty item in '" + std::string(text) + "'");
    const size_t equals = current.find('=');
    if (equals == std::string::npos) {
      items.push_back({"", std::move(current)});
    } else {
      items.push_back({current.substr(0, equals), current.substr(equals + 1)});
    }
    current.clear();
    return ok();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != ',') {
      current += text[i];
    } else if (i + 1 < text.size() && text[i + 1] == ',') {
      current += ',';
      ++i;
    } else {
      AMBER_TRY(finish());
    }
  }
  AMBER_TRY(finish());
  return items;
}

std::string escape_option_value(std::string_view value) {
  std::string out;
  for (const char c : value) {
    out += c;
    if (c == ',') out += ',';
  }
  return out;
}

Result<bool> parse_on_off(std::string_view value, std::string_view what) {
  if (value == "on" || value == "yes" || value == "true") return true;
  if (value == "off" || value == "no" || value == "false") return false;
  return bad(std::string(what) + ": '" + std::string(value) + "' is not on or off");
}

}  // namespace amber::vmmctl
