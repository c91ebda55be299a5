// SPDX-License-Identifier: GPL-2.0-or-later
// amber-img commands: one entry point per qemu-img command, each taking the
// command's own argv (argv[0] is the command name) and returning the
// process exit status. Errors go to stderr as "<program>: ..." lines, where
// <program> is the basename of argv[0] as qemu-img prints it (Amber called
// as `qemu-img` says "qemu-img:").
//
// Thread-safety: called once from main(); they use getopt's global state and
// the program name main() sets before any of them runs.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "block/image.h"
#include "common/result.h"
#include "common/version.h"

namespace amber::block::tool {

// The name error lines start with until set_program_name is called.
inline constexpr std::string_view kDefaultProgramName = "amber-img";
inline constexpr std::string_view kVersion = ::amber::kVersion;

int run_create(int argc, char** argv);
int run_info(int argc, char** argv);
int run_check(int argc, char** argv);
int run_map(int argc, char** argv);
int run_resize(int argc, char** argv);
int run_bench(int argc, char** argv);
int run_compare(int argc, char** argv);
int run_convert(int argc, char** argv);
int run_snapshot(int argc, char** argv);
int run_commit(int argc, char** argv);
int run_rebase(int argc, char** argv);
int run_measure(int argc, char** argv);
int run_amend(int argc, char** argv);
int run_bitmap(int argc, char** argv);
int run_dd(int argc, char** argv);

// The text of `amber-img --help`.
std::string usage_text();

// Sets the name error lines start with to the basename of `argv0` (QEMU's
// error_set_progname). Called once by main() before anything else.
void set_program_name(const char* argv0);
std::string_view program_name();

// Prints "<program>: <message>" on stderr; returns 1.
int report_error(std::string_view message);
int report_error(const Error& error);
// Reports each line of `message` as its own error line, prefix and all (as
// qemu-img's consecutive error_report() calls print).
int report_error_lines(std::string_view message);
// An error's text as qemu-img words it: a lock conflict is QEMU's two
// lines without the errno text, anything else Error::message().
std::string error_text(const Error& error);
// For a bad command line: the same line (getopt-style wording); returns 1.
int usage_error(std::string_view message);

// qemu-img's warning when a raw image opened for writing was probed.
void warn_probed_raw(const std::string& filename);

// Prepares getopt for a fresh parse of a command's argv (resets optind,
// silences getopt's own messages).
void reset_getopt();
// The message for the option getopt just rejected ('?' or ':').
std::string getopt_error(int result, char** argv);

// The host path of an image name: "file:" is QEMU's protocol prefix for a
// plain file ("file:/a/b:c.qcow2" is /a/b:c.qcow2); other names are paths.
std::string host_path(const std::string& name);

// -f's value as OpenOptions::format: empty means probe (nullopt).
// `filename` names the image in the error (qemu-img's "Could not open").
Result<std::optional<ImageFormat>> parse_format_option(const std::string& name,
                                                       const std::string& filename);

// The chain level (1 = the top's backing file) whose file is `name`, as
// qemu's bdrv_find_backing_image matches it: a level's stored backing name
// equal to `name`, or the same file. commit -b and rebase use it.
std::optional<unsigned> chain_level_of(Image& top, const std::string& name);

// After getopt of a one-image command: exactly one name must remain, and
// --output must be "human" or "json". Returns 0 when so, otherwise reports
// the error and returns the exit status.
int check_single_image_args(int argc, std::string_view output = "human");

}  // namespace amber::block::tool
