// SPDX-License-Identifier: GPL-2.0-or-later
// Helpers shared by the launch-settings parsers (internal to vmmctl/, and
// the place a new list-valued option's parser starts from): QEMU-style
// "key=value,key=value" lists where ",," is a literal comma.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace amber::vmmctl {

struct OptionItem {
  std::string key;  // "" for a bare item ("--disk FILE")
  std::string value;
};

// Splits at single commas; `option` names the option in errors. An empty
// item is an error.
Result<std::vector<OptionItem>> split_option_list(std::string_view text, std::string_view option);
// Doubles every comma so split_option_list() gives `value` back.
std::string escape_option_value(std::string_view value);
// A decimal number in [min, max]; `what` names the option in errors.
Result<unsigned> parse_unsigned(std::string_view value, std::string_view what, unsigned min,
                                unsigned max);
// on|yes|true or off|no|false.
Result<bool> parse_on_off(std::string_view value, std::string_view what);

}  // namespace amber::vmmctl
