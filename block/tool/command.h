// amber-img commands: one entry point per qemu-img command, each taking the
// command's own argv (argv[0] is the command name) and returning the
// process exit status. Errors go to stderr as one "amber-img: ..." line.
//
// Thread-safety: called once from main(); they use getopt's global state.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "block/image.h"
#include "common/result.h"
#include "common/version.h"

namespace amber::block::tool {

inline constexpr std::string_view kProgramName = "amber-img";
inline constexpr std::string_view kVersion = ::amber::kVersion;

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

// -f's value as OpenOptions::format: empty means probe (nullopt).
Result<std::optional<ImageFormat>> parse_format_option(const std::string& name);

// After getopt of a one-image command: exactly one name must remain, and
// --output must be "human" or "json". Returns 0 when so, otherwise reports
// the error and returns the exit status.
int check_single_image_args(int argc, std::string_view output = "human");

}  // namespace amber::block::tool
