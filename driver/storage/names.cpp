// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/storage/names.h"

namespace amber::driver::storage {

namespace {

Result<void> check_component(std::string_view what, std::string_view name, size_t max_length) {
  const auto bad = [&](const std::string& why) {
    return Error(ErrorKind::kInvalidArgument,
                 std::string(what) + " name '" + std::string(name.substr(0, 64)) + "' " + why);
  };
  if (name.empty())
    return Error(ErrorKind::kInvalidArgument, "empty " + std::string(what) + " name");
  if (name.size() > max_length) {
    return bad("is longer than " + std::to_string(max_length) + " bytes");
  }
  if (name == "." || name == "..") return bad("is not a file name");
  for (const char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '/') return bad("contains '/' (names may not leave the pool directory)");
    if (byte == 0) return bad("contains a NUL byte");
    if (byte < 0x20 || byte == 0x7f) return bad("contains a control character");
  }
  if (name.front() == '.') return bad("starts with '.'");
  return ok();
}

}  // namespace

Result<void> check_volume_name(std::string_view name) {
  return check_component("volume", name, kMaxVolumeNameLength);
}

Result<void> check_pool_name(std::string_view name) {
  return check_component("storage pool", name, kMaxPoolNameLength);
}

bool path_is_under(std::string_view dir, std::string_view path) {
  while (dir.size() > 1 && dir.back() == '/') dir.remove_suffix(1);
  if (path == dir) return true;
  if (dir == "/") return path.starts_with("/");
  return path.size() > dir.size() && path.starts_with(dir) && path[dir.size()] == '/';
}

}  // namespace amber::driver::storage
