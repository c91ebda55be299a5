// SPDX-License-Identifier: GPL-2.0-or-later
// Shared helpers of the amber-img commands: error lines, getopt reset and
// the --help text.
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>

#include <cstdio>

#include "block/tool/command.h"

namespace amber::block::tool {
namespace {

std::string& program_name_storage() {
  static std::string name(kDefaultProgramName);
  return name;
}

}  // namespace

void set_program_name(const char* argv0) {
  if (argv0 == nullptr || *argv0 == '\0') return;
  const std::string_view path = argv0;
  const size_t slash = path.rfind('/');
  program_name_storage() =
      std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::string_view program_name() {
  return program_name_storage();
}

int report_error(std::string_view message) {
  const std::string_view name = program_name();
  std::fprintf(stderr, "%.*s: %.*s\n", static_cast<int>(name.size()), name.data(),
               static_cast<int>(message.size()), message.data());
  return 1;
}

std::string error_text(const Error& error) {
  return error.kind() == ErrorKind::kLocked ? error.context() : error.message();
}

int report_error(const Error& error) {
  return report_error(error_text(error));
}

int report_error_lines(std::string_view message) {
  size_t start = 0;
  while (true) {
    const size_t end = message.find('\n', start);
    report_error(message.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return 1;
    start = end + 1;
  }
}

int usage_error(std::string_view message) {
  report_error(message);
  const std::string_view name = program_name();
  std::fprintf(stderr, "Try '%.*s --help' for more information\n", static_cast<int>(name.size()),
               name.data());
  return 1;
}

void reset_getopt() {
  optind = 0;  // 0 makes glibc re-initialise its state, not just rewind
  opterr = 0;
}

std::string getopt_error(int result, char** argv) {
  // qemu-img names the whole argument, short option or long, as it was
  // given (its unrecognized_option() and missing_argument()).
  const char* arg = argv[optind - 1];
  if (result == ':') return std::string("missing argument for option '") + arg + "'";
  return std::string("unrecognized option '") + arg + "'";
}

void warn_probed_raw(const std::string& filename) {
  std::fprintf(stderr,
               "WARNING: Image format was not specified for '%s' and probing guessed raw.\n"
               "         Automatically detecting the format is dangerous for raw images, write "
               "operations on block 0 will be restricted.\n"
               "         Specify the 'raw' format explicitly to remove the restrictions.\n",
               filename.c_str());
}

std::string usage_text() {
  return "amber-img version " + std::string(kVersion) + R"( (qemu-img 7.2 compatible)
usage: amber-img [standard options] command [command options]
Amber disk image utility

    '-h', '--help'       display this help and exit
    '-V', '--version'    output version information and exit

Command syntax:
  amend [-f fmt] [-t cache] [-p] [-q] [--force] -o options filename
  bench [-c count] [-d depth] [-f fmt] [--flush-interval=flush_interval] [-i aio] [-n] [--no-drain] [-o offset] [--pattern=pattern] [-q] [-s buffer_size] [-S step_size] [-t cache] [-w] [-U] filename
  check [-q] [-f fmt] [--output=ofmt] [-r [leaks | all]] [-T src_cache] [-U] filename
  commit [-q] [-f fmt] [-t cache] [-b base] [-r rate_limit] [-d] [-p] filename
  compare [-f fmt] [-F fmt] [-T src_cache] [-p] [-q] [-s] [-U] filename1 filename2
  convert [-c] [-f fmt] [-O output_fmt] [-o options] [-n] [-p] [-q] [-U] [-S sparse_size] [-t cache] [-T src_cache] [-m num_coroutines] [-W] [-B backing_file [-F backing_fmt]] [--target-is-zero] filename [filename2 [...]] output_filename
  create [-q] [-f fmt] [-b backing_file [-F backing_fmt]] [-u] [-o options] filename [size]
  dd [-f fmt] [-O output_fmt] [-U] [bs=block_size] [count=blocks] [skip=blocks] if=input of=output
  info [-f fmt] [--output=ofmt] [--backing-chain] [-U] filename
  map [-f fmt] [--start-offset=offset] [--max-length=len] [--output=ofmt] [-U] filename
  measure [--output=ofmt] [-O output_fmt] [-o options] [--size N | [-f fmt] [-U] filename]
  rebase [-f fmt] [-t cache] [-T src_cache] [-p] [-q] [-u] [-U] -b backing_file [-F backing_fmt] filename
  resize [-f fmt] [--preallocation=prealloc] [-q] [--shrink] filename [+ | -]size
  snapshot [-U] [-q] [-l | -a snapshot | -c snapshot | -d snapshot] filename

Not supported yet: bitmap.

Command parameters:
  'filename' is a disk image filename
  'fmt' is the disk image format (qcow2, raw or luks)
  '--object secret,id=ID,data=PASS' (or file=PATH) gives a passphrase, named
    by '--image-opts driver=qcow2,file.filename=X,encrypt.key-secret=ID' or
    'driver=luks,file.filename=X,key-secret=ID'
  'size' is the disk image size in bytes. Optional suffixes 'k' or 'K'
    (kilobyte, 1024), 'M' (megabyte, 1024k), 'G' (gigabyte, 1024M),
    'T' (terabyte, 1024G), 'P' (petabyte, 1024T) and 'E' (exabyte, 1024P)
    are supported. 'b' is ignored.
  'output_filename' is the destination disk image filename
  'ofmt' is 'human' or 'json'
  'cache' is the cache mode: 'none', 'writeback' (default), 'writethrough',
    'directsync' and 'unsafe'
  'aio' is 'threads', 'native' or 'io_uring'
  '-q' use Quiet mode - do not print any output (except errors)
  '-U' opens the image without taking locks (force share)

Parameters to snapshot subcommand:
  'snapshot' is the name of the snapshot to create, apply or delete
  '-a' applies a snapshot (revert disk to saved state)
  '-c' creates a snapshot
  '-d' deletes a snapshot
  '-l' lists all snapshots in the given image

Parameters to check subcommand:
  '-r' tries to repair any inconsistencies that are found during the check.
       '-r leaks' repairs only cluster leaks, whereas '-r all' fixes all
       kinds of errors, with a higher risk of choosing the wrong fix or
       hiding corruption that has already occurred.

Supported formats: luks qcow2 raw
)";
}

std::string host_path(const std::string& name) {
  constexpr std::string_view kFileProtocol = "file:";
  if (name.rfind(kFileProtocol, 0) == 0) return name.substr(kFileProtocol.size());
  return name;
}

Result<std::optional<ImageFormat>> parse_format_option(const std::string& name,
                                                       const std::string& filename) {
  if (name.empty()) return std::optional<ImageFormat>();
  auto format = parse_format(name);
  // qemu-img looks the driver up when it opens the image.
  if (!format.ok())
    return Error(ErrorKind::kUnsupported,
                 "Could not open '" + filename + "': Unknown driver '" + name + "'");
  return std::optional<ImageFormat>(*format);
}

int check_single_image_args(int argc, std::string_view output) {
  if (optind != argc - 1) return usage_error("Expecting one image file name");
  if (output != "human" && output != "json")
    return report_error("--output must be used with human or json as argument.");
  return 0;
}

namespace {

std::string real_path(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) return path;
  return buf;
}

}  // namespace

std::optional<unsigned> chain_level_of(Image& top, const std::string& name) {
  const std::string want = real_path(name);
  unsigned depth = 0;
  for (Image* level = &top; level->backing() != nullptr; level = level->backing()) {
    ++depth;
    auto info = level->info();
    if (info.ok() && info->backing_filename == name) return depth;
    if (real_path(level->backing()->filename()) == want) return depth;
  }
  return std::nullopt;
}

}  // namespace amber::block::tool
