// SPDX-License-Identifier: GPL-2.0-or-later
// Config: amber-vmm's command line. The syntax and every value check are
// vmmctl's (vmmctl/launch.h: parse_argv, the same code the daemon's
// to_argv() is tested against), so the two sides cannot drift apart; this
// file only adds --help and --version and the help text.
// See doc/amber-vmm.md for the syntax.
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <string>

#include "common/result.h"
#include "vmmctl/launch.h"

namespace amber::hv::vmm {

using Config = vmmctl::LaunchSettings;

// What the command line asks for: run a VM, or print help or the version.
enum class Action { kRun, kHelp, kVersion };

struct CommandLine {
  Action action = Action::kRun;
  Config config;  // meaningful with kRun
};

// argv[0] is the program name. Every bad value is one kInvalidArgument
// Error whose message is the line main() prints.
Result<CommandLine> parse_command_line(int argc, const char* const* argv);
std::string help_text();

}  // namespace amber::hv::vmm
