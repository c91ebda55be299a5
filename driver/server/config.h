// SPDX-License-Identifier: GPL-2.0-or-later
// virtamberd's configuration file (virtamberd.conf): libvirt's
// `key = "value"` / `key = 5` syntax with `#` comments. Each key moves one
// path, picks the VMM binary, or sets the keepalive timing (the two
// integer keys, as in libvirtd.conf); an unknown key, a value of the wrong
// type or a malformed line is an error naming FILE:LINE. Flags given on the command line
// override the file (main applies them after loading it).
//
// Thread-safety: plain values and pure functions, except load_config_file,
// which reads one file.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"

namespace amber::driver::server {

// Every setting; an empty optional is "not set" (main supplies defaults).
struct DaemonConfig {
  std::optional<std::string> socket_dir;
  std::optional<std::string> rw_socket;
  std::optional<std::string> ro_socket;
  std::optional<std::string> config_dir;
  std::optional<std::string> run_dir;
  std::optional<std::string> log_dir;
  std::optional<std::string> state_dir;
  std::optional<std::string> vmm_binary;
  // Integers, kept as their decimal text (the parser checked the syntax;
  // main checks the range).
  std::optional<std::string> keepalive_interval;
  std::optional<std::string> keepalive_count;
};

struct ConfigKey {
  std::string_view name;
  std::optional<std::string> DaemonConfig::*field;
  std::string_view help;
  bool integer = false;  // `key = -1`, unquoted; otherwise a quoted string
};

// Every key the file accepts, in --help order.
std::span<const ConfigKey> config_keys();

// Parses the text of a config file; `file` names it in error messages.
Result<DaemonConfig> parse_config(std::string_view text, std::string_view file);

// Reads and parses `path`. A missing file is an error unless `missing_ok`
// (the built-in default path may be absent; an explicit --config may not).
Result<DaemonConfig> load_config_file(const std::string& path, bool missing_ok);

}  // namespace amber::driver::server
