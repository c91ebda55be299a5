// SPDX-License-Identifier: GPL-2.0-or-later
// PoolManager: every storage pool the daemon knows (persistent and
// transient, active or not) and the volumes of the active ones. The seam
// between driver/dispatch/storage_*.cpp (decode, one call, encode) and
// the block engine, as vm::Manager is for domains.
//
// Persistent pool XML is config_dir/storage/NAME.xml, written atomically;
// autostart is the symlink config_dir/storage/autostart/NAME.xml, as
// libvirt keeps them. Volumes are the regular files of the pool's target
// directory (volume_file.h says how each is inspected); the list is
// rebuilt by start and refresh and kept up to date by the volume calls.
//
// Errors, in libvirt's wording so that dispatch/errors maps them:
// kNotFound "Storage pool not found: ..." (VIR_ERR_NO_STORAGE_POOL) and
// "Storage volume not found: ..." (VIR_ERR_NO_STORAGE_VOL); kLocked
// "... is not active / is still active / is in use" (OPERATION_INVALID);
// kCorrupt from xml/ (XML_ERROR); kUnsupported "unsupported configuration:
// ..." (CONFIG_UNSUPPORTED) or other (NO_SUPPORT); kInvalidArgument.
//
// Events: subscribe() sinks receive pool lifecycle (VIR_STORAGE_POOL_EVENT_*)
// and refresh events on the thread that made the change, after the
// manager's lock is released; a sink must not block.
//
// Thread-safety: every method may be called from any thread. One mutex
// guards the registry; the copy of a clone runs without it (the new name
// is reserved first), everything else holds it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "driver/storage/volume_file.h"
#include "xml/storage/pool.h"

namespace amber::driver::storage {

struct PoolManagerOptions {
  std::string config_dir = "/etc/libvirt/amber";  // pools under config_dir/storage
  bool start_autostart = true;                    // start autostart pools in open()
  // The value of the passphrase secret UUID of a new encrypted volume
  // (the daemon's secret driver); unset: encrypted volumes are refused.
  std::function<Result<block::crypto::SecretBytes>(const std::string& uuid)> volume_secret;
};

struct PoolRef {  // remote_nonnull_storage_pool
  std::string name;
  xml::Uuid uuid;
  bool operator==(const PoolRef&) const = default;
};

struct VolumeRef {  // remote_nonnull_storage_vol
  std::string pool;
  std::string name;
  std::string key;
  bool operator==(const VolumeRef&) const = default;
};

struct PoolSummary {
  PoolRef ref;
  xml::PoolType type = xml::PoolType::kDir;
  bool active = false;
  bool persistent = false;
  bool autostart = false;
};

struct PoolInfo {  // virStoragePoolInfo
  int state = 0;   // virStoragePoolState
  uint64_t capacity = 0;
  uint64_t allocation = 0;
  uint64_t available = 0;
};

struct VolumeInfo {  // virStorageVolInfo
  int type = 0;      // VIR_STORAGE_VOL_FILE
  uint64_t capacity = 0;
  uint64_t allocation = 0;
};

enum class PoolEventKind { kLifecycle, kRefresh };
struct PoolEvent {
  PoolEventKind kind = PoolEventKind::kLifecycle;
  PoolRef pool;
  int event = 0;  // VIR_STORAGE_POOL_EVENT_* (lifecycle)
  int detail = 0;
};
using PoolEventSink = std::function<void(const PoolEvent&)>;
using PoolSubscriptionId = uint64_t;

class PoolManager {
 public:
  static Result<std::unique_ptr<PoolManager>> open(const PoolManagerOptions& options);

  // Pools. `pool` is looked up by UUID (the key that survives renames).
  Result<PoolRef> define(std::string_view xml, unsigned flags);
  Result<PoolRef> create_transient(std::string_view xml, unsigned flags);
  Result<void> build(const xml::Uuid& pool, unsigned flags);
  Result<void> start(const xml::Uuid& pool, unsigned flags);
  Result<void> destroy(const xml::Uuid& pool);
  Result<void> remove(const xml::Uuid& pool, unsigned flags);  // STORAGE_POOL_DELETE
  Result<void> undefine(const xml::Uuid& pool);
  Result<void> refresh(const xml::Uuid& pool);
  Result<PoolInfo> info(const xml::Uuid& pool);
  Result<std::string> xml_desc(const xml::Uuid& pool, unsigned flags);
  Result<bool> autostart(const xml::Uuid& pool);
  Result<void> set_autostart(const xml::Uuid& pool, bool on);
  Result<PoolSummary> summary(const xml::Uuid& pool);
  std::vector<PoolSummary> list();
  Result<PoolRef> lookup_by_name(std::string_view name);
  Result<PoolRef> lookup_by_uuid(const xml::Uuid& uuid);
  Result<PoolRef> lookup_by_target_path(std::string_view path);

  // Volumes of an active pool.
  Result<std::vector<VolumeRef>> list_volumes(const xml::Uuid& pool);
  Result<VolumeRef> lookup_volume(const xml::Uuid& pool, std::string_view name);
  // KEY and PATH are the same for file volumes; PATH may be any spelling
  // of the file (resolved with realpath).
  Result<VolumeRef> lookup_volume_by_key(std::string_view key);
  Result<VolumeRef> lookup_volume_by_path(std::string_view path);
  Result<PoolRef> pool_of_volume(const VolumeRef& volume);
  Result<VolumeRef> create_volume(const xml::Uuid& pool, std::string_view xml, unsigned flags);
  Result<VolumeRef> clone_volume(const xml::Uuid& pool, std::string_view xml,
                                 const VolumeRef& source, unsigned flags);
  Result<void> delete_volume(const VolumeRef& volume, unsigned flags);
  Result<void> wipe_volume(const VolumeRef& volume, unsigned algorithm, unsigned flags);
  Result<void> resize_volume(const VolumeRef& volume, uint64_t capacity, unsigned flags);
  Result<VolumeInfo> volume_info(const VolumeRef& volume);
  Result<std::string> volume_xml(const VolumeRef& volume, unsigned flags);
  Result<std::string> volume_path(const VolumeRef& volume);
  // <disk type='volume'> resolution: the path of VOLUME in the active pool
  // named POOL, and its format.
  Result<VolumeState> resolve(std::string_view pool, std::string_view volume);
  // After an upload into VOLUME: rescans that one volume (its format,
  // capacity, allocation and chain may all have changed) and sends the
  // pool's refresh event, as libvirt does when an upload ends. A pool
  // stopped meanwhile is left alone.
  void volume_rewritten(const VolumeRef& volume);

  PoolSubscriptionId subscribe(PoolEventSink sink);
  void unsubscribe(PoolSubscriptionId id);

 private:
  struct Pool {
    xml::StoragePool def;
    bool persistent = false;
    bool active = false;
    std::string dir_real;  // target path with symlinks resolved, while active
    std::map<std::string, VolumeState> volumes;
    std::vector<std::string> reserved;  // names being cloned into
  };

  explicit PoolManager(PoolManagerOptions options);
  Result<void> load();
  void start_autostart_pools();

  // mutex_ held.
  Result<Pool*> find(const xml::Uuid& uuid);
  Result<Pool*> find_active(const xml::Uuid& uuid);
  Result<Pool*> find_by_name(std::string_view name);
  Result<const VolumeState*> find_volume(const VolumeRef& ref, Pool** pool_out);
  Result<Pool*> add_pool(xml::StoragePool def, bool persistent);
  Result<void> activate(Pool& pool);
  void scan(Pool& pool);
  Result<void> fill_sizes(Pool& pool);
  void rescan_volume(Pool& pool, const std::string& name);
  Result<void> save(const Pool& pool) const;
  std::string storage_dir() const { return options_.config_dir + "/storage"; }
  std::string autostart_link(const std::string& name) const {
    return storage_dir() + "/autostart/" + name + ".xml";
  }
  static PoolRef ref_of(const Pool& pool) { return {pool.def.name, pool.def.uuid}; }
  static VolumeRef vref_of(const Pool& pool, const VolumeState& volume) {
    return {pool.def.name, volume.name, volume.path};
  }
  void emit(PoolEvent event);  // mutex_ NOT held
  void emit_lifecycle(const PoolRef& ref, int event, int detail = 0) {
    emit({PoolEventKind::kLifecycle, ref, event, detail});
  }

  PoolManagerOptions options_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Pool>> pools_;
  std::mutex sinks_mutex_;
  std::map<PoolSubscriptionId, PoolEventSink> sinks_;
  PoolSubscriptionId next_sink_ = 1;
};

}  // namespace amber::driver::storage
