// SPDX-License-Identifier: GPL-2.0-or-later
// The storage pool and volume REMOTE procedures: each decodes its
// arguments, calls one storage::PoolManager method
// (driver/storage/pool_manager.h) and encodes the reply. Pools are
// addressed by the UUID of the remote_nonnull_storage_pool the client
// sends, volumes by pool name and volume name. Files: storage_xdr.cpp
// (the shared structs), storage_pool.cpp (pool lifecycle, lookups,
// lists), storage_vol.cpp (volumes), storage_events.cpp (pool events).
//
// Thread-safety: called by the dispatcher on worker threads; the manager
// has its own lock.
#pragma once

#include "driver/dispatch/domain_xdr.h"
#include "driver/protocol/procedure.h"
#include "driver/storage/pool_manager.h"

namespace amber::driver::dispatch {

using protocol::Connection;
using rpc::XdrReader;
using rpc::XdrWriter;

// remote_nonnull_storage_pool / remote_nonnull_storage_vol.
Result<storage::PoolRef> read_pool(rpc::XdrReader& reader);
void write_pool(rpc::XdrWriter& writer, const storage::PoolRef& pool);
Result<storage::VolumeRef> read_volume(rpc::XdrReader& reader);
void write_volume(rpc::XdrWriter& writer, const storage::VolumeRef& volume);
// The connection's pool manager; kInvalidArgument before CONNECT_OPEN,
// kUnsupported (NO_SUPPORT) when the daemon runs without storage.
Result<storage::PoolManager*> storage_of(const protocol::Connection& connection);

// REMOTE_STORAGE_POOL_LIST_MAX / REMOTE_STORAGE_VOL_LIST_MAX.
inline constexpr uint32_t kPoolListMax = 16384;
inline constexpr uint32_t kVolumeListMax = 16384;

#define AMBER_STORAGE_HANDLER(name) \
  Result<void> name(protocol::Connection& connection, rpc::XdrReader& args, rpc::XdrWriter& reply)

// storage_pool.cpp
AMBER_STORAGE_HANDLER(num_of_storage_pools);
AMBER_STORAGE_HANDLER(list_storage_pools);
AMBER_STORAGE_HANDLER(num_of_defined_storage_pools);
AMBER_STORAGE_HANDLER(list_defined_storage_pools);
AMBER_STORAGE_HANDLER(list_all_storage_pools);
AMBER_STORAGE_HANDLER(storage_pool_create_xml);
AMBER_STORAGE_HANDLER(storage_pool_define_xml);
AMBER_STORAGE_HANDLER(storage_pool_create);
AMBER_STORAGE_HANDLER(storage_pool_build);
AMBER_STORAGE_HANDLER(storage_pool_destroy);
AMBER_STORAGE_HANDLER(storage_pool_delete);
AMBER_STORAGE_HANDLER(storage_pool_undefine);
AMBER_STORAGE_HANDLER(storage_pool_refresh);
AMBER_STORAGE_HANDLER(storage_pool_lookup_by_name);
AMBER_STORAGE_HANDLER(storage_pool_lookup_by_uuid);
AMBER_STORAGE_HANDLER(storage_pool_lookup_by_volume);
AMBER_STORAGE_HANDLER(storage_pool_lookup_by_target_path);
AMBER_STORAGE_HANDLER(storage_pool_get_info);
AMBER_STORAGE_HANDLER(storage_pool_get_xml_desc);
AMBER_STORAGE_HANDLER(storage_pool_get_autostart);
AMBER_STORAGE_HANDLER(storage_pool_set_autostart);
AMBER_STORAGE_HANDLER(storage_pool_is_active);
AMBER_STORAGE_HANDLER(storage_pool_is_persistent);

// storage_vol.cpp
AMBER_STORAGE_HANDLER(storage_pool_num_of_volumes);
AMBER_STORAGE_HANDLER(storage_pool_list_volumes);
AMBER_STORAGE_HANDLER(storage_pool_list_all_volumes);
AMBER_STORAGE_HANDLER(storage_vol_create_xml);
AMBER_STORAGE_HANDLER(storage_vol_create_xml_from);
AMBER_STORAGE_HANDLER(storage_vol_delete);
AMBER_STORAGE_HANDLER(storage_vol_wipe);
AMBER_STORAGE_HANDLER(storage_vol_wipe_pattern);
AMBER_STORAGE_HANDLER(storage_vol_resize);
AMBER_STORAGE_HANDLER(storage_vol_lookup_by_name);
AMBER_STORAGE_HANDLER(storage_vol_lookup_by_key);
AMBER_STORAGE_HANDLER(storage_vol_lookup_by_path);
AMBER_STORAGE_HANDLER(storage_vol_get_info);
AMBER_STORAGE_HANDLER(storage_vol_get_info_flags);
AMBER_STORAGE_HANDLER(storage_vol_get_xml_desc);
AMBER_STORAGE_HANDLER(storage_vol_get_path);

// volume_stream.cpp: STORAGE_VOL_UPLOAD (208) / STORAGE_VOL_DOWNLOAD (209).
// Upload refuses a volume a running domain (or QEMU) holds; after it ends
// the volume is rescanned and the pool's refresh event sent (as libvirt
// does), so its allocation and capacity are those of the new contents.
AMBER_STORAGE_HANDLER(storage_vol_upload);
AMBER_STORAGE_HANDLER(storage_vol_download);

// storage_events.cpp
AMBER_STORAGE_HANDLER(storage_pool_event_register_any);
AMBER_STORAGE_HANDLER(storage_pool_event_deregister_any);

}  // namespace amber::driver::dispatch
