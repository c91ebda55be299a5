// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/server/config.h"

#include <array>
#include <cerrno>
#include <fstream>
#include <sstream>

namespace amber::driver::server {

namespace {

// A config file is a few hundred bytes; this bounds what a mistaken
// --config (a disk image) makes the daemon read.
constexpr size_t kMaxConfigBytes = 1024 * 1024;

constexpr std::array kKeys = {
    ConfigKey{"socket_dir", &DaemonConfig::socket_dir, "directory of both sockets"},
    ConfigKey{"rw_socket", &DaemonConfig::rw_socket, "read-write socket path"},
    ConfigKey{"ro_socket", &DaemonConfig::ro_socket, "read-only socket path"},
    ConfigKey{"config_dir", &DaemonConfig::config_dir, "persistent domain XML"},
    ConfigKey{"run_dir", &DaemonConfig::run_dir, "runtime files (status, pids, sockets)"},
    ConfigKey{"log_dir", &DaemonConfig::log_dir, "per-domain logs"},
    ConfigKey{"state_dir", &DaemonConfig::state_dir, "persistent state"},
    ConfigKey{"vmm_binary", &DaemonConfig::vmm_binary, "the amber-vmm executable"},
    ConfigKey{"keepalive_interval", &DaemonConfig::keepalive_interval,
              "seconds of client silence before a keepalive PING (default 5; -1 or 0: off)", true},
    ConfigKey{"keepalive_count", &DaemonConfig::keepalive_count,
              "unanswered PINGs before the client is dropped (default 5)", true},
};

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r';
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

bool is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// Parses a quoted value ("..." or '...', backslash escapes the next
// character), then allows only blanks and a comment after it.
Result<std::string> parse_value(std::string_view text, const std::string& where) {
  if (text.empty()) return Error(ErrorKind::kInvalidArgument, where + ": missing value");
  char quote = text.front();
  if (quote != '"' && quote != '\'') {
    return Error(ErrorKind::kInvalidArgument,
                 where + ": expected a quoted string value, got '" + std::string(text) + "'");
  }
  std::string value;
  size_t i = 1;
  for (; i < text.size() && text[i] != quote; ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) ++i;
    value.push_back(text[i]);
  }
  if (i >= text.size()) return Error(ErrorKind::kInvalidArgument, where + ": unterminated string");
  std::string_view rest = trim(text.substr(i + 1));
  if (!rest.empty() && rest.front() != '#') {
    return Error(ErrorKind::kInvalidArgument,
                 where + ": unexpected text after the value: '" + std::string(rest) + "'");
  }
  return value;
}

// Parses an unquoted integer ([-]digits), then allows only blanks and a
// comment after it.
Result<std::string> parse_integer(std::string_view text, const std::string& where) {
  size_t end = 0;
  if (end < text.size() && text[end] == '-') ++end;
  const size_t digits = end;
  while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
  std::string_view rest = trim(text.substr(end));
  if (end == digits || end - digits > 9 || (!rest.empty() && rest.front() != '#')) {
    return Error(ErrorKind::kInvalidArgument,
                 where + ": expected an integer value, got '" + std::string(text) + "'");
  }
  return std::string(text.substr(0, end));
}

}  // namespace

std::span<const ConfigKey> config_keys() {
  return kKeys;
}

Result<DaemonConfig> parse_config(std::string_view text, std::string_view file) {
  DaemonConfig config;
  size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    size_t end = text.find('\n');
    std::string_view line = trim(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (line.empty() || line.front() == '#') continue;
    std::string where = std::string(file) + ":" + std::to_string(line_number);
    size_t key_end = 0;
    while (key_end < line.size() && is_key_char(line[key_end])) ++key_end;
    std::string_view key = line.substr(0, key_end);
    std::string_view rest = trim(line.substr(key_end));
    if (key.empty() || rest.empty() || rest.front() != '=') {
      return Error(ErrorKind::kInvalidArgument,
                   where + ": expected 'key = \"value\"', got '" + std::string(line) + "'");
    }
    const ConfigKey* known = nullptr;
    for (const ConfigKey& candidate : kKeys) {
      if (candidate.name == key) known = &candidate;
    }
    if (known == nullptr) {
      return Error(ErrorKind::kInvalidArgument, where + ": unknown key '" + std::string(key) + "'");
    }
    std::string_view raw = trim(rest.substr(1));
    AMBER_TRY_ASSIGN(std::string value,
                     known->integer ? parse_integer(raw, where) : parse_value(raw, where));
    if (value.empty()) {
      return Error(ErrorKind::kInvalidArgument, where + ": '" + std::string(key) + "' is empty");
    }
    config.*(known->field) = std::move(value);
  }
  return config;
}

Result<DaemonConfig> load_config_file(const std::string& path, bool missing_ok) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int saved = errno;
    if (missing_ok && saved == ENOENT) return DaemonConfig{};
    return Error::from_errno(saved, "reading config file '" + path + "'");
  }
  std::string text(kMaxConfigBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));  // gcount is within [0, size]
  if (text.size() > kMaxConfigBytes) {
    return Error(ErrorKind::kInvalidArgument, "config file '" + path + "' is over 1 MiB");
  }
  return parse_config(text, path);
}

}  // namespace amber::driver::server
