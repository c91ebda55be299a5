// SPDX-License-Identifier: GPL-2.0-or-later
// Storage volume procedures: lists, lookups, create, clone, delete, wipe,
// resize, info, XML and path.
#include <libvirt/libvirt.h>

#include "driver/dispatch/storage.h"

namespace amber::driver::dispatch {

namespace {

using storage::PoolManager;
using storage::PoolRef;
using storage::VolumeRef;

struct VolumeArgs {
  VolumeRef volume;
  uint32_t flags = 0;
};

Result<VolumeArgs> read_volume_args(rpc::XdrReader& args, std::string_view procedure) {
  VolumeArgs out;
  AMBER_TRY_ASSIGN(out.volume, read_volume(args));
  AMBER_TRY_ASSIGN(out.flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, procedure));
  return out;
}

Result<VolumeRef> read_volume_only(rpc::XdrReader& args, std::string_view procedure) {
  AMBER_TRY_ASSIGN(VolumeRef volume, read_volume(args));
  AMBER_TRY(arg_end(args, procedure));
  return volume;
}

Result<void> write_info(Connection& connection, const VolumeRef& volume, rpc::XdrWriter& reply) {
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  AMBER_TRY_ASSIGN(storage::VolumeInfo info, manager->volume_info(volume));
  reply.write_i32(info.type);  // char: one XDR word
  reply.write_u64(info.capacity);
  reply.write_u64(info.allocation);
  return {};
}

}  // namespace

Result<void> storage_pool_num_of_volumes(Connection& connection, XdrReader& args,
                                         XdrWriter& reply) {
  AMBER_TRY_ASSIGN(PoolRef pool, read_pool(args));
  AMBER_TRY(arg_end(args, "STORAGE_POOL_NUM_OF_VOLUMES"));
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  AMBER_TRY_ASSIGN(auto volumes, manager->list_volumes(pool.uuid));
  reply.write_i32(static_cast<int32_t>(std::min<size_t>(volumes.size(), kVolumeListMax)));
  return {};
}

Result<void> storage_pool_list_volumes(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(PoolRef pool, read_pool(args));
  AMBER_TRY_ASSIGN(int32_t max_names, arg_i32(args, "maxnames"));
  AMBER_TRY(arg_end(args, "STORAGE_POOL_LIST_VOLUMES"));
  if (max_names < 0 || static_cast<uint32_t>(max_names) > kVolumeListMax) {
    return Error(ErrorKind::kInvalidArgument,
                 "maxnames " + std::to_string(max_names) + " is out of range");
  }
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  AMBER_TRY_ASSIGN(auto volumes, manager->list_volumes(pool.uuid));
  const size_t count = std::min(volumes.size(), static_cast<size_t>(max_names));
  reply.write_u32(static_cast<uint32_t>(count));  // <= kVolumeListMax
  for (size_t i = 0; i < count; ++i) reply.write_string(volumes[i].name);
  return {};
}

Result<void> storage_pool_list_all_volumes(Connection& connection, XdrReader& args,
                                           XdrWriter& reply) {
  AMBER_TRY_ASSIGN(PoolRef pool, read_pool(args));
  AMBER_TRY_ASSIGN(int32_t need_results, arg_i32(args, "need_results"));
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, "STORAGE_POOL_LIST_ALL_VOLUMES"));
  if (flags != 0) {
    return Error(ErrorKind::kInvalidArgument, "unsupported flags (0x" + std::to_string(flags) +
                                                  ") in STORAGE_POOL_LIST_ALL_VOLUMES");
  }
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  AMBER_TRY_ASSIGN(auto volumes, manager->list_volumes(pool.uuid));
  if (volumes.size() > kVolumeListMax) {
    return Error(ErrorKind::kNoSpace, "too many volumes for one reply");
  }
  if (need_results != 0) {
    reply.write_u32(static_cast<uint32_t>(volumes.size()));
    for (const VolumeRef& volume : volumes) write_volume(reply, volume);
  } else {
    reply.write_u32(0);
  }
  reply.write_u32(static_cast<uint32_t>(volumes.size()));
  return {};
}

Result<void> storage_vol_create_xml(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(PoolRef pool, read_pool(args));
  AMBER_TRY_ASSIGN(std::string xml, arg_string(args, "xml"));
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, "STORAGE_VOL_CREATE_XML"));
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  AMBER_TRY_ASSIGN(VolumeRef volume, manager->create_volume(pool.uuid, xml, flags));
  write_volume(reply, volume);
  return {};
}

Result<void> storage_vol_create_xml_from(Connection& connection, XdrReader& args,
                                         XdrWriter& reply) {
  AMBER_TRY_ASSIGN(PoolRef pool, read_pool(args));
  AMBER_TRY_ASSIGN(std::string xml, arg_string(args, "xml"));
  AMBER_TRY_ASSIGN(VolumeRef source, read_volume(args));
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, "STORAGE_VOL_CREATE_XML_FROM"));
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  AMBER_TRY_ASSIGN(VolumeRef volume, manager->clone_volume(pool.uuid, xml, source, flags));
  write_volume(reply, volume);
  return {};
}

Result<void> storage_vol_delete(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(VolumeArgs in, read_volume_args(args, "STORAGE_VOL_DELETE"));
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  return manager->delete_volume(in.volume, in.flags);
}

Result<void> storage_vol_wipe(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(VolumeArgs in, read_volume_args(args, "STORAGE_VOL_WIPE"));
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  return manager->wipe_volume(in.volume, VIR_STORAGE_VOL_WIPE_ALG_ZERO, in.flags);
}

Result<void> storage_vol_wipe_pattern(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(VolumeRef volume, read_volume(args));
  AMBER_TRY_ASSIGN(uint32_t algorithm, arg_u32(args, "algorithm"));
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, "STORAGE_VOL_WIPE_PATTERN"));
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  return manager->wipe_volume(volume, algorithm, flags);
}

Result<void> storage_vol_resize(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(VolumeRef volume, read_volume(args));
  AMBER_TRY_ASSIGN(uint64_t capacity, args.read_u64("capacity"));
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, "STORAGE_VOL_RESIZE"));
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  return manager->resize_volume(volume, capacity, flags);
}

Result<void> storage_vol_lookup_by_name(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(PoolRef pool, read_pool(args));
  AMBER_TRY_ASSIGN(std::string name, arg_string(args, "name"));
  AMBER_TRY(arg_end(args, "STORAGE_VOL_LOOKUP_BY_NAME"));
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  AMBER_TRY_ASSIGN(VolumeRef volume, manager->lookup_volume(pool.uuid, name));
  write_volume(reply, volume);
  return {};
}

Result<void> storage_vol_lookup_by_key(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(std::string key, arg_string(args, "key"));
  AMBER_TRY(arg_end(args, "STORAGE_VOL_LOOKUP_BY_KEY"));
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  AMBER_TRY_ASSIGN(VolumeRef volume, manager->lookup_volume_by_key(key));
  write_volume(reply, volume);
  return {};
}

Result<void> storage_vol_lookup_by_path(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(std::string path, arg_string(args, "path"));
  AMBER_TRY(arg_end(args, "STORAGE_VOL_LOOKUP_BY_PATH"));
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  AMBER_TRY_ASSIGN(VolumeRef volume, manager->lookup_volume_by_path(path));
  write_volume(reply, volume);
  return {};
}

Result<void> storage_vol_get_info(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(VolumeRef volume, read_volume_only(args, "STORAGE_VOL_GET_INFO"));
  return write_info(connection, volume, reply);
}

Result<void> storage_vol_get_info_flags(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(VolumeArgs in, read_volume_args(args, "STORAGE_VOL_GET_INFO_FLAGS"));
  if (in.flags & VIR_STORAGE_VOL_GET_PHYSICAL) {
    AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
    AMBER_TRY_ASSIGN(storage::VolumeState state, manager->resolve(in.volume.pool, in.volume.name));
    reply.write_i32(VIR_STORAGE_VOL_FILE);
    reply.write_u64(state.capacity);
    reply.write_u64(state.physical);
    return {};
  }
  return write_info(connection, in.volume, reply);
}

Result<void> storage_vol_get_xml_desc(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(VolumeArgs in, read_volume_args(args, "STORAGE_VOL_GET_XML_DESC"));
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  AMBER_TRY_ASSIGN(std::string xml, manager->volume_xml(in.volume, in.flags));
  reply.write_string(xml);
  return {};
}

Result<void> storage_vol_get_path(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(VolumeRef volume, read_volume_only(args, "STORAGE_VOL_GET_PATH"));
  AMBER_TRY_ASSIGN(PoolManager * manager, storage_of(connection));
  AMBER_TRY_ASSIGN(std::string path, manager->volume_path(volume));
  reply.write_string(path);
  return {};
}

}  // namespace amber::driver::dispatch
