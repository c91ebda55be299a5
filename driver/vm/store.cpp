// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/vm/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>

#include "common/unique_fd.h"

namespace amber::driver::vm {
namespace {

// Larger files are not ours (a domain XML is a few KiB).
constexpr size_t kMaxFileSize = 16u << 20;

Result<void> write_all(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno(errno, "writing " + what);
    }
    data.remove_prefix(static_cast<size_t>(n));  // 0 <= n <= size
  }
  return ok();
}

Result<void> make_directory(const std::string& path) {
  // Parents first: mkdir -p.
  for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const std::string part = slash == std::string::npos ? path : path.substr(0, slash);
    if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST)
      return Error::from_errno(errno, "creating directory " + part);
    if (slash == std::string::npos) break;
  }
  return ok();
}

Result<std::vector<std::string>> list_suffix(const std::string& dir, std::string_view suffix) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return names;
    return Error::from_errno(errno, "listing " + dir);
  }
  while (const dirent* entry = ::readdir(d)) {
    const std::string_view name = entry->d_name;
    if (name.size() <= suffix.size() || name.front() == '.') continue;
    if (name.substr(name.size() - suffix.size()) != suffix) continue;
    names.emplace_back(name.substr(0, name.size() - suffix.size()));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

std::string escape(std::string_view text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '\n':
        out += "&#10;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string unescape(std::string_view text) {
  static constexpr std::pair<std::string_view, char> kEntities[] = {
      {"&amp;", '&'}, {"&apos;", '\''}, {"&lt;", '<'}, {"&gt;", '>'}, {"&#10;", '\n'}};
  std::string out;
  for (size_t i = 0; i < text.size();) {
    bool matched = false;
    for (const auto& [entity, c] : kEntities) {
      if (text.substr(i, entity.size()) == entity) {
        out += c;
        i += entity.size();
        matched = true;
        break;
      }
    }
    if (!matched) out += text[i++];
  }
  return out;
}

// The value of NAME='...' in a status header line.
std::optional<std::string> attribute(std::string_view header, std::string_view name) {
  const std::string key = " " + std::string(name) + "='";
  const size_t at = header.find(key);
  if (at == std::string_view::npos) return std::nullopt;
  const size_t begin = at + key.size();
  const size_t end = header.find('\'', begin);
  if (end == std::string_view::npos) return std::nullopt;
  return unescape(header.substr(begin, end - begin));
}

template <typename T>
Result<T> number_attribute(std::string_view header, std::string_view name) {
  auto text = attribute(header, name);
  T value{};
  if (!text) return Error(ErrorKind::kCorrupt, "status: missing " + std::string(name));
  auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || ptr != text->data() + text->size())
    return Error(ErrorKind::kCorrupt, "status: bad " + std::string(name) + " '" + *text + "'");
  return value;
}

constexpr std::string_view kStatusEnd = "</domstatus>";

}  // namespace

Result<void> write_file_atomic(const std::string& dir, const std::string& name,
                               std::string_view contents) {
  const std::string temp = dir + "/." + name + ".tmp";
  const std::string final_path = dir + "/" + name;
  if (::unlink(temp.c_str()) != 0 && errno != ENOENT)
    return Error::from_errno(errno, "removing stale " + temp);
  UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return Error::from_errno(errno, "creating " + temp);
  auto written = write_all(fd.get(), contents, temp);
  if (written.ok() && ::fsync(fd.get()) != 0) written = Error::from_errno(errno, "fsync " + temp);
  if (!written.ok()) {
    ::unlink(temp.c_str());
    return written;
  }
  fd.reset();
  if (::rename(temp.c_str(), final_path.c_str()) != 0) {
    const int error = errno;
    ::unlink(temp.c_str());
    return Error::from_errno(error, "renaming " + temp + " to " + final_path);
  }
  UniqueFd directory(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!directory) return Error::from_errno(errno, "opening " + dir);
  if (::fsync(directory.get()) != 0) return Error::from_errno(errno, "fsync " + dir);
  return ok();
}

Result<std::string> read_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return Error(ErrorKind::kNotFound, "no file " + path, ENOENT);
    return Error::from_errno(errno, "opening " + path);
  }
  return read_open_file(fd.get(), path, kMaxFileSize);
}

Result<std::string> read_open_file(int fd, const std::string& path, size_t max_bytes) {
  std::string out;
  char buffer[8192];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno(errno, "reading " + path);
    }
    if (n == 0) break;
    out.append(buffer, static_cast<size_t>(n));
    if (out.size() > max_bytes) {
      return Error(ErrorKind::kCorrupt,
                   path + " is larger than " + std::to_string(max_bytes >> 20) + " MiB");
    }
  }
  return out;
}

Result<void> remove_file(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return Error::from_errno(errno, "removing " + path);
  return ok();
}

Result<void> Store::create_directories() const {
  AMBER_TRY(make_directory(config_dir_));
  AMBER_TRY(make_directory(config_dir_ + "/autostart"));
  AMBER_TRY(make_directory(run_dir_));
  AMBER_TRY(make_directory(log_dir_));
  return ok();
}

std::string Store::config_path(const std::string& name) const {
  return config_dir_ + "/" + name + ".xml";
}

Result<void> Store::save_config(const std::string& name, std::string_view xml) const {
  return write_file_atomic(config_dir_, name + ".xml", xml);
}

Result<void> Store::remove_config(const std::string& name) const {
  AMBER_TRY(set_autostart(name, false));
  return remove_file(config_path(name));
}

Result<std::vector<std::string>> Store::list_configs() const {
  AMBER_TRY_ASSIGN(auto names, list_suffix(config_dir_, ".xml"));
  for (std::string& name : names) name += ".xml";
  return names;
}

bool Store::autostart(const std::string& name) const {
  struct stat st {};
  return ::lstat((config_dir_ + "/autostart/" + name + ".xml").c_str(), &st) == 0;
}

Result<void> Store::set_autostart(const std::string& name, bool on) const {
  const std::string link = config_dir_ + "/autostart/" + name + ".xml";
  if (!on) return remove_file(link);
  if (autostart(name)) return ok();
  if (::symlink(config_path(name).c_str(), link.c_str()) != 0 && errno != EEXIST)
    return Error::from_errno(errno, "creating autostart link " + link);
  return ok();
}

std::string Store::format_status(const LiveStatus& status) {
  std::string out = "<domstatus id='" + std::to_string(status.id) + "' pid='" +
                    std::to_string(status.pid) + "' state='" + std::to_string(status.state) +
                    "' reason='" + std::to_string(status.reason) + "' control='" +
                    escape(status.control) + "' pty='" + escape(status.pty) + "'>\n";
  out += status.domain_xml;
  if (!out.empty() && out.back() != '\n') out += '\n';
  out += kStatusEnd;
  out += '\n';
  return out;
}

Result<LiveStatus> Store::parse_status(std::string_view text) {
  const size_t newline = text.find('\n');
  if (text.substr(0, 11) != "<domstatus " || newline == std::string_view::npos)
    return Error(ErrorKind::kCorrupt, "status: not a <domstatus> file");
  const std::string_view header = text.substr(0, newline);
  const size_t end = text.rfind(kStatusEnd);
  if (end == std::string_view::npos || end < newline)
    return Error(ErrorKind::kCorrupt, "status: no </domstatus>");
  LiveStatus status;
  AMBER_TRY_ASSIGN(status.id, number_attribute<int32_t>(header, "id"));
  AMBER_TRY_ASSIGN(status.pid, number_attribute<int64_t>(header, "pid"));
  AMBER_TRY_ASSIGN(status.state, number_attribute<int>(header, "state"));
  AMBER_TRY_ASSIGN(status.reason, number_attribute<int>(header, "reason"));
  status.control = attribute(header, "control").value_or("");
  status.pty = attribute(header, "pty").value_or("");
  if (status.id <= 0 || status.pid <= 0 || status.control.empty())
    return Error(ErrorKind::kCorrupt, "status: id, pid and control are required");
  status.domain_xml = std::string(text.substr(newline + 1, end - newline - 1));
  return status;
}

Result<void> Store::save_status(const std::string& name, const LiveStatus& status) const {
  AMBER_TRY(write_file_atomic(run_dir_, name + ".pid", std::to_string(status.pid) + "\n"));
  return write_file_atomic(run_dir_, name + ".xml", format_status(status));
}

Result<LiveStatus> Store::load_status(const std::string& name) const {
  AMBER_TRY_ASSIGN(std::string text, read_file(run_dir_ + "/" + name + ".xml"));
  auto status = parse_status(text);
  if (!status.ok()) return std::move(status).error().with_context(run_dir_ + "/" + name + ".xml");
  return status;
}

Result<void> Store::remove_status(const std::string& name) const {
  AMBER_TRY(remove_file(run_dir_ + "/" + name + ".xml"));
  AMBER_TRY(remove_file(pid_path(name)));
  return remove_file(exit_path(name));
}

Result<std::vector<std::string>> Store::list_status() const {
  return list_suffix(run_dir_, ".xml");
}

std::optional<ExitRecord> Store::exit_record(const std::string& name) const {
  auto text = read_file(exit_path(name));
  if (!text.ok()) return std::nullopt;
  ExitRecord record;
  std::string_view rest = *text;
  if (rest.substr(0, 7) == "signal ") {
    record.signaled = true;
    rest.remove_prefix(7);
  } else if (rest.substr(0, 7) == "status ") {
    rest.remove_prefix(7);
  } else {
    return std::nullopt;
  }
  auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), record.code);
  if (ec != std::errc() || ptr == rest.data()) return std::nullopt;
  return record;
}

}  // namespace amber::driver::vm
