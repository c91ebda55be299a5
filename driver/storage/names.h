// SPDX-License-Identifier: GPL-2.0-or-later
// The name and path rules of pools and volumes.
//
// A volume name becomes a file name in the pool's directory, so it must be
// one safe path component: not empty, at most 255 bytes, no '/', no NUL or
// control characters, not "." or "..", and not starting with '.' (hidden
// files are the daemon's temporaries). A pool name becomes a file name
// under config_dir/storage/ and follows the same rule. Errors are
// kInvalidArgument naming the offending name and why.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/result.h"

namespace amber::driver::storage {

// NAME_MAX on Linux file systems.
inline constexpr size_t kMaxVolumeNameLength = 255;
// Same bound as domain names: the pool name is also a config file name.
inline constexpr size_t kMaxPoolNameLength = 200;

Result<void> check_volume_name(std::string_view name);
Result<void> check_pool_name(std::string_view name);

// Whether PATH (already resolved, no symlinks, no "..") is DIR itself or
// lies under it; DIR is resolved too.
bool path_is_under(std::string_view dir, std::string_view path);

}  // namespace amber::driver::storage
