// SPDX-License-Identifier: GPL-2.0-or-later
// `amber-img create`: argument parsing and qemu-img's "Formatting ..." line,
// exposed for the unit tests.
//
// Thread-safety: parse functions use getopt's global state (one at a time).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "block/create.h"
#include "block/tool/image_args.h"
#include "block/tool/options.h"

namespace amber::block::tool {

struct CreateArgs {
  std::string format = "raw";
  std::string filename;
  std::optional<std::string> size_text;  // the positional size
  std::string backing_file;              // -b
  std::string backing_format;            // -F
  bool unsafe_backing = false;           // -u
  bool quiet = false;                    // -q
  std::vector<KeyValue> options;         // every -o, in order
  Secrets secrets;                       // every --object
};

Result<CreateArgs> parse_create_args(int argc, char** argv);

// The create request after -o merging and validation, and the options as
// qemu-img echoes them (given text, or default).
struct CreatePlan {
  CreateOptions options;
  bool help = false;
  // Values of -o options as given (size-typed ones normalised), by key.
  std::vector<KeyValue> given;
  Secrets secrets;  // for encrypt.key-secret / key-secret
};

// Validates keys and values that must be checked before the "Formatting"
// line; `size` is filled in later when it comes from the backing file.
Result<CreatePlan> plan_create(const CreateArgs& args);

// "Formatting 'a.qcow2', fmt=qcow2 cluster_size=65536 ..." (no newline).
std::string formatting_line(const std::string& filename, const CreatePlan& plan, uint64_t size);

// Validation qemu-img does after printing the Formatting line (with its
// wording), including the encryption options and their secret; the
// engine checks the rest.
Result<void> validate_after_formatting(const CreatePlan& plan);

}  // namespace amber::block::tool
