// SPDX-License-Identifier: GPL-2.0-or-later
// Where the daemon finds amber-vmm when vmm_binary is not configured:
// beside its own executable (dirname of /proc/self/exe; an install where
// both share a directory), then ../hv/amber-vmm (the build tree: build/driver
// and build/hv), then the install bindir, baked in at build time as a path
// relative to the sbindir (so a DESTDIR or relocated install still works).
//
// Thread-safety: reads /proc/self/exe and stats files; any thread.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

namespace amber::driver::server {

// The candidates in search order for an executable at `self` (a path).
std::vector<std::string> vmm_binary_candidates(const std::string& self);

// The first executable candidate for this process, or kNotFound listing
// every place searched.
Result<std::string> find_vmm_binary();

}  // namespace amber::driver::server
