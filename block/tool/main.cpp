// SPDX-License-Identifier: GPL-2.0-or-later
// amber-img: qemu-img's command line on Amber's block engine. main() only
// dispatches to the command named by argv[1].
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "block/tool/command.h"

namespace {

using amber::block::tool::report_error;
using amber::block::tool::usage_error;

struct CommandEntry {
  const char* name;
  int (*run)(int, char**);
};

constexpr CommandEntry kCommands[] = {
    {"amend", amber::block::tool::run_amend},
    {"bench", amber::block::tool::run_bench},
    {"bitmap", amber::block::tool::run_bitmap},
    {"check", amber::block::tool::run_check},
    {"commit", amber::block::tool::run_commit},
    {"compare", amber::block::tool::run_compare},
    {"convert", amber::block::tool::run_convert},
    {"create", amber::block::tool::run_create},
    {"dd", amber::block::tool::run_dd},
    {"info", amber::block::tool::run_info},
    {"map", amber::block::tool::run_map},
    {"measure", amber::block::tool::run_measure},
    {"rebase", amber::block::tool::run_rebase},
    {"resize", amber::block::tool::run_resize},
    {"snapshot", amber::block::tool::run_snapshot},
};

}  // namespace

int main(int argc, char** argv) {
  amber::block::tool::set_program_name(argc > 0 ? argv[0] : nullptr);
  if (argc < 2) {
    return usage_error("Not enough arguments");
  }
  const std::string_view first = argv[1];
  if (first == "-h" || first == "--help") {
    std::fputs(amber::block::tool::usage_text().c_str(), stdout);
    return 0;
  }
  if (first == "-V" || first == "--version") {
    std::printf("amber-img version %s (qemu-img 7.2 compatible)\n",
                std::string(amber::block::tool::kVersion).c_str());
    return 0;
  }
  for (const auto& command : kCommands) {
    if (first == command.name) return command.run(argc - 1, argv + 1);
  }
  if (!first.empty() && first[0] == '-')
    return report_error("unrecognized option '" + std::string(first) + "'");
  return usage_error("Command not found: " + std::string(first));
}
