// SPDX-License-Identifier: GPL-2.0-or-later
// Storage pool procedures: lists, lookups, lifecycle, info and XML.
#include <libvirt/libvirt.h>

#include "driver/dispatch/storage.h"

namespace amber::driver::dispatch {

namespace {

using storage::PoolManager;
using storage::PoolRef;
using storage::PoolSummary;

// Each VIR_CONNECT_LIST_STORAGE_POOLS_* pair filters only when one of its
// two bits is set; the type bits filter when any of them is.
bool pool_matches(const PoolSummary& pool, uint32_t flags) {
  const auto pair = [&](uint32_t yes, uint32_t no, bool value) {
    if (!(flags & (yes | no))) return true;
    return value ? (flags & yes) != 0 : (flags & no) != 0;
  };
  if (!pair(VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE, VIR_CONNECT_LIST_STORAGE_POOLS_INACTIVE,
            pool.active)) {
    return false;
  }
  if (!pair(VIR_CONNECT_LIST_STORAGE_POOLS_PERSISTENT, VIR_CONNECT_LIST_STORAGE_POOLS_TRANSIENT,
            pool.persistent)) {
    return false;
  }
  if (!pair(VIR_CONNECT_LIST_STORAGE_POOLS_AUTOSTART, VIR_CONNECT_LIST_STORAGE_POOLS_NO_AUTOSTART,
            pool.autostart)) {
    return false;
  }
  const uint32_t type_bits = flags & ~0x3fu;
  if (type_bits == 0) return true;
  uint32_t mine = VIR_CONNECT_LIST_STORAGE_POOLS_DIR;
  if (pool.type == xml::PoolType::kFs) mine = VIR_CONNECT_LIST_STORAGE_POOLS_FS;
  if (pool.type == xml::PoolType::kNetfs) mine = VIR_CONNECT_LIST_STORAGE_POOLS_NETFS;
  return (type_bits & mine) != 0;
}

Result<void> count_pools(protocol::Connection& connection, rpc::XdrReader& args,
                         rpc::XdrWriter& reply, std::string_view procedure, bool active) {
  AMBER_TRY(arg_end(args, procedure));
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  int32_t count = 0;
  for (const PoolSummary& pool : manager->list()) count += pool.active == active ? 1 : 0;
  reply.write_i32(count);
  return {};
}

Result<void> name_pools(protocol::Connection& connection, rpc::XdrReader& args,
                        rpc::XdrWriter& reply, std::string_view procedure, bool active) {
  AMBER_TRY_ASSIGN(int32_t max_names, arg_i32(args, "maxnames"));
  AMBER_TRY(arg_end(args, procedure));
  if (max_names < 0 || static_cast<uint32_t>(max_names) > kPoolListMax) {
    return Error(ErrorKind::kInvalidArgument,
                 "maxnames " + std::to_string(max_names) + " is out of range");
  }
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  std::vector<std::string> names;
  for (const PoolSummary& pool : manager->list()) {
    if (pool.active == active && names.size() < static_cast<size_t>(max_names)) {
      names.push_back(pool.ref.name);
    }
  }
  reply.write_u32(static_cast<uint32_t>(names.size()));  // <= kPoolListMax
  for (const std::string& name : names) reply.write_string(name);
  return {};
}

// Most pool calls: a pool, and flags when the procedure has them.
enum class HasFlags { kNo, kYes };
struct PoolArgs {
  PoolRef pool;
  uint32_t flags = 0;
};

Result<PoolArgs> read_pool_args(rpc::XdrReader& args, std::string_view procedure,
                                HasFlags has_flags) {
  PoolArgs out;
  AMBER_TRY_ASSIGN(out.pool, read_pool(args));
  if (has_flags == HasFlags::kYes) {
    AMBER_TRY_ASSIGN(out.flags, arg_u32(args, "flags"));
  }
  AMBER_TRY(arg_end(args, procedure));
  return out;
}

}  // namespace

Result<void> num_of_storage_pools(Connection& connection, XdrReader& args, XdrWriter& reply) {
  return count_pools(connection, args, reply, "CONNECT_NUM_OF_STORAGE_POOLS", true);
}

Result<void> list_storage_pools(Connection& connection, XdrReader& args, XdrWriter& reply) {
  return name_pools(connection, args, reply, "CONNECT_LIST_STORAGE_POOLS", true);
}

Result<void> num_of_defined_storage_pools(Connection& connection, XdrReader& args,
                                          XdrWriter& reply) {
  return count_pools(connection, args, reply, "CONNECT_NUM_OF_DEFINED_STORAGE_POOLS", false);
}

Result<void> list_defined_storage_pools(Connection& connection, XdrReader& args, XdrWriter& reply) {
  return name_pools(connection, args, reply, "CONNECT_LIST_DEFINED_STORAGE_POOLS", false);
}

Result<void> list_all_storage_pools(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(int32_t need_results, arg_i32(args, "need_results"));
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, "CONNECT_LIST_ALL_STORAGE_POOLS"));
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  std::vector<PoolRef> pools;
  for (const PoolSummary& pool : manager->list()) {
    if (pool_matches(pool, flags)) pools.push_back(pool.ref);
  }
  if (pools.size() > kPoolListMax) {
    return Error(ErrorKind::kNoSpace, "too many storage pools for one reply");
  }
  if (need_results != 0) {
    reply.write_u32(static_cast<uint32_t>(pools.size()));
    for (const PoolRef& pool : pools) write_pool(reply, pool);
  } else {
    reply.write_u32(0);
  }
  reply.write_u32(static_cast<uint32_t>(pools.size()));
  return {};
}

Result<void> storage_pool_create_xml(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(std::string xml, arg_string(args, "xml"));
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, "STORAGE_POOL_CREATE_XML"));
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  AMBER_TRY_ASSIGN(PoolRef pool, manager->create_transient(xml, flags));
  write_pool(reply, pool);
  return {};
}

Result<void> storage_pool_define_xml(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(std::string xml, arg_string(args, "xml"));
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, "STORAGE_POOL_DEFINE_XML"));
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  AMBER_TRY_ASSIGN(PoolRef pool, manager->define(xml, flags));
  write_pool(reply, pool);
  return {};
}

Result<void> storage_pool_create(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(PoolArgs in, read_pool_args(args, "STORAGE_POOL_CREATE", HasFlags::kYes));
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  return manager->start(in.pool.uuid, in.flags);
}

Result<void> storage_pool_build(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(PoolArgs in, read_pool_args(args, "STORAGE_POOL_BUILD", HasFlags::kYes));
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  return manager->build(in.pool.uuid, in.flags);
}

Result<void> storage_pool_destroy(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(PoolArgs in, read_pool_args(args, "STORAGE_POOL_DESTROY", HasFlags::kNo));
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  return manager->destroy(in.pool.uuid);
}

Result<void> storage_pool_delete(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(PoolArgs in, read_pool_args(args, "STORAGE_POOL_DELETE", HasFlags::kYes));
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  return manager->remove(in.pool.uuid, in.flags);
}

Result<void> storage_pool_undefine(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(PoolArgs in, read_pool_args(args, "STORAGE_POOL_UNDEFINE", HasFlags::kNo));
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  return manager->undefine(in.pool.uuid);
}

Result<void> storage_pool_refresh(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(PoolArgs in, read_pool_args(args, "STORAGE_POOL_REFRESH", HasFlags::kYes));
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  return manager->refresh(in.pool.uuid);
}

Result<void> storage_pool_lookup_by_name(Connection& connection, XdrReader& args,
                                         XdrWriter& reply) {
  AMBER_TRY_ASSIGN(std::string name, arg_string(args, "name"));
  AMBER_TRY(arg_end(args, "STORAGE_POOL_LOOKUP_BY_NAME"));
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  AMBER_TRY_ASSIGN(PoolRef pool, manager->lookup_by_name(name));
  write_pool(reply, pool);
  return {};
}

Result<void> storage_pool_lookup_by_uuid(Connection& connection, XdrReader& args,
                                         XdrWriter& reply) {
  AMBER_TRY_ASSIGN(xml::Uuid uuid, read_uuid(args));
  AMBER_TRY(arg_end(args, "STORAGE_POOL_LOOKUP_BY_UUID"));
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  AMBER_TRY_ASSIGN(PoolRef pool, manager->lookup_by_uuid(uuid));
  write_pool(reply, pool);
  return {};
}

Result<void> storage_pool_lookup_by_volume(Connection& connection, XdrReader& args,
                                           XdrWriter& reply) {
  AMBER_TRY_ASSIGN(storage::VolumeRef volume, read_volume(args));
  AMBER_TRY(arg_end(args, "STORAGE_POOL_LOOKUP_BY_VOLUME"));
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  AMBER_TRY_ASSIGN(PoolRef pool, manager->pool_of_volume(volume));
  write_pool(reply, pool);
  return {};
}

Result<void> storage_pool_lookup_by_target_path(Connection& connection, XdrReader& args,
                                                XdrWriter& reply) {
  AMBER_TRY_ASSIGN(std::string path, arg_string(args, "path"));
  AMBER_TRY(arg_end(args, "STORAGE_POOL_LOOKUP_BY_TARGET_PATH"));
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  AMBER_TRY_ASSIGN(PoolRef pool, manager->lookup_by_target_path(path));
  write_pool(reply, pool);
  return {};
}

Result<void> storage_pool_get_info(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(PoolArgs in, read_pool_args(args, "STORAGE_POOL_GET_INFO", HasFlags::kNo));
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  AMBER_TRY_ASSIGN(storage::PoolInfo info, manager->info(in.pool.uuid));
  reply.write_u32(static_cast<uint32_t>(info.state));  // u_char: one XDR word
  reply.write_u64(info.capacity);
  reply.write_u64(info.allocation);
  reply.write_u64(info.available);
  return {};
}

Result<void> storage_pool_get_xml_desc(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(PoolArgs in, read_pool_args(args, "STORAGE_POOL_GET_XML_DESC", HasFlags::kYes));
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  AMBER_TRY_ASSIGN(std::string xml, manager->xml_desc(in.pool.uuid, in.flags));
  reply.write_string(xml);
  return {};
}

Result<void> storage_pool_get_autostart(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(PoolArgs in, read_pool_args(args, "STORAGE_POOL_GET_AUTOSTART", HasFlags::kNo));
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  AMBER_TRY_ASSIGN(bool autostart, manager->autostart(in.pool.uuid));
  reply.write_i32(autostart ? 1 : 0);
  return {};
}

Result<void> storage_pool_set_autostart(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(PoolRef pool, read_pool(args));
  AMBER_TRY_ASSIGN(int32_t autostart, arg_i32(args, "autostart"));
  AMBER_TRY(arg_end(args, "STORAGE_POOL_SET_AUTOSTART"));
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  return manager->set_autostart(pool.uuid, autostart != 0);
}

Result<void> storage_pool_is_active(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(PoolArgs in, read_pool_args(args, "STORAGE_POOL_IS_ACTIVE", HasFlags::kNo));
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  AMBER_TRY_ASSIGN(PoolSummary summary, manager->summary(in.pool.uuid));
  reply.write_i32(summary.active ? 1 : 0);
  return {};
}

Result<void> storage_pool_is_persistent(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(PoolArgs in, read_pool_args(args, "STORAGE_POOL_IS_PERSISTENT", HasFlags::kNo));
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  AMBER_TRY_ASSIGN(PoolSummary summary, manager->summary(in.pool.uuid));
  reply.write_i32(summary.persistent ? 1 : 0);
  return {};
}

}  // namespace amber::driver::dispatch
