// SPDX-License-Identifier: GPL-2.0-or-later
// Domain procedures that change a domain: define, undefine, start, stop,
// pause, autostart and metadata.
#include <libvirt/libvirt.h>

#include "driver/dispatch/domain.h"
#include "driver/dispatch/snapshot.h"

namespace amber::driver::dispatch {

namespace {

// The arguments most lifecycle calls share: the domain, and flags when the
// procedure has them.
struct DomainArgs {
  vm::DomainRef domain;
  uint32_t flags = 0;
};

enum class HasFlags { kNo, kYes };

Result<DomainArgs> read_domain_args(XdrReader& args, std::string_view procedure,
                                    HasFlags has_flags) {
  DomainArgs out;
  AMBER_TRY_ASSIGN(out.domain, read_domain(args));
  if (has_flags == HasFlags::kYes) {
    AMBER_TRY_ASSIGN(out.flags, arg_u32(args, "flags"));
  }
  AMBER_TRY(arg_end(args, procedure));
  return out;
}

Result<void> define(Connection& connection, std::string_view xml, unsigned flags,
                    XdrWriter& reply) {
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  AMBER_TRY_ASSIGN(vm::DomainRef domain, manager->define(xml, flags));
  write_domain(reply, domain);
  return {};
}

Result<void> start(Connection& connection, const DomainArgs& in, XdrWriter* reply) {
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  AMBER_TRY_ASSIGN(vm::DomainRef domain, manager->start(in.domain.uuid, in.flags));
  if (reply != nullptr) write_domain(*reply, domain);
  return {};
}

}  // namespace

Result<void> domain_define_xml(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(std::string xml, arg_string(args, "xml"));
  AMBER_TRY(arg_end(args, "DOMAIN_DEFINE_XML"));
  return define(connection, xml, 0, reply);
}

Result<void> domain_define_xml_flags(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(std::string xml, arg_string(args, "xml"));
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, "DOMAIN_DEFINE_XML_FLAGS"));
  return define(connection, xml, flags, reply);
}

Result<void> domain_undefine(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(DomainArgs in, read_domain_args(args, "DOMAIN_UNDEFINE", HasFlags::kNo));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  return undefine_with_snapshots(connection, *manager, in.domain.uuid, 0);
}

Result<void> domain_undefine_flags(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(DomainArgs in, read_domain_args(args, "DOMAIN_UNDEFINE_FLAGS", HasFlags::kYes));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  return undefine_with_snapshots(connection, *manager, in.domain.uuid, in.flags);
}

Result<void> domain_create(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(DomainArgs in, read_domain_args(args, "DOMAIN_CREATE", HasFlags::kNo));
  return start(connection, in, nullptr);  // the client re-reads the id by UUID
}

Result<void> domain_create_with_flags(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(DomainArgs in,
                   read_domain_args(args, "DOMAIN_CREATE_WITH_FLAGS", HasFlags::kYes));
  return start(connection, in, &reply);
}

Result<void> domain_create_xml(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(std::string xml, arg_string(args, "xml_desc"));
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, "DOMAIN_CREATE_XML"));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  AMBER_TRY_ASSIGN(vm::DomainRef domain, manager->create_transient(xml, flags));
  write_domain(reply, domain);
  return {};
}

Result<void> domain_destroy(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(DomainArgs in, read_domain_args(args, "DOMAIN_DESTROY", HasFlags::kNo));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  return manager->destroy(in.domain.uuid, 0);
}

Result<void> domain_destroy_flags(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(DomainArgs in, read_domain_args(args, "DOMAIN_DESTROY_FLAGS", HasFlags::kYes));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  return manager->destroy(in.domain.uuid, in.flags);
}

Result<void> domain_shutdown(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(DomainArgs in, read_domain_args(args, "DOMAIN_SHUTDOWN", HasFlags::kNo));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  return manager->shutdown(in.domain.uuid, 0);
}

Result<void> domain_shutdown_flags(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(DomainArgs in, read_domain_args(args, "DOMAIN_SHUTDOWN_FLAGS", HasFlags::kYes));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  return manager->shutdown(in.domain.uuid, in.flags);
}

// remote_domain_send_key_args: dom, codeset, holdtime, keycodes<16>, flags.
constexpr uint32_t kSendKeyMax = 16;  // REMOTE_DOMAIN_SEND_KEY_MAX
Result<void> domain_send_key(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(vm::DomainRef domain, read_domain(args));
  AMBER_TRY_ASSIGN(uint32_t codeset, arg_u32(args, "codeset"));
  AMBER_TRY_ASSIGN(uint32_t holdtime, arg_u32(args, "holdtime"));
  auto count = args.read_array_count("keycodes", kSendKeyMax);
  if (!count.ok()) return Error(ErrorKind::kInvalidArgument, count.error().message());
  std::vector<unsigned> keycodes;
  for (uint32_t i = 0; i < *count; ++i) {
    AMBER_TRY_ASSIGN(uint32_t code, arg_u32(args, "keycodes"));
    keycodes.push_back(code);
  }
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, "DOMAIN_SEND_KEY"));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  return manager->send_key(domain.uuid, codeset, holdtime, keycodes, flags);
}

Result<void> domain_reboot(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(DomainArgs in, read_domain_args(args, "DOMAIN_REBOOT", HasFlags::kYes));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  return manager->reboot(in.domain.uuid, in.flags);
}

Result<void> domain_reset(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(DomainArgs in, read_domain_args(args, "DOMAIN_RESET", HasFlags::kYes));
  if (in.flags != 0) {
    return Error(ErrorKind::kInvalidArgument,
                 "unsupported flags (0x" + std::to_string(in.flags) + ") in DOMAIN_RESET");
  }
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  return manager->reset(in.domain.uuid);
}

// virsh attach-device / attach-disk / change-media / update-device: the
// manager changes the medium of an existing IDE CD-ROM (a new <source> or
// none) and refuses every other device change (amber-vmm cannot hotplug).
Result<void> device_change(Connection& connection, XdrReader& args, const char* call,
                           bool has_flags, bool attach) {
  AMBER_TRY_ASSIGN(vm::DomainRef domain, read_domain(args));
  AMBER_TRY_ASSIGN(std::string xml, arg_string(args, "xml"));
  uint32_t flags = 0;
  if (has_flags) {
    AMBER_TRY_ASSIGN(flags, arg_u32(args, "flags"));
  }
  AMBER_TRY(arg_end(args, call));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  return attach ? manager->attach_device(domain.uuid, xml, flags)
                : manager->update_device(domain.uuid, xml, flags);
}

Result<void> domain_attach_device(Connection& connection, XdrReader& args, XdrWriter&) {
  // virDomainAttachDevice: the live domain (VIR_DOMAIN_AFFECT_LIVE).
  return device_change(connection, args, "DOMAIN_ATTACH_DEVICE", false, true);
}

Result<void> domain_attach_device_flags(Connection& connection, XdrReader& args, XdrWriter&) {
  return device_change(connection, args, "DOMAIN_ATTACH_DEVICE_FLAGS", true, true);
}

Result<void> domain_update_device_flags(Connection& connection, XdrReader& args, XdrWriter&) {
  return device_change(connection, args, "DOMAIN_UPDATE_DEVICE_FLAGS", true, false);
}

Result<void> domain_suspend(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(DomainArgs in, read_domain_args(args, "DOMAIN_SUSPEND", HasFlags::kNo));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  return manager->suspend(in.domain.uuid);
}

Result<void> domain_resume(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(DomainArgs in, read_domain_args(args, "DOMAIN_RESUME", HasFlags::kNo));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  return manager->resume(in.domain.uuid);
}

Result<void> domain_set_autostart(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(vm::DomainRef domain, read_domain(args));
  AMBER_TRY_ASSIGN(int32_t autostart, arg_i32(args, "autostart"));
  AMBER_TRY(arg_end(args, "DOMAIN_SET_AUTOSTART"));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  return manager->set_autostart(domain.uuid, autostart != 0);
}

Result<void> domain_set_metadata(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(vm::DomainRef domain, read_domain(args));
  AMBER_TRY_ASSIGN(int32_t type, arg_i32(args, "type"));
  AMBER_TRY_ASSIGN(auto metadata, arg_optional_string(args, "metadata"));
  AMBER_TRY_ASSIGN(auto key, arg_optional_string(args, "key"));
  AMBER_TRY_ASSIGN(auto uri, arg_optional_string(args, "uri"));
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, "DOMAIN_SET_METADATA"));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  return manager->set_metadata(domain.uuid, type, metadata, key.value_or(""), uri.value_or(""),
                               flags);
}

}  // namespace amber::driver::dispatch
