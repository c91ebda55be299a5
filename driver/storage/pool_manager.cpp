// SPDX-License-Identifier: GPL-2.0-or-later
// PoolManager: pools (lifecycle, persistence, listing, events). The volume
// methods are in pool_volumes.cpp.
#include "driver/storage/pool_manager.h"

#include <dirent.h>
#include <libvirt/libvirt.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <thread>
#include <vector>

#include "driver/storage/names.h"
#include "driver/vm/store.h"

namespace amber::driver::storage {

namespace {

// A scan of a big directory uses up to kScanThreads threads, one per
// kNamesPerScanThread entries.
constexpr size_t kScanThreads = 4;
constexpr size_t kNamesPerScanThread = 64;

Error pool_not_found(const std::string& what) {
  return Error(ErrorKind::kNotFound,
               "Storage pool not found: no storage pool with matching " + what);
}

Result<void> make_directories(const std::string& path, mode_t mode) {
  for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const std::string part = slash == std::string::npos ? path : path.substr(0, slash);
    if (::mkdir(part.c_str(), mode) != 0 && errno != EEXIST) {
      return Error::from_errno(errno, "cannot create directory '" + part + "'");
    }
    if (slash == std::string::npos) break;
  }
  return ok();
}

// An fs or netfs pool is usable only where its file system is mounted:
// the target is a mount point when it is on another device than its
// parent (or is "/").
bool is_mount_point(const std::string& path) {
  struct stat self {
  }, parent{};
  if (::stat(path.c_str(), &self) != 0) return false;
  if (path == "/") return true;
  if (::stat((path + "/..").c_str(), &parent) != 0) return false;
  return self.st_dev != parent.st_dev || self.st_ino == parent.st_ino;
}

}  // namespace

PoolManager::PoolManager(PoolManagerOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<PoolManager>> PoolManager::open(const PoolManagerOptions& options) {
  std::unique_ptr<PoolManager> manager(new PoolManager(options));
  AMBER_TRY(make_directories(manager->storage_dir() + "/autostart", 0700));
  AMBER_TRY(manager->load());
  if (options.start_autostart) manager->start_autostart_pools();
  return manager;
}

Result<void> PoolManager::load() {
  DIR* dir = ::opendir(storage_dir().c_str());
  if (dir == nullptr) return Error::from_errno(errno, "listing " + storage_dir());
  std::vector<std::string> files;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (name.size() > 4 && name.front() != '.' && name.ends_with(".xml")) files.push_back(name);
  }
  ::closedir(dir);
  std::lock_guard lock(mutex_);
  for (const std::string& file : files) {
    auto text = vm::read_file(storage_dir() + "/" + file);
    auto def = text.ok() ? xml::parse_storage_pool(*text) : Result<xml::StoragePool>(text.error());
    if (!def.ok()) {
      std::fprintf(stderr, "virtamberd: ignoring storage pool %s: %s\n", file.c_str(),
                   def.error().message().c_str());
      continue;
    }
    auto added = add_pool(std::move(*def), true);
    if (!added.ok()) {
      std::fprintf(stderr, "virtamberd: ignoring storage pool %s: %s\n", file.c_str(),
                   added.error().message().c_str());
    }
  }
  return ok();
}

void PoolManager::start_autostart_pools() {
  std::vector<xml::Uuid> wanted;
  {
    std::lock_guard lock(mutex_);
    for (const auto& pool : pools_) {
      struct stat st {};
      if (::lstat(autostart_link(pool->def.name).c_str(), &st) == 0)
        wanted.push_back(pool->def.uuid);
    }
  }
  for (const xml::Uuid& uuid : wanted) {
    auto started = start(uuid, 0);
    if (!started.ok()) {
      std::fprintf(stderr, "virtamberd: autostart of storage pool %s failed: %s\n",
                   uuid.to_string().c_str(), started.error().message().c_str());
    }
  }
}

Result<PoolManager::Pool*> PoolManager::find(const xml::Uuid& uuid) {
  for (const auto& pool : pools_) {
    if (pool->def.uuid == uuid) return pool.get();
  }
  return pool_not_found("uuid '" + uuid.to_string() + "'");
}

Result<PoolManager::Pool*> PoolManager::find_active(const xml::Uuid& uuid) {
  AMBER_TRY_ASSIGN(Pool * pool, find(uuid));
  if (!pool->active) {
    return Error(ErrorKind::kLocked, "storage pool '" + pool->def.name + "' is not active");
  }
  return pool;
}

Result<PoolManager::Pool*> PoolManager::find_by_name(std::string_view name) {
  for (const auto& pool : pools_) {
    if (pool->def.name == name) return pool.get();
  }
  return pool_not_found("name '" + std::string(name) + "'");
}

Result<PoolManager::Pool*> PoolManager::add_pool(xml::StoragePool def, bool persistent) {
  AMBER_TRY(check_pool_name(def.name));
  for (const auto& pool : pools_) {
    if (pool->def.name == def.name && !(pool->def.uuid == def.uuid)) {
      return Error(
          ErrorKind::kInvalidArgument,
          "pool '" + def.name + "' already exists with uuid " + pool->def.uuid.to_string());
    }
    if (pool->def.uuid == def.uuid && pool->def.name != def.name) {
      return Error(
          ErrorKind::kInvalidArgument,
          "pool '" + pool->def.name + "' is already defined with uuid " + def.uuid.to_string());
    }
    if (pool->def.uuid == def.uuid) {
      pool->def = std::move(def);
      pool->persistent = pool->persistent || persistent;
      return pool.get();
    }
    if (pool->def.target_path == def.target_path) {
      return Error(ErrorKind::kInvalidArgument,
                   "Storage source conflict with pool: '" + pool->def.name +
                       "' has the same target path '" + def.target_path + "'");
    }
  }
  auto pool = std::make_unique<Pool>();
  pool->def = std::move(def);
  pool->persistent = persistent;
  pools_.push_back(std::move(pool));
  return pools_.back().get();
}

Result<void> PoolManager::save(const Pool& pool) const {
  xml::StoragePool def = pool.def;
  def.capacity = def.allocation = def.available = 0;  // live numbers stay out of the config
  return vm::write_file_atomic(storage_dir(), def.name + ".xml", xml::format_storage_pool(def));
}

Result<PoolRef> PoolManager::define(std::string_view xml, unsigned flags) {
  if (flags & ~static_cast<unsigned>(VIR_STORAGE_POOL_DEFINE_VALIDATE)) {
    return Error(ErrorKind::kInvalidArgument,
                 "unsupported flags (0x" + std::to_string(flags) + ") in STORAGE_POOL_DEFINE_XML");
  }
  AMBER_TRY_ASSIGN(xml::StoragePool def, xml::parse_storage_pool(xml));
  PoolRef ref;
  {
    std::lock_guard lock(mutex_);
    AMBER_TRY_ASSIGN(Pool * pool, add_pool(std::move(def), true));
    AMBER_TRY(save(*pool));
    ref = ref_of(*pool);
  }
  emit_lifecycle(ref, VIR_STORAGE_POOL_EVENT_DEFINED);
  return ref;
}

Result<PoolRef> PoolManager::create_transient(std::string_view xml, unsigned flags) {
  AMBER_TRY_ASSIGN(xml::StoragePool def, xml::parse_storage_pool(xml));
  PoolRef ref;
  {
    std::lock_guard lock(mutex_);
    for (const auto& existing : pools_) {
      if (existing->def.name == def.name || existing->def.uuid == def.uuid) {
        return Error(ErrorKind::kInvalidArgument, "pool '" + def.name + "' already exists");
      }
    }
    AMBER_TRY_ASSIGN(Pool * pool, add_pool(std::move(def), false));
    if (flags & VIR_STORAGE_POOL_CREATE_WITH_BUILD) {
      mode_t mode = pool->def.permissions && pool->def.permissions->mode
                        ? *pool->def.permissions->mode
                        : 0711;
      AMBER_TRY(make_directories(pool->def.target_path, mode));
    }
    auto activated = activate(*pool);
    if (!activated.ok()) {
      std::erase_if(pools_, [&](const auto& p) { return p.get() == pool; });
      return activated.error();
    }
    ref = ref_of(*pool);
  }
  emit_lifecycle(ref, VIR_STORAGE_POOL_EVENT_STARTED);
  return ref;
}

Result<void> PoolManager::build(const xml::Uuid& uuid, unsigned flags) {
  std::lock_guard lock(mutex_);
  AMBER_TRY_ASSIGN(Pool * pool, find(uuid));
  if (pool->active) {
    return Error(ErrorKind::kLocked, "storage pool '" + pool->def.name + "' is already active");
  }
  const std::string& path = pool->def.target_path;
  struct stat st {};
  if ((flags & VIR_STORAGE_POOL_BUILD_NO_OVERWRITE) && ::stat(path.c_str(), &st) == 0) {
    return Error(ErrorKind::kInvalidArgument, "target path '" + path + "' already exists");
  }
  const auto& permissions = pool->def.permissions;
  const mode_t mode = permissions && permissions->mode ? *permissions->mode : 0711;
  AMBER_TRY(make_directories(path, mode));
  if (::chmod(path.c_str(), mode) != 0) return Error::from_errno(errno, "chmod " + path);
  if (permissions && (permissions->owner || permissions->group)) {
    const auto id = [](const std::optional<int64_t>& value) {
      return value && *value >= 0 ? static_cast<uid_t>(*value) : static_cast<uid_t>(-1);
    };
    if (::chown(path.c_str(), id(permissions->owner), id(permissions->group)) != 0) {
      return Error::from_errno(errno, "cannot set owner of '" + path + "'");
    }
  }
  return ok();
}

Result<void> PoolManager::activate(Pool& pool) {
  const std::string& path = pool.def.target_path;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Error(ErrorKind::kInvalidArgument, "cannot open directory '" + path +
                                                  "': No such file or directory (run pool-build)");
  }
  if (pool.def.type != xml::PoolType::kDir && !is_mount_point(path)) {
    return Error(ErrorKind::kUnsupported,
                 "unsupported configuration: the file system of " +
                     std::string(xml::to_string(pool.def.type)) + " pool '" + pool.def.name +
                     "' must already be mounted at '" + path + "' (Amber does not mount)");
  }
  char real[PATH_MAX];
  if (::realpath(path.c_str(), real) == nullptr)
    return Error::from_errno(errno, "resolving " + path);
  pool.dir_real = real;
  pool.active = true;
  scan(pool);
  return ok();
}

void PoolManager::scan(Pool& pool) {
  pool.volumes.clear();
  DIR* dir = ::opendir(pool.dir_real.c_str());
  if (dir == nullptr) return;
  std::vector<std::string> names;
  while (const dirent* entry = ::readdir(dir)) names.emplace_back(entry->d_name);
  ::closedir(dir);
  // Each file is inspected on its own (inspect_volume touches nothing
  // shared), so a few threads share a big directory.
  std::vector<std::optional<VolumeState>> states(names.size());
  std::atomic<size_t> next{0};
  ChainCache chains;
  auto worker = [&] {
    for (size_t i = next++; i < names.size(); i = next++) {
      states[i] = inspect_volume(pool.dir_real, names[i], &chains);
    }
  };
  const size_t threads = std::clamp<size_t>(names.size() / kNamesPerScanThread, 1, kScanThreads);
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < threads; ++t) helpers.emplace_back(worker);
  worker();
  for (auto& helper : helpers) helper.join();
  for (auto& state : states) {
    if (state) pool.volumes[state->name] = std::move(*state);
  }
  (void)fill_sizes(pool);
}

void PoolManager::rescan_volume(Pool& pool, const std::string& name) {
  auto state = inspect_volume(pool.dir_real, name);
  if (state) {
    pool.volumes[name] = std::move(*state);
  } else {
    pool.volumes.erase(name);
  }
}

Result<void> PoolManager::fill_sizes(Pool& pool) {
  struct statvfs fs {};
  if (::statvfs(pool.dir_real.c_str(), &fs) != 0) {
    return Error::from_errno(errno, "statvfs " + pool.dir_real);
  }
  pool.def.capacity = static_cast<uint64_t>(fs.f_frsize) * fs.f_blocks;
  pool.def.available = static_cast<uint64_t>(fs.f_frsize) * fs.f_bavail;
  pool.def.allocation = pool.def.capacity - static_cast<uint64_t>(fs.f_frsize) * fs.f_bfree;
  return ok();
}

Result<void> PoolManager::start(const xml::Uuid& uuid, unsigned flags) {
  PoolRef ref;
  {
    std::lock_guard lock(mutex_);
    AMBER_TRY_ASSIGN(Pool * pool, find(uuid));
    if (pool->active) {
      return Error(ErrorKind::kLocked, "storage pool '" + pool->def.name + "' is already active");
    }
    if (flags & VIR_STORAGE_POOL_CREATE_WITH_BUILD) {
      mode_t mode = pool->def.permissions && pool->def.permissions->mode
                        ? *pool->def.permissions->mode
                        : 0711;
      AMBER_TRY(make_directories(pool->def.target_path, mode));
    }
    AMBER_TRY(activate(*pool));
    ref = ref_of(*pool);
  }
  emit_lifecycle(ref, VIR_STORAGE_POOL_EVENT_STARTED);
  return ok();
}

Result<void> PoolManager::destroy(const xml::Uuid& uuid) {
  PoolRef ref;
  {
    std::lock_guard lock(mutex_);
    AMBER_TRY_ASSIGN(Pool * pool, find_active(uuid));
    pool->active = false;
    pool->volumes.clear();
    pool->def.capacity = pool->def.allocation = pool->def.available = 0;
    ref = ref_of(*pool);
    if (!pool->persistent) std::erase_if(pools_, [&](const auto& p) { return p.get() == pool; });
  }
  emit_lifecycle(ref, VIR_STORAGE_POOL_EVENT_STOPPED);
  return ok();
}

Result<void> PoolManager::remove(const xml::Uuid& uuid, unsigned flags) {
  PoolRef ref;
  {
    std::lock_guard lock(mutex_);
    AMBER_TRY_ASSIGN(Pool * pool, find(uuid));
    if (pool->active) {
      return Error(ErrorKind::kLocked, "storage pool '" + pool->def.name + "' is still active");
    }
    if (flags & VIR_STORAGE_POOL_DELETE_ZEROED) {
      return Error(ErrorKind::kUnsupported, "pool-delete --zeroed is not supported by Amber");
    }
    if (::rmdir(pool->def.target_path.c_str()) != 0 && errno != ENOENT) {
      return Error::from_errno(errno, "failed to remove pool '" + pool->def.target_path + "'");
    }
    ref = ref_of(*pool);
  }
  emit_lifecycle(ref, VIR_STORAGE_POOL_EVENT_DELETED);
  return ok();
}

Result<void> PoolManager::undefine(const xml::Uuid& uuid) {
  PoolRef ref;
  {
    std::lock_guard lock(mutex_);
    AMBER_TRY_ASSIGN(Pool * pool, find(uuid));
    if (!pool->persistent) {
      return Error(ErrorKind::kLocked, "storage pool '" + pool->def.name + "' is not persistent");
    }
    AMBER_TRY(vm::remove_file(storage_dir() + "/" + pool->def.name + ".xml"));
    AMBER_TRY(vm::remove_file(autostart_link(pool->def.name)));
    ref = ref_of(*pool);
    pool->persistent = false;
    if (!pool->active) std::erase_if(pools_, [&](const auto& p) { return p.get() == pool; });
  }
  emit_lifecycle(ref, VIR_STORAGE_POOL_EVENT_UNDEFINED);
  return ok();
}

Result<void> PoolManager::refresh(const xml::Uuid& uuid) {
  PoolRef ref;
  {
    std::lock_guard lock(mutex_);
    AMBER_TRY_ASSIGN(Pool * pool, find_active(uuid));
    scan(*pool);
    ref = ref_of(*pool);
  }
  emit({PoolEventKind::kRefresh, ref, 0, 0});
  return ok();
}

Result<PoolInfo> PoolManager::info(const xml::Uuid& uuid) {
  std::lock_guard lock(mutex_);
  AMBER_TRY_ASSIGN(Pool * pool, find(uuid));
  PoolInfo out;
  if (!pool->active) return out;  // VIR_STORAGE_POOL_INACTIVE, zeros
  (void)fill_sizes(*pool);
  out.state = VIR_STORAGE_POOL_RUNNING;
  out.capacity = pool->def.capacity;
  out.allocation = pool->def.allocation;
  out.available = pool->def.available;
  return out;
}

Result<std::string> PoolManager::xml_desc(const xml::Uuid& uuid, unsigned flags) {
  std::lock_guard lock(mutex_);
  AMBER_TRY_ASSIGN(Pool * pool, find(uuid));
  xml::StoragePool def = pool->def;
  if (pool->active && !(flags & VIR_STORAGE_XML_INACTIVE)) {
    (void)fill_sizes(*pool);
    def = pool->def;
  } else {
    def.capacity = def.allocation = def.available = 0;
  }
  return xml::format_storage_pool(def);
}

Result<bool> PoolManager::autostart(const xml::Uuid& uuid) {
  std::lock_guard lock(mutex_);
  AMBER_TRY_ASSIGN(Pool * pool, find(uuid));
  struct stat st {};
  return pool->persistent && ::lstat(autostart_link(pool->def.name).c_str(), &st) == 0;
}

Result<void> PoolManager::set_autostart(const xml::Uuid& uuid, bool on) {
  std::lock_guard lock(mutex_);
  AMBER_TRY_ASSIGN(Pool * pool, find(uuid));
  if (!pool->persistent) {
    return Error(ErrorKind::kLocked, "cannot set autostart for transient pool");
  }
  const std::string link = autostart_link(pool->def.name);
  AMBER_TRY(vm::remove_file(link));
  if (on) {
    const std::string target = storage_dir() + "/" + pool->def.name + ".xml";
    if (::symlink(target.c_str(), link.c_str()) != 0) {
      return Error::from_errno(errno, "cannot create autostart link '" + link + "'");
    }
  }
  return ok();
}

Result<PoolSummary> PoolManager::summary(const xml::Uuid& uuid) {
  std::lock_guard lock(mutex_);
  AMBER_TRY_ASSIGN(Pool * pool, find(uuid));
  struct stat st {};
  return PoolSummary{ref_of(*pool), pool->def.type, pool->active, pool->persistent,
                     pool->persistent && ::lstat(autostart_link(pool->def.name).c_str(), &st) == 0};
}

std::vector<PoolSummary> PoolManager::list() {
  std::lock_guard lock(mutex_);
  std::vector<PoolSummary> out;
  for (const auto& pool : pools_) {
    struct stat st {};
    out.push_back({ref_of(*pool), pool->def.type, pool->active, pool->persistent,
                   pool->persistent && ::lstat(autostart_link(pool->def.name).c_str(), &st) == 0});
  }
  return out;
}

Result<PoolRef> PoolManager::lookup_by_name(std::string_view name) {
  std::lock_guard lock(mutex_);
  AMBER_TRY_ASSIGN(Pool * pool, find_by_name(name));
  return ref_of(*pool);
}

Result<PoolRef> PoolManager::lookup_by_uuid(const xml::Uuid& uuid) {
  std::lock_guard lock(mutex_);
  AMBER_TRY_ASSIGN(Pool * pool, find(uuid));
  return ref_of(*pool);
}

Result<PoolRef> PoolManager::lookup_by_target_path(std::string_view path) {
  std::string wanted(path);
  while (wanted.size() > 1 && wanted.back() == '/') wanted.pop_back();
  std::lock_guard lock(mutex_);
  for (const auto& pool : pools_) {
    if (pool->def.target_path == wanted) return ref_of(*pool);
  }
  return pool_not_found("path '" + wanted + "'");
}

PoolSubscriptionId PoolManager::subscribe(PoolEventSink sink) {
  std::lock_guard lock(sinks_mutex_);
  const PoolSubscriptionId id = next_sink_++;
  sinks_.emplace(id, std::move(sink));
  return id;
}

void PoolManager::unsubscribe(PoolSubscriptionId id) {
  std::lock_guard lock(sinks_mutex_);
  sinks_.erase(id);
}

void PoolManager::emit(PoolEvent event) {
  std::vector<PoolEventSink> sinks;
  {
    std::lock_guard lock(sinks_mutex_);
    for (const auto& [id, sink] : sinks_) sinks.push_back(sink);
  }
  for (const PoolEventSink& sink : sinks) sink(event);
}

}  // namespace amber::driver::storage
