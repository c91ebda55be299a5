// amber-img commands: one entry point per qemu-img command, each taking the
// command's own argv (argv[0] is the command name) and returning the
// process exit status. Errors go to stderr as one "amber-img: ..." line.
//
// Thread-safety: called once from main(); they use getopt's global state.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace amber::block::tool {

inline constexpr std::string_view kProgramName = "amber-img";
inline constexpr std::string_view kVersion = "0.1.0";

int run_create(int argc, char** argv);
int run_info(int argc, char** argv);
int run_check(int argc, char** argv);
int run_map(int argc, char** argv);
int run_resize(int argc, char** argv);
int run_bench(int argc, char** argv);
int run_compare(int argc, char** argv);

// The text of `amber-img --help`.
std::string usage_text();

// Prints "amber-img: <message>" on stderr; returns 1.
int report_error(std::string_view message);
int report_error(const Error& error);
// For a bad command line: the same line (getopt-style wording); returns 1.
int usage_error(std::string_view message);

// qemu-img's warning when a raw image opened for writing was probed.
void warn_probed_raw(const std::string& filename);

// Prepares getopt for a fresh parse of a command's argv (resets optind,
// silences getopt's own messages).
void reset_getopt();
// The message for the option getopt just rejected ('?' or ':').
std::string getopt_error(int result, char** argv);

}  // namespace amber::block::tool
