// SPDX-License-Identifier: GPL-2.0-or-later
// Domain procedures that read: state, info, XML, flags, block devices,
// metadata, and the answers for what Amber does not have (managed save,
// interface addresses) that virsh asks about.
#include <libvirt/libvirt.h>

#include "driver/dispatch/domain.h"

namespace amber::driver::dispatch {

namespace {

Result<vm::DomainRef> domain_only(XdrReader& args, std::string_view procedure) {
  AMBER_TRY_ASSIGN(vm::DomainRef domain, read_domain(args));
  AMBER_TRY(arg_end(args, procedure));
  return domain;
}

struct DomainAndFlags {
  vm::DomainRef domain;
  uint32_t flags = 0;
};

Result<DomainAndFlags> domain_and_flags(XdrReader& args, std::string_view procedure) {
  DomainAndFlags out;
  AMBER_TRY_ASSIGN(out.domain, read_domain(args));
  AMBER_TRY_ASSIGN(out.flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, procedure));
  return out;
}

// An i32 reply from a Result<bool>.
Result<void> write_flag(Result<bool> value, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(bool flag, std::move(value));
  reply.write_i32(flag ? 1 : 0);
  return {};
}

}  // namespace

Result<void> domain_get_info(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(vm::DomainRef domain, domain_only(args, "DOMAIN_GET_INFO"));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  AMBER_TRY_ASSIGN(vm::DomainInfo info, manager->info(domain.uuid));
  reply.write_u32(static_cast<uint32_t>(info.state));
  reply.write_u64(info.max_mem_kib);
  reply.write_u64(info.memory_kib);
  reply.write_u32(info.vcpus);
  reply.write_u64(info.cpu_time_ns);
  return {};
}

Result<void> domain_get_state(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(DomainAndFlags in, domain_and_flags(args, "DOMAIN_GET_STATE"));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  AMBER_TRY_ASSIGN(auto state, manager->state(in.domain.uuid));
  reply.write_i32(state.first);
  reply.write_i32(state.second);
  return {};
}

Result<void> domain_get_xml_desc(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(DomainAndFlags in, domain_and_flags(args, "DOMAIN_GET_XML_DESC"));
  // As libvirt: passwords only for read-write connections.
  if ((in.flags & VIR_DOMAIN_XML_SECURE) && connection.socket == protocol::SocketKind::kReadOnly)
    return Error(ErrorKind::kReadOnly, "virDomainGetXMLDesc with secure flag");
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  AMBER_TRY_ASSIGN(std::string xml, manager->xml_desc(in.domain.uuid, in.flags));
  reply.write_string(xml);
  return {};
}

Result<void> domain_is_active(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(vm::DomainRef domain, domain_only(args, "DOMAIN_IS_ACTIVE"));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  return write_flag(manager->is_active(domain.uuid), reply);
}

Result<void> domain_is_persistent(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(vm::DomainRef domain, domain_only(args, "DOMAIN_IS_PERSISTENT"));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  return write_flag(manager->is_persistent(domain.uuid), reply);
}

Result<void> domain_is_updated(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(vm::DomainRef domain, domain_only(args, "DOMAIN_IS_UPDATED"));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  // Live changes are not possible yet, so a running domain never differs
  // from the config it started with; the lookup still reports unknown ones.
  AMBER_TRY(manager->lookup_by_uuid(domain.uuid));
  reply.write_i32(0);
  return {};
}

Result<void> domain_get_autostart(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(vm::DomainRef domain, domain_only(args, "DOMAIN_GET_AUTOSTART"));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  return write_flag(manager->autostart(domain.uuid), reply);
}

Result<void> domain_get_metadata(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(vm::DomainRef domain, read_domain(args));
  AMBER_TRY_ASSIGN(int32_t type, arg_i32(args, "type"));
  AMBER_TRY_ASSIGN(auto uri, arg_optional_string(args, "uri"));
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, "DOMAIN_GET_METADATA"));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  AMBER_TRY_ASSIGN(std::string value,
                   manager->metadata(domain.uuid, type, uri.value_or(""), flags));
  reply.write_string(value);
  return {};
}

Result<void> domain_get_vcpus_flags(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(DomainAndFlags in, domain_and_flags(args, "DOMAIN_GET_VCPUS_FLAGS"));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  AMBER_TRY_ASSIGN(int count, manager->vcpus_flags(in.domain.uuid, in.flags));
  reply.write_i32(count);
  return {};
}

Result<void> domain_get_max_memory(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(vm::DomainRef domain, domain_only(args, "DOMAIN_GET_MAX_MEMORY"));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  AMBER_TRY_ASSIGN(vm::DomainInfo info, manager->info(domain.uuid));
  reply.write_u64(info.max_mem_kib);
  return {};
}

Result<void> domain_get_os_type(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(vm::DomainRef domain, domain_only(args, "DOMAIN_GET_OS_TYPE"));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  AMBER_TRY(manager->lookup_by_uuid(domain.uuid));
  reply.write_string("hvm");  // the only <os><type> Amber accepts
  return {};
}

Result<void> domain_get_block_info(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(vm::DomainRef domain, read_domain(args));
  AMBER_TRY_ASSIGN(std::string path, arg_string(args, "path"));
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  (void)flags;  // no flags are defined
  AMBER_TRY(arg_end(args, "DOMAIN_GET_BLOCK_INFO"));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  AMBER_TRY_ASSIGN(vm::BlockInfo info, manager->block_info(domain.uuid, path));
  reply.write_u64(info.allocation);
  reply.write_u64(info.capacity);
  reply.write_u64(info.physical);
  return {};
}

Result<void> domain_get_disk_errors(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(vm::DomainRef domain, read_domain(args));
  AMBER_TRY_ASSIGN(uint32_t max_errors, arg_u32(args, "maxerrors"));
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  (void)flags;
  AMBER_TRY(arg_end(args, "DOMAIN_GET_DISK_ERRORS"));
  if (max_errors > kDomainDiskErrorsMax) {
    return Error(ErrorKind::kInvalidArgument,
                 "maxerrors " + std::to_string(max_errors) + " exceeds the maximum");
  }
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  AMBER_TRY_ASSIGN(auto errors, manager->disk_errors(domain.uuid));
  if (max_errors == 0) {  // the client asks for the count first
    reply.write_u32(0);
    reply.write_i32(static_cast<int32_t>(errors.size()));
    return {};
  }
  if (errors.size() > max_errors) errors.resize(max_errors);
  reply.write_u32(static_cast<uint32_t>(errors.size()));
  for (const auto& error : errors) {
    reply.write_string(error.disk);
    reply.write_i32(error.error);
  }
  reply.write_i32(static_cast<int32_t>(errors.size()));
  return {};
}

Result<void> domain_get_control_info(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(DomainAndFlags in, domain_and_flags(args, "DOMAIN_GET_CONTROL_INFO"));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  AMBER_TRY_ASSIGN(bool active, manager->is_active(in.domain.uuid));
  if (!active) return Error(ErrorKind::kLocked, "domain is not running");
  reply.write_u32(VIR_DOMAIN_CONTROL_OK);
  reply.write_u32(0);  // details
  reply.write_u64(0);  // stateTime: no job is running
  return {};
}

Result<void> domain_has_managed_save_image(Connection& connection, XdrReader& args,
                                           XdrWriter& reply) {
  AMBER_TRY_ASSIGN(DomainAndFlags in, domain_and_flags(args, "DOMAIN_HAS_MANAGED_SAVE_IMAGE"));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  AMBER_TRY(manager->lookup_by_uuid(in.domain.uuid));
  reply.write_i32(0);  // no managed save
  return {};
}

}  // namespace amber::driver::dispatch
