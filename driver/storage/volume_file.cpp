// SPDX-License-Identifier: GPL-2.0-or-later
// inspect_volume and describe_volume (volume_ops.cpp has the rest of
// volume_file.h).
#include "driver/storage/volume_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>

#include "block/image.h"
#include "common/unique_fd.h"
#include "driver/storage/names.h"

namespace amber::driver::storage {

namespace {

std::optional<std::string> real_path(const std::string& path) {
  char buffer[PATH_MAX];
  if (::realpath(path.c_str(), buffer) == nullptr) return std::nullopt;
  return std::string(buffer);
}

// Whether PATH starts with MAGIC, read without the engine.
bool starts_with(const std::string& path, std::string_view magic) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd) return false;
  char head[8] = {};
  if (magic.size() > sizeof head) return false;
  if (::pread(fd.get(), head, magic.size(), 0) != static_cast<ssize_t>(magic.size())) return false;
  return std::memcmp(head, magic.data(), magic.size()) == 0;
}

// qcow2 magic 'QFI\xfb' (a file the engine refuses is still listed with
// its detected format).
bool has_qcow2_magic(const std::string& path) {
  return starts_with(path, "QFI\xfb");
}

// LUKS magic 'LUKS\xba\xbe': a raw LUKS volume (qemu-img -f luks), which
// libvirt lists as format raw with <encryption format='luks'/>.
bool has_luks_magic(const std::string& path) {
  return starts_with(path, std::string_view("LUKS\xba\xbe", 6));
}

block::OpenOptions inspect_options(std::optional<block::ImageFormat> format) {
  block::OpenOptions options;
  options.format = format;
  options.access = block::io::Access::kReadOnly;
  options.locking = block::Locking::kOff;  // never disturb a running domain's locks
  options.sharing = block::Sharing::kForceShare;
  options.backing = block::BackingMode::kNone;
  options.metadata_only = true;  // an encrypted image is listed without its key
  return options;
}

// Opens every level of STATE's chain below the top on its own, recording
// the first thing wrong.
void inspect_chain(VolumeState& state, std::string backing, std::optional<std::string> format,
                   ChainCache* cache) {
  std::set<std::string> seen{state.path};
  std::vector<std::string> levels;  // resolved, top first
  std::string key;
  for (unsigned depth = 1; depth <= kMaxInspectedChain; ++depth) {
    struct stat st {};
    if (::stat(backing.c_str(), &st) != 0) {
      state.problem = "backing file '" + backing + "' is missing";
      return;
    }
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
      state.problem = "backing file '" + backing + "' is not a regular file";
      return;
    }
    auto resolved = real_path(backing).value_or(backing);
    if (!seen.insert(resolved).second) {
      state.problem = "backing chain loops at '" + backing + "'";
      return;
    }
    if (depth == 1 && cache != nullptr) {
      key = resolved + '\0' + format.value_or("");
      std::lock_guard lock(cache->mutex);
      auto hit = cache->sound.find(key);
      if (hit != cache->sound.end() &&
          std::find(hit->second.begin(), hit->second.end(), state.path) == hit->second.end()) {
        return;  // sound, and not through this volume
      }
    }
    levels.push_back(resolved);
    std::optional<block::ImageFormat> known;
    if (format) {
      auto parsed = block::parse_format(*format);
      if (parsed.ok()) known = *parsed;
    }
    auto image = block::open_image(backing, inspect_options(known));
    if (!image.ok()) {
      state.problem = "backing file '" + backing + "': " + image.error().message();
      return;
    }
    auto info = (*image)->info();
    if (!info.ok()) {
      state.problem = "backing file '" + backing + "': " + info.error().message();
      return;
    }
    if (info->full_backing_filename.empty()) {
      if (cache != nullptr) {
        std::lock_guard lock(cache->mutex);
        cache->sound.emplace(key, std::move(levels));
      }
      return;
    }
    backing = info->full_backing_filename;
    format = info->backing_format.empty() ? std::nullopt : std::optional(info->backing_format);
  }
  state.problem = "backing chain is deeper than " + std::to_string(kMaxInspectedChain);
}

}  // namespace

std::optional<VolumeState> inspect_volume(const std::string& dir_real, const std::string& name,
                                          ChainCache* cache) {
  if (!check_volume_name(name).ok()) return std::nullopt;
  const std::string path = dir_real + "/" + name;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return std::nullopt;
  if (S_ISLNK(st.st_mode)) {
    auto target = real_path(path);
    if (!target || !path_is_under(dir_real, *target)) {
      std::fprintf(stderr, "virtamberd: pool %s: not following symlink '%s' out of the pool\n",
                   dir_real.c_str(), name.c_str());
      return std::nullopt;
    }
    if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  }
  if (!S_ISREG(st.st_mode)) return std::nullopt;
  VolumeState state;
  state.name = name;
  state.path = path;
  state.allocation = static_cast<uint64_t>(st.st_blocks) * 512;  // st_blocks >= 0
  state.physical = static_cast<uint64_t>(st.st_size);            // regular file: >= 0
  state.capacity = state.physical;
  state.permissions.mode = st.st_mode & 07777;
  state.permissions.owner = st.st_uid;
  state.permissions.group = st.st_gid;
  // The engine probes the format (qcow2 magic, else raw) as it opens; a
  // file it refuses is still listed, with the format its magic says.
  const bool luks = has_luks_magic(path);
  auto image = block::open_image(
      path, inspect_options(luks ? std::optional(block::ImageFormat::kLuks) : std::nullopt));
  state.format = "raw";
  if (luks) state.encryption = "luks";
  if (!image.ok()) {
    if (has_qcow2_magic(path)) state.format = "qcow2";
    state.problem = image.error().message();
  } else if (auto info = (*image)->info(); !info.ok()) {
    if (has_qcow2_magic(path)) state.format = "qcow2";
    state.problem = info.error().message();
  } else {
    state.capacity = info->virtual_size;
    if (info->qcow2 && info->qcow2->crypt_method != 0)
      state.encryption = info->qcow2->crypt_method == 2 ? "luks" : "qcow";
    if (info->qcow2) {
      state.format = "qcow2";
      state.compat = info->qcow2->version >= 3 ? "1.1" : "0.10";
      state.cluster_size = info->qcow2->cluster_size;
      state.lazy_refcounts = info->qcow2->lazy_refcounts;
      state.extended_l2 = info->qcow2->extended_l2;
    }
    if (!info->full_backing_filename.empty()) {
      state.backing_path = info->full_backing_filename;
      if (!info->backing_format.empty()) state.backing_format = info->backing_format;
      image->reset();
      inspect_chain(state, *state.backing_path, state.backing_format, cache);
    }
  }
  if (!state.problem.empty()) {
    std::fprintf(stderr, "virtamberd: volume %s: %s\n", path.c_str(), state.problem.c_str());
  }
  return state;
}

xml::StorageVolume describe_volume(const VolumeState& state) {
  xml::StorageVolume volume;
  volume.name = state.name;
  volume.key = state.path;
  volume.capacity = state.capacity;
  volume.allocation = state.allocation;
  volume.physical = state.physical;
  volume.target_path = state.path;
  volume.format = state.format;
  volume.permissions = state.permissions;
  volume.compat = state.compat;
  volume.cluster_size = state.cluster_size;
  volume.lazy_refcounts = state.lazy_refcounts;
  volume.extended_l2 = state.extended_l2;
  if (!state.encryption.empty()) volume.encryption = xml::VolumeEncryption{state.encryption, {}};
  if (state.backing_path) {
    xml::VolumeBacking backing;
    backing.path = *state.backing_path;
    backing.format = state.backing_format;
    volume.backing = backing;
  }
  return volume;
}

}  // namespace amber::driver::storage
