// SPDX-License-Identifier: GPL-2.0-or-later
// Store's files: DIR/UUID.xml and DIR/UUID.base64, written 0600 through a
// temp file, and the load of DIR at open().
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/unique_fd.h"
#include "driver/secret/base64.h"
#include "driver/secret/store.h"
#include "driver/vm/store.h"

namespace amber::driver::secret {

namespace {

// A secret XML is a few hundred bytes and a value's base64 under 90 KiB;
// anything larger is not ours.
constexpr size_t kMaxFileBytes = 1u << 20;
constexpr mode_t kPrivateMode = 0600;

// DIR/NAME, atomically and mode 0600 (vm::write_file_atomic).
Result<void> write_private_file(const std::string& dir, const std::string& name,
                                std::string_view contents) {
  return vm::write_file_atomic(dir, name, contents);
}

// The file's text; kNotFound when it does not exist. WIDE_MODE is set when
// group or others may read it.
Result<std::string> read_small_file(const std::string& path, bool* wide_mode = nullptr) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    if (errno == ENOENT) return Error(ErrorKind::kNotFound, "no file " + path, ENOENT);
    return Error::from_errno(errno, "opening " + path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Error::from_errno(errno, "stat " + path);
  if (!S_ISREG(st.st_mode)) return Error(ErrorKind::kCorrupt, path + " is not a regular file");
  if (static_cast<uint64_t>(st.st_size) > kMaxFileBytes)
    return Error(ErrorKind::kCorrupt, path + " is larger than 1 MiB");
  if (wide_mode != nullptr) {
    *wide_mode = (st.st_mode & 077) != 0;
    if (*wide_mode && ::fchmod(fd.get(), kPrivateMode) != 0)
      return Error::from_errno(errno, "restricting " + path + " to mode 0600");
  }
  return vm::read_open_file(fd.get(), path, kMaxFileBytes);  // it may grow after the fstat
}

Result<void> make_directory(const std::string& path) {
  for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const std::string part = slash == std::string::npos ? path : path.substr(0, slash);
    if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST)
      return Error::from_errno(errno, "creating directory " + part);
    if (slash == std::string::npos) break;
  }
  if (::chmod(path.c_str(), 0700) != 0)
    return Error::from_errno(errno, "restricting " + path + " to mode 0700");
  return ok();
}

// The UUID text of every DIR/UUID.xml, sorted.
Result<std::vector<std::string>> list_definitions(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Error::from_errno(errno, "listing " + dir);
  constexpr std::string_view kSuffix = ".xml";
  while (const dirent* entry = ::readdir(d)) {
    const std::string_view name = entry->d_name;
    if (name.size() <= kSuffix.size() || name.front() == '.') continue;
    if (name.substr(name.size() - kSuffix.size()) != kSuffix) continue;
    names.emplace_back(name.substr(0, name.size() - kSuffix.size()));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

Result<void> Store::save_definition(const xml::Secret& def) const {
  return write_private_file(options_.dir, def.uuid.to_string() + ".xml", xml::format_secret(def));
}

Result<void> Store::save_value(const xml::Uuid& uuid, const SecretValue& value) const {
  std::string encoded = base64_encode(value.bytes());
  auto saved = write_private_file(options_.dir, uuid.to_string() + ".base64", encoded);
  std::fill(encoded.begin(), encoded.end(), '\0');
  return saved;
}

Result<void> Store::remove_files(const xml::Uuid& uuid) const {
  // The definition first: without it the value is never loaded again, so
  // a value file that cannot go is only logged.
  const std::string base = options_.dir + "/" + uuid.to_string();
  if (::unlink((base + ".xml").c_str()) != 0 && errno != ENOENT)
    return Error::from_errno(errno, "cannot unlink '" + base + ".xml'");
  if (::unlink((base + ".base64").c_str()) != 0 && errno != ENOENT)
    log("cannot remove " + base + ".base64: " + std::strerror(errno));
  return ok();
}

Result<Store::Entry> Store::load_one(const std::string& uuid_text) {
  const std::string path = options_.dir + "/" + uuid_text + ".xml";
  AMBER_TRY_ASSIGN(std::string text, read_small_file(path));
  auto def = xml::parse_secret(text);
  if (!def.ok()) return std::move(def).error();
  if (!def->uuid_given || def->uuid.to_string() != uuid_text)
    return Error(ErrorKind::kCorrupt, "<uuid> does not match the file name");
  if (def->ephemeral)
    return Error(ErrorKind::kCorrupt, "it is ephemeral, so it must not be on disk");
  if (secrets_.contains(uuid_text)) return Error(ErrorKind::kCorrupt, "duplicate UUID");
  if (const Entry* other = find_usage(def->usage_type, def->usage_id)) {
    return Error(ErrorKind::kLocked,
                 "secret " + other->def.uuid.to_string() + " already uses " + def->usage_id);
  }
  Entry entry{std::move(*def), std::nullopt};
  const std::string value_path = options_.dir + "/" + uuid_text + ".base64";
  bool wide_mode = false;
  auto encoded = read_small_file(value_path, &wide_mode);
  if (!encoded.ok() && encoded.error().kind() != ErrorKind::kNotFound)
    return std::move(encoded).error();
  if (encoded.ok()) {
    if (wide_mode) log("restricted " + value_path + " to mode 0600");
    auto bytes = base64_decode(*encoded);
    std::fill(encoded->begin(), encoded->end(), '\0');
    if (!bytes.ok()) return std::move(bytes).error().with_context(value_path);
    entry.value.emplace(*bytes);
    std::fill(bytes->begin(), bytes->end(), 0);
  }
  return entry;
}

void Store::load_all() {
  auto names = list_definitions(options_.dir);
  if (!names.ok()) {
    log("cannot load secrets: " + names.error().message());
    return;
  }
  for (const std::string& name : *names) {
    auto entry = load_one(name);
    if (!entry.ok()) {
      log("skipping secret " + options_.dir + "/" + name + ".xml: " + entry.error().message());
      continue;
    }
    secrets_.emplace(name, std::move(*entry));
  }
}

Result<std::unique_ptr<Store>> Store::open(StoreOptions options) {
  AMBER_TRY(make_directory(options.dir));
  std::unique_ptr<Store> store(new Store(std::move(options)));
  {
    std::lock_guard lock(store->mutex_);
    store->load_all();
  }
  return store;
}

void Store::log(const std::string& line) const {
  if (options_.log) {
    options_.log(line);
  } else {
    std::fprintf(stderr, "virtamberd: %s\n", line.c_str());
  }
}

}  // namespace amber::driver::secret
