// SPDX-License-Identifier: GPL-2.0-or-later
// The structs every storage procedure shares (dispatch/storage.h).
#include "driver/dispatch/storage.h"

namespace amber::driver::dispatch {

Result<storage::PoolRef> read_pool(rpc::XdrReader& reader) {
  storage::PoolRef pool;
  AMBER_TRY_ASSIGN(pool.name, arg_string(reader, "pool.name"));
  AMBER_TRY_ASSIGN(pool.uuid, read_uuid(reader));
  return pool;
}

void write_pool(rpc::XdrWriter& writer, const storage::PoolRef& pool) {
  writer.write_string(pool.name);
  write_uuid(writer, pool.uuid);
}

Result<storage::VolumeRef> read_volume(rpc::XdrReader& reader) {
  storage::VolumeRef volume;
  AMBER_TRY_ASSIGN(volume.pool, arg_string(reader, "vol.pool"));
  AMBER_TRY_ASSIGN(volume.name, arg_string(reader, "vol.name"));
  AMBER_TRY_ASSIGN(volume.key, arg_string(reader, "vol.key"));
  return volume;
}

void write_volume(rpc::XdrWriter& writer, const storage::VolumeRef& volume) {
  writer.write_string(volume.pool);
  writer.write_string(volume.name);
  writer.write_string(volume.key);
}

Result<storage::PoolManager*> storage_of(const protocol::Connection& connection) {
  if (!connection.opened) {
    return Error(ErrorKind::kInvalidArgument, "the connection is not open (call CONNECT_OPEN)");
  }
  if (connection.daemon == nullptr || connection.daemon->storage == nullptr) {
    return Error(ErrorKind::kUnsupported, "this daemon runs without storage pools");
  }
  return connection.daemon->storage;
}

}  // namespace amber::driver::dispatch
