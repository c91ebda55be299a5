// SPDX-License-Identifier: GPL-2.0-or-later
// Domain names that are safe as file names: every domain's name becomes
// config_dir/NAME.xml, run_dir/NAME.xml and log_dir/NAME.log, so a name
// must not reach another directory or hide as a dot file.
//
// Thread-safety: pure function.
#pragma once

#include <cstddef>
#include <string_view>

#include "common/result.h"

namespace amber::driver::vm {

// NAME.xml, NAME.status, NAME.log and NAME.xml.tmp must fit in 255 bytes
// (NAME_MAX) with room to spare.
inline constexpr size_t kMaxDomainNameLength = 200;

// kInvalidArgument naming what is wrong: empty, over 200 bytes, '/',
// a leading '.', NUL or a control character.
Result<void> check_domain_name(std::string_view name);

}  // namespace amber::driver::vm
