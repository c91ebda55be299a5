// SPDX-License-Identifier: GPL-2.0-or-later
// CONNECT_STORAGE_POOL_EVENT_REGISTER_ANY / DEREGISTER_ANY.
#include "driver/dispatch/storage.h"
#include "driver/protocol/connection_events.h"
#include "driver/protocol/pool_events.h"

namespace amber::driver::dispatch {

Result<void> storage_pool_event_register_any(Connection& connection, XdrReader& args,
                                             XdrWriter& reply) {
  AMBER_TRY_ASSIGN(int32_t event_id, arg_i32(args, "eventID"));
  AMBER_TRY_ASSIGN(bool has_pool, args.read_bool("pool"));
  std::optional<xml::Uuid> filter;
  if (has_pool) {
    AMBER_TRY_ASSIGN(storage::PoolRef pool, read_pool(args));
    filter = pool.uuid;
  }
  AMBER_TRY(arg_end(args, "CONNECT_STORAGE_POOL_EVENT_REGISTER_ANY"));
  AMBER_TRY_ASSIGN(storage::PoolManager * manager, storage_of(connection));
  if (connection.events == nullptr) {
    return Error(ErrorKind::kUnsupported, "storage pool events need the daemon's event loop");
  }
  if (connection.pool_events == nullptr) {
    std::weak_ptr<protocol::ConnectionEvents> events = connection.events;
    connection.pool_events =
        protocol::PoolEventRegistrations::create(manager, [events](std::vector<uint8_t> frame) {
          if (auto alive = events.lock()) alive->send(std::move(frame));
        });
  }
  AMBER_TRY_ASSIGN(int32_t callback_id, connection.pool_events->add(event_id, filter));
  reply.write_i32(callback_id);
  return {};
}

Result<void> storage_pool_event_deregister_any(Connection& connection, XdrReader& args,
                                               XdrWriter&) {
  AMBER_TRY_ASSIGN(int32_t callback_id, arg_i32(args, "callbackID"));
  AMBER_TRY(arg_end(args, "CONNECT_STORAGE_POOL_EVENT_DEREGISTER_ANY"));
  AMBER_TRY_ASSIGN(storage::PoolManager * manager, storage_of(connection));
  (void)manager;
  if (connection.pool_events == nullptr) {
    return Error(ErrorKind::kInvalidArgument,
                 "callback ID " + std::to_string(callback_id) + " is not registered");
  }
  return connection.pool_events->remove(callback_id);
}

}  // namespace amber::driver::dispatch
