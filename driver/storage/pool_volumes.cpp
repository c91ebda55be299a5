// SPDX-License-Identifier: GPL-2.0-or-later
// PoolManager: the volume methods (pool_manager.h).
#include <fcntl.h>
#include <libvirt/libvirt.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>

#include "driver/storage/names.h"
#include "driver/storage/pool_manager.h"

namespace amber::driver::storage {

namespace {

Error volume_not_found(const std::string& what) {
  return Error(ErrorKind::kNotFound,
               "Storage volume not found: no storage vol with matching " + what);
}

// Reserves PATH for a new volume: O_EXCL so that an existing file (or a
// symlink planted there) is never overwritten.
Result<void> reserve_file(const std::string& path, const std::string& name) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) {
      return Error(ErrorKind::kInvalidArgument, "storage vol '" + name + "' already exists");
    }
    return Error::from_errno(errno, "cannot create volume '" + path + "'");
  }
  ::close(fd);
  return ok();
}

}  // namespace

Result<const VolumeState*> PoolManager::find_volume(const VolumeRef& ref, Pool** pool_out) {
  AMBER_TRY_ASSIGN(Pool * pool, find_by_name(ref.pool));
  if (!pool->active) {
    return Error(ErrorKind::kLocked, "storage pool '" + pool->def.name + "' is not active");
  }
  auto it = pool->volumes.find(ref.name);
  if (it == pool->volumes.end()) return volume_not_found("name '" + ref.name + "'");
  if (pool_out != nullptr) *pool_out = pool;
  return &it->second;
}

Result<std::vector<VolumeRef>> PoolManager::list_volumes(const xml::Uuid& uuid) {
  std::lock_guard lock(mutex_);
  AMBER_TRY_ASSIGN(Pool * pool, find_active(uuid));
  std::vector<VolumeRef> out;
  for (const auto& [name, volume] : pool->volumes) out.push_back(vref_of(*pool, volume));
  return out;
}

Result<VolumeRef> PoolManager::lookup_volume(const xml::Uuid& uuid, std::string_view name) {
  std::lock_guard lock(mutex_);
  AMBER_TRY_ASSIGN(Pool * pool, find_active(uuid));
  auto it = pool->volumes.find(std::string(name));
  if (it == pool->volumes.end()) return volume_not_found("name '" + std::string(name) + "'");
  return vref_of(*pool, it->second);
}

Result<VolumeRef> PoolManager::lookup_volume_by_key(std::string_view key) {
  std::lock_guard lock(mutex_);
  for (const auto& pool : pools_) {
    if (!pool->active) continue;
    for (const auto& [name, volume] : pool->volumes) {
      if (volume.path == key) return vref_of(*pool, volume);
    }
  }
  return volume_not_found("key '" + std::string(key) + "'");
}

Result<VolumeRef> PoolManager::lookup_volume_by_path(std::string_view path) {
  const std::string given(path);
  char buffer[PATH_MAX];
  const std::string real = ::realpath(given.c_str(), buffer) != nullptr ? buffer : given;
  std::lock_guard lock(mutex_);
  for (const auto& pool : pools_) {
    if (!pool->active) continue;
    for (const auto& [name, volume] : pool->volumes) {
      if (volume.path == given || volume.path == real) return vref_of(*pool, volume);
    }
    // A file in the pool directory reached through another spelling.
    const size_t slash = real.rfind('/');
    if (slash != std::string::npos && real.substr(0, slash) == pool->dir_real) {
      auto it = pool->volumes.find(real.substr(slash + 1));
      if (it != pool->volumes.end()) return vref_of(*pool, it->second);
    }
  }
  return volume_not_found("path '" + given + "'");
}

Result<PoolRef> PoolManager::pool_of_volume(const VolumeRef& volume) {
  std::lock_guard lock(mutex_);
  AMBER_TRY_ASSIGN(Pool * pool, find_by_name(volume.pool));
  return ref_of(*pool);
}

Result<VolumeRef> PoolManager::create_volume(const xml::Uuid& uuid, std::string_view xml,
                                             unsigned flags) {
  const unsigned known = VIR_STORAGE_VOL_CREATE_PREALLOC_METADATA | VIR_STORAGE_VOL_CREATE_VALIDATE;
  if (flags & ~known) {
    return Error(
        ErrorKind::kUnsupported,
        "STORAGE_VOL_CREATE_XML flags 0x" + std::to_string(flags) + " (reflink) are not supported");
  }
  AMBER_TRY_ASSIGN(xml::StorageVolume def, xml::parse_storage_volume(xml));
  AMBER_TRY(check_volume_name(def.name));
  std::lock_guard lock(mutex_);
  AMBER_TRY_ASSIGN(Pool * pool, find_active(uuid));
  if (pool->volumes.contains(def.name)) {
    return Error(ErrorKind::kInvalidArgument, "storage vol '" + def.name + "' already exists");
  }
  const std::string path = pool->dir_real + "/" + def.name;
  std::shared_ptr<const block::crypto::SecretBytes> passphrase;
  if (def.encryption && def.encryption->secret_uuid) {
    if (!options_.volume_secret)
      return Error(ErrorKind::kInternal, "unable to look up encryption secret");
    AMBER_TRY_ASSIGN(block::crypto::SecretBytes value,
                     options_.volume_secret(*def.encryption->secret_uuid));
    passphrase = std::make_shared<const block::crypto::SecretBytes>(std::move(value));
  }
  AMBER_TRY(reserve_file(path, def.name));
  auto created = create_volume_file(path, def, flags & VIR_STORAGE_VOL_CREATE_PREALLOC_METADATA,
                                    std::move(passphrase));
  if (!created.ok()) {
    ::unlink(path.c_str());
    return created.error();
  }
  rescan_volume(*pool, def.name);
  auto it = pool->volumes.find(def.name);
  if (it == pool->volumes.end()) return Error(ErrorKind::kInternal, "new volume vanished");
  return vref_of(*pool, it->second);
}

Result<VolumeRef> PoolManager::clone_volume(const xml::Uuid& uuid, std::string_view xml,
                                            const VolumeRef& source_ref, unsigned flags) {
  if (flags & ~static_cast<unsigned>(VIR_STORAGE_VOL_CREATE_PREALLOC_METADATA)) {
    return Error(ErrorKind::kUnsupported, "STORAGE_VOL_CREATE_XML_FROM flags 0x" +
                                              std::to_string(flags) + " are not supported");
  }
  AMBER_TRY_ASSIGN(xml::StorageVolume def, xml::parse_storage_volume(xml));
  AMBER_TRY(check_volume_name(def.name));
  VolumeState source;
  std::string path;
  {
    std::lock_guard lock(mutex_);
    AMBER_TRY_ASSIGN(const VolumeState* found, find_volume(source_ref, nullptr));
    source = *found;
    AMBER_TRY_ASSIGN(Pool * pool, find_active(uuid));
    if (pool->volumes.contains(def.name) ||
        std::find(pool->reserved.begin(), pool->reserved.end(), def.name) != pool->reserved.end()) {
      return Error(ErrorKind::kInvalidArgument, "storage vol '" + def.name + "' already exists");
    }
    path = pool->dir_real + "/" + def.name;
    AMBER_TRY(reserve_file(path, def.name));
    pool->reserved.push_back(def.name);
  }
  // The copy runs without the lock: a big clone must not stall lookups.
  auto cloned =
      clone_volume_file(path, def, source, flags & VIR_STORAGE_VOL_CREATE_PREALLOC_METADATA);
  std::lock_guard lock(mutex_);
  auto pool = find(uuid);
  if (pool.ok()) std::erase((*pool)->reserved, def.name);
  if (!cloned.ok()) {
    ::unlink(path.c_str());
    return cloned.error();
  }
  AMBER_TRY_ASSIGN(Pool * target, find_active(uuid));
  rescan_volume(*target, def.name);
  auto it = target->volumes.find(def.name);
  if (it == target->volumes.end()) return Error(ErrorKind::kInternal, "cloned volume vanished");
  return vref_of(*target, it->second);
}

Result<void> PoolManager::delete_volume(const VolumeRef& ref, unsigned flags) {
  if (flags & ~static_cast<unsigned>(VIR_STORAGE_VOL_DELETE_WITH_SNAPSHOTS)) {
    return Error(ErrorKind::kUnsupported, "vol-delete flags 0x" + std::to_string(flags) +
                                              " (zeroed) are not supported by Amber");
  }
  std::lock_guard lock(mutex_);
  Pool* pool = nullptr;
  AMBER_TRY_ASSIGN(const VolumeState* volume, find_volume(ref, &pool));
  std::string overlays;
  for (const auto& other : pools_) {
    if (!other->active) continue;
    for (const auto& [name, state] : other->volumes) {
      if (state.backing_path == volume->path) {
        overlays += (overlays.empty() ? "" : ", ") + state.name;
      }
    }
  }
  if (!overlays.empty()) {
    return Error(ErrorKind::kLocked, "volume '" + volume->name +
                                         "' is the backing store of other volumes in the pool: " +
                                         overlays + " (delete them first)");
  }
  AMBER_TRY(check_not_in_use(*volume));
  if (::unlink(volume->path.c_str()) != 0) {
    return Error::from_errno(errno, "cannot unlink file '" + volume->path + "'");
  }
  pool->volumes.erase(ref.name);
  return ok();
}

Result<void> PoolManager::wipe_volume(const VolumeRef& ref, unsigned algorithm, unsigned flags) {
  if (flags != 0) {
    return Error(ErrorKind::kInvalidArgument,
                 "unsupported flags (0x" + std::to_string(flags) + ") in STORAGE_VOL_WIPE");
  }
  std::lock_guard lock(mutex_);
  Pool* pool = nullptr;
  AMBER_TRY_ASSIGN(const VolumeState* volume, find_volume(ref, &pool));
  AMBER_TRY(wipe_volume_file(*volume, algorithm));
  rescan_volume(*pool, ref.name);
  return ok();
}

Result<void> PoolManager::resize_volume(const VolumeRef& ref, uint64_t capacity, unsigned flags) {
  const unsigned known = VIR_STORAGE_VOL_RESIZE_ALLOCATE | VIR_STORAGE_VOL_RESIZE_DELTA |
                         VIR_STORAGE_VOL_RESIZE_SHRINK;
  if (flags & ~known) {
    return Error(ErrorKind::kInvalidArgument,
                 "unsupported flags (0x" + std::to_string(flags) + ") in STORAGE_VOL_RESIZE");
  }
  std::lock_guard lock(mutex_);
  Pool* pool = nullptr;
  AMBER_TRY_ASSIGN(const VolumeState* volume, find_volume(ref, &pool));
  AMBER_TRY(resize_volume_file(*volume, capacity, flags));
  rescan_volume(*pool, ref.name);
  return ok();
}

Result<VolumeInfo> PoolManager::volume_info(const VolumeRef& ref) {
  std::lock_guard lock(mutex_);
  AMBER_TRY_ASSIGN(const VolumeState* volume, find_volume(ref, nullptr));
  return VolumeInfo{VIR_STORAGE_VOL_FILE, volume->capacity, volume->allocation};
}

Result<std::string> PoolManager::volume_xml(const VolumeRef& ref, unsigned flags) {
  if (flags != 0) {
    return Error(ErrorKind::kInvalidArgument,
                 "unsupported flags (0x" + std::to_string(flags) + ") in STORAGE_VOL_GET_XML_DESC");
  }
  std::lock_guard lock(mutex_);
  AMBER_TRY_ASSIGN(const VolumeState* volume, find_volume(ref, nullptr));
  return xml::format_storage_volume(describe_volume(*volume));
}

Result<std::string> PoolManager::volume_path(const VolumeRef& ref) {
  std::lock_guard lock(mutex_);
  AMBER_TRY_ASSIGN(const VolumeState* volume, find_volume(ref, nullptr));
  return volume->path;
}

void PoolManager::volume_rewritten(const VolumeRef& ref) {
  PoolRef pool_ref;
  {
    std::lock_guard lock(mutex_);
    auto pool = find_by_name(ref.pool);
    if (!pool.ok() || !(*pool)->active) return;
    rescan_volume(**pool, ref.name);
    pool_ref = ref_of(**pool);
  }
  emit({PoolEventKind::kRefresh, pool_ref, 0, 0});
}

Result<VolumeState> PoolManager::resolve(std::string_view pool_name, std::string_view name) {
  std::lock_guard lock(mutex_);
  AMBER_TRY_ASSIGN(Pool * pool, find_by_name(pool_name));
  if (!pool->active) {
    return Error(ErrorKind::kLocked, "storage pool '" + pool->def.name + "' is not active");
  }
  rescan_volume(*pool, std::string(name));
  auto it = pool->volumes.find(std::string(name));
  if (it == pool->volumes.end()) return volume_not_found("name '" + std::string(name) + "'");
  return it->second;
}

}  // namespace amber::driver::storage
