// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/dispatch/snapshot.h"

#include <libvirt/libvirt.h>

#include <algorithm>

#include "driver/dispatch/domain_xdr.h"
#include "driver/protocol/limits.h"
#include "driver/snapshot/service.h"

namespace amber::driver::dispatch {

namespace {

// REMOTE_DOMAIN_SNAPSHOT_LIST_MAX.
constexpr uint32_t kSnapshotListMax = 16384;

struct SnapshotRef {
  std::string name;
  vm::DomainRef domain;
};

Result<SnapshotRef> read_snapshot(XdrReader& args) {
  SnapshotRef ref;
  AMBER_TRY_ASSIGN(ref.name, arg_string(args, "snap.name"));
  AMBER_TRY_ASSIGN(ref.domain, read_domain(args));
  return ref;
}

void write_snapshot(XdrWriter& reply, const std::string& name, const vm::DomainRef& domain) {
  reply.write_string(name);
  write_domain(reply, domain);
}

struct Context {
  snapshot::Service* service;
  vm::DomainRef domain;  // fresh from the manager (id, name)
  std::string name;      // the store's key
};

Result<Context> context(const Connection& connection, const xml::Uuid& uuid) {
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  if (connection.daemon->snapshots == nullptr) {
    return Error(ErrorKind::kUnsupported, "domain snapshots are not enabled in this daemon");
  }
  AMBER_TRY_ASSIGN(vm::DomainRef domain, manager->lookup_by_uuid(uuid));
  return Context{connection.daemon->snapshots, domain, domain.name};
}

Result<void> check_flags(uint32_t flags, uint32_t allowed, std::string_view procedure) {
  if ((flags & ~allowed) == 0) return ok();
  char text[16];
  std::snprintf(text, sizeof text, "0x%x", flags & ~allowed);
  return Error(ErrorKind::kInvalidArgument,
               "unsupported flags (" + std::string(text) + ") in " + std::string(procedure));
}

constexpr uint32_t kFilterFlags =
    VIR_DOMAIN_SNAPSHOT_LIST_LEAVES | VIR_DOMAIN_SNAPSHOT_LIST_NO_LEAVES |
    VIR_DOMAIN_SNAPSHOT_LIST_METADATA | VIR_DOMAIN_SNAPSHOT_LIST_NO_METADATA |
    VIR_DOMAIN_SNAPSHOT_LIST_INACTIVE | VIR_DOMAIN_SNAPSHOT_LIST_ACTIVE |
    VIR_DOMAIN_SNAPSHOT_LIST_DISK_ONLY | VIR_DOMAIN_SNAPSHOT_LIST_INTERNAL |
    VIR_DOMAIN_SNAPSHOT_LIST_EXTERNAL | VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL;
constexpr uint32_t kListFlags = kFilterFlags | VIR_DOMAIN_SNAPSHOT_LIST_ROOTS;

// libvirt's virDomainMomentObjListFilter: within each group a snapshot
// passes when it matches one set flag; a group with none set passes all.
// Every snapshot here has metadata, was of a shut-off domain, and is
// internal.
bool passes(const snapshot::Store& store, const std::string& domain, const xml::DomainSnapshot& s,
            uint32_t flags) {
  if ((flags & (VIR_DOMAIN_SNAPSHOT_LIST_LEAVES | VIR_DOMAIN_SNAPSHOT_LIST_NO_LEAVES)) != 0) {
    const bool leaf = store.children(domain, s.name, false).empty();
    if (!(leaf ? flags & VIR_DOMAIN_SNAPSHOT_LIST_LEAVES
               : flags & VIR_DOMAIN_SNAPSHOT_LIST_NO_LEAVES)) {
      return false;
    }
  }
  if ((flags & (VIR_DOMAIN_SNAPSHOT_LIST_METADATA | VIR_DOMAIN_SNAPSHOT_LIST_NO_METADATA)) != 0 &&
      (flags & VIR_DOMAIN_SNAPSHOT_LIST_METADATA) == 0) {
    return false;
  }
  constexpr uint32_t kState = VIR_DOMAIN_SNAPSHOT_LIST_INACTIVE | VIR_DOMAIN_SNAPSHOT_LIST_ACTIVE |
                              VIR_DOMAIN_SNAPSHOT_LIST_DISK_ONLY;
  if ((flags & kState) != 0 && (flags & VIR_DOMAIN_SNAPSHOT_LIST_INACTIVE) == 0) return false;
  constexpr uint32_t kLocation =
      VIR_DOMAIN_SNAPSHOT_LIST_INTERNAL | VIR_DOMAIN_SNAPSHOT_LIST_EXTERNAL;
  if ((flags & kLocation) != 0 && (flags & VIR_DOMAIN_SNAPSHOT_LIST_INTERNAL) == 0) return false;
  return true;
}

// The domain's snapshots (ROOTS: only those without a parent) that pass.
std::vector<std::string> domain_snapshots(const Context& c, uint32_t flags) {
  std::vector<std::string> out;
  const snapshot::Store& store = c.service->store();
  for (const xml::DomainSnapshot& s : store.list(c.name)) {
    if ((flags & VIR_DOMAIN_SNAPSHOT_LIST_ROOTS) != 0 && s.parent) continue;
    if (passes(store, c.name, s, flags)) out.push_back(s.name);
  }
  return out;
}

// The children (DESCENDANTS: all descendants) of NAME that pass.
Result<std::vector<std::string>> child_snapshots(const Context& c, const std::string& name,
                                                 uint32_t flags) {
  snapshot::Store& store = c.service->store();
  AMBER_TRY(store.find(c.name, name));
  std::vector<std::string> out;
  const bool all = (flags & VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS) != 0;
  for (const std::string& child : store.children(c.name, name, all)) {
    AMBER_TRY_ASSIGN(xml::DomainSnapshot s, store.find(c.name, child));
    if (passes(store, c.name, s, flags)) out.push_back(child);
  }
  return out;
}

Result<void> write_names(XdrWriter& reply, std::vector<std::string> names, int32_t maxnames) {
  if (maxnames < 0 || static_cast<uint32_t>(maxnames) > kSnapshotListMax) {
    return Error(ErrorKind::kInvalidArgument,
                 "maxnames must be between 0 and " + std::to_string(kSnapshotListMax));
  }
  if (names.size() > static_cast<size_t>(maxnames)) names.resize(static_cast<size_t>(maxnames));
  reply.write_u32(static_cast<uint32_t>(names.size()));
  for (const std::string& n : names) reply.write_string(n);
  return ok();
}

void write_all(XdrWriter& reply, const Context& c, const std::vector<std::string>& names,
               int32_t need_results) {
  if (need_results != 0) {
    reply.write_u32(static_cast<uint32_t>(std::min<size_t>(names.size(), kSnapshotListMax)));
    for (size_t i = 0; i < names.size() && i < kSnapshotListMax; ++i) {
      write_snapshot(reply, names[i], c.domain);
    }
  } else {
    reply.write_u32(0);
  }
  reply.write_i32(static_cast<int32_t>(names.size()));
}

struct DomainFlags {
  Context c;
  uint32_t flags = 0;
};

Result<DomainFlags> domain_flags(Connection& connection, XdrReader& args,
                                 std::string_view procedure) {
  AMBER_TRY_ASSIGN(vm::DomainRef domain, read_domain(args));
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, procedure));
  AMBER_TRY_ASSIGN(Context c, context(connection, domain.uuid));
  return DomainFlags{std::move(c), flags};
}

struct SnapshotFlags {
  Context c;
  std::string snapshot;
  uint32_t flags = 0;
};

// A snapshot argument and flags; the snapshot must exist.
Result<SnapshotFlags> snapshot_flags(Connection& connection, XdrReader& args,
                                     std::string_view procedure) {
  AMBER_TRY_ASSIGN(SnapshotRef ref, read_snapshot(args));
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, procedure));
  AMBER_TRY_ASSIGN(Context c, context(connection, ref.domain.uuid));
  AMBER_TRY(c.service->store().find(c.name, ref.name));
  return SnapshotFlags{std::move(c), ref.name, flags};
}

}  // namespace

Result<void> domain_snapshot_create_xml(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(vm::DomainRef domain, read_domain(args));
  AMBER_TRY_ASSIGN(std::string xml, arg_string(args, "xml_desc"));
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, "DOMAIN_SNAPSHOT_CREATE_XML"));
  AMBER_TRY_ASSIGN(Context c, context(connection, domain.uuid));
  AMBER_TRY_ASSIGN(std::string name, c.service->create(domain.uuid, xml, flags));
  write_snapshot(reply, name, c.domain);
  return ok();
}

Result<void> domain_snapshot_get_xml_desc(Connection& connection, XdrReader& args,
                                          XdrWriter& reply) {
  AMBER_TRY_ASSIGN(SnapshotFlags in,
                   snapshot_flags(connection, args, "DOMAIN_SNAPSHOT_GET_XML_DESC"));
  AMBER_TRY(check_flags(in.flags, VIR_DOMAIN_SNAPSHOT_XML_SECURE, "DOMAIN_SNAPSHOT_GET_XML_DESC"));
  AMBER_TRY_ASSIGN(xml::DomainSnapshot s, in.c.service->store().find(in.c.name, in.snapshot));
  s.active.reset();  // the internal current marker is not public XML
  reply.write_string(xml::format_snapshot(s));
  return ok();
}

Result<void> domain_snapshot_num(Connection& connection, XdrReader& args, XdrWriter& reply) {
  if (connection.daemon != nullptr && connection.daemon->snapshots == nullptr) {
    // A daemon without snapshot support has none to count.
    AMBER_TRY_ASSIGN(vm::DomainRef domain, read_domain(args));
    AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
    AMBER_TRY(manager->lookup_by_uuid(domain.uuid));
    reply.write_i32(0);
    return ok();
  }
  AMBER_TRY_ASSIGN(DomainFlags in, domain_flags(connection, args, "DOMAIN_SNAPSHOT_NUM"));
  AMBER_TRY(check_flags(in.flags, kListFlags, "DOMAIN_SNAPSHOT_NUM"));
  reply.write_i32(static_cast<int32_t>(domain_snapshots(in.c, in.flags).size()));
  return ok();
}

Result<void> domain_snapshot_list_names(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(vm::DomainRef domain, read_domain(args));
  AMBER_TRY_ASSIGN(int32_t maxnames, arg_i32(args, "maxnames"));
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, "DOMAIN_SNAPSHOT_LIST_NAMES"));
  AMBER_TRY(check_flags(flags, kListFlags, "DOMAIN_SNAPSHOT_LIST_NAMES"));
  AMBER_TRY_ASSIGN(Context c, context(connection, domain.uuid));
  return write_names(reply, domain_snapshots(c, flags), maxnames);
}

Result<void> domain_snapshot_lookup_by_name(Connection& connection, XdrReader& args,
                                            XdrWriter& reply) {
  AMBER_TRY_ASSIGN(vm::DomainRef domain, read_domain(args));
  AMBER_TRY_ASSIGN(std::string name, arg_string(args, "name"));
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, "DOMAIN_SNAPSHOT_LOOKUP_BY_NAME"));
  AMBER_TRY(check_flags(flags, 0, "DOMAIN_SNAPSHOT_LOOKUP_BY_NAME"));
  AMBER_TRY_ASSIGN(Context c, context(connection, domain.uuid));
  AMBER_TRY(c.service->store().find(c.name, name));
  write_snapshot(reply, name, c.domain);
  return ok();
}

Result<void> domain_has_current_snapshot(Connection& connection, XdrReader& args,
                                         XdrWriter& reply) {
  AMBER_TRY_ASSIGN(DomainFlags in, domain_flags(connection, args, "DOMAIN_HAS_CURRENT_SNAPSHOT"));
  AMBER_TRY(check_flags(in.flags, 0, "DOMAIN_HAS_CURRENT_SNAPSHOT"));
  reply.write_i32(in.c.service->store().current(in.c.name) ? 1 : 0);
  return ok();
}

Result<void> domain_snapshot_current(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(DomainFlags in, domain_flags(connection, args, "DOMAIN_SNAPSHOT_CURRENT"));
  AMBER_TRY(check_flags(in.flags, 0, "DOMAIN_SNAPSHOT_CURRENT"));
  auto current = in.c.service->store().current(in.c.name);
  if (!current) {
    return Error(ErrorKind::kNotFound, "the domain does not have a current snapshot");
  }
  write_snapshot(reply, *current, in.c.domain);
  return ok();
}

Result<void> domain_revert_to_snapshot(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(SnapshotFlags in, snapshot_flags(connection, args, "DOMAIN_REVERT_TO_SNAPSHOT"));
  return in.c.service->revert(in.c.domain.uuid, in.snapshot, in.flags);
}

Result<void> domain_snapshot_delete(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(SnapshotFlags in, snapshot_flags(connection, args, "DOMAIN_SNAPSHOT_DELETE"));
  return in.c.service->remove(in.c.domain.uuid, in.snapshot, in.flags);
}

Result<void> domain_snapshot_get_parent(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(SnapshotFlags in,
                   snapshot_flags(connection, args, "DOMAIN_SNAPSHOT_GET_PARENT"));
  AMBER_TRY(check_flags(in.flags, 0, "DOMAIN_SNAPSHOT_GET_PARENT"));
  AMBER_TRY_ASSIGN(xml::DomainSnapshot s, in.c.service->store().find(in.c.name, in.snapshot));
  if (!s.parent || !in.c.service->store().find(in.c.name, *s.parent).ok()) {
    return Error(ErrorKind::kNotFound, "snapshot '" + in.snapshot + "' does not have a parent");
  }
  write_snapshot(reply, *s.parent, in.c.domain);
  return ok();
}

Result<void> domain_snapshot_num_children(Connection& connection, XdrReader& args,
                                          XdrWriter& reply) {
  AMBER_TRY_ASSIGN(SnapshotFlags in,
                   snapshot_flags(connection, args, "DOMAIN_SNAPSHOT_NUM_CHILDREN"));
  AMBER_TRY(check_flags(in.flags, kListFlags, "DOMAIN_SNAPSHOT_NUM_CHILDREN"));
  AMBER_TRY_ASSIGN(auto names, child_snapshots(in.c, in.snapshot, in.flags));
  reply.write_i32(static_cast<int32_t>(names.size()));
  return ok();
}

Result<void> domain_snapshot_list_children_names(Connection& connection, XdrReader& args,
                                                 XdrWriter& reply) {
  AMBER_TRY_ASSIGN(SnapshotRef ref, read_snapshot(args));
  AMBER_TRY_ASSIGN(int32_t maxnames, arg_i32(args, "maxnames"));
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, "DOMAIN_SNAPSHOT_LIST_CHILDREN_NAMES"));
  AMBER_TRY(check_flags(flags, kListFlags, "DOMAIN_SNAPSHOT_LIST_CHILDREN_NAMES"));
  AMBER_TRY_ASSIGN(Context c, context(connection, ref.domain.uuid));
  AMBER_TRY_ASSIGN(auto names, child_snapshots(c, ref.name, flags));
  return write_names(reply, std::move(names), maxnames);
}

Result<void> domain_snapshot_is_current(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(SnapshotFlags in,
                   snapshot_flags(connection, args, "DOMAIN_SNAPSHOT_IS_CURRENT"));
  AMBER_TRY(check_flags(in.flags, 0, "DOMAIN_SNAPSHOT_IS_CURRENT"));
  reply.write_i32(in.c.service->store().current(in.c.name) == in.snapshot ? 1 : 0);
  return ok();
}

Result<void> domain_snapshot_has_metadata(Connection& connection, XdrReader& args,
                                          XdrWriter& reply) {
  AMBER_TRY_ASSIGN(SnapshotFlags in,
                   snapshot_flags(connection, args, "DOMAIN_SNAPSHOT_HAS_METADATA"));
  AMBER_TRY(check_flags(in.flags, 0, "DOMAIN_SNAPSHOT_HAS_METADATA"));
  reply.write_i32(1);  // a snapshot without metadata cannot be looked up
  return ok();
}

Result<void> domain_list_all_snapshots(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(vm::DomainRef domain, read_domain(args));
  AMBER_TRY_ASSIGN(int32_t need_results, arg_i32(args, "need_results"));
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, "DOMAIN_LIST_ALL_SNAPSHOTS"));
  AMBER_TRY(check_flags(flags, kListFlags, "DOMAIN_LIST_ALL_SNAPSHOTS"));
  if (connection.daemon != nullptr && connection.daemon->snapshots == nullptr) {
    AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
    AMBER_TRY(manager->lookup_by_uuid(domain.uuid));
    reply.write_u32(0);  // none without snapshot support
    reply.write_i32(0);
    return ok();
  }
  AMBER_TRY_ASSIGN(Context c, context(connection, domain.uuid));
  write_all(reply, c, domain_snapshots(c, flags), need_results);
  return ok();
}

Result<void> domain_snapshot_list_all_children(Connection& connection, XdrReader& args,
                                               XdrWriter& reply) {
  AMBER_TRY_ASSIGN(SnapshotRef ref, read_snapshot(args));
  AMBER_TRY_ASSIGN(int32_t need_results, arg_i32(args, "need_results"));
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, "DOMAIN_SNAPSHOT_LIST_ALL_CHILDREN"));
  AMBER_TRY(check_flags(flags, kListFlags, "DOMAIN_SNAPSHOT_LIST_ALL_CHILDREN"));
  AMBER_TRY_ASSIGN(Context c, context(connection, ref.domain.uuid));
  AMBER_TRY_ASSIGN(auto names, child_snapshots(c, ref.name, flags));
  write_all(reply, c, names, need_results);
  return ok();
}

Result<void> undefine_with_snapshots(Connection& connection, vm::Manager& manager,
                                     const xml::Uuid& uuid, unsigned flags) {
  snapshot::Service* service = connection.daemon->snapshots;
  if (service == nullptr) return manager.undefine(uuid, flags);
  AMBER_TRY_ASSIGN(vm::DomainRef domain, manager.lookup_by_uuid(uuid));
  AMBER_TRY_ASSIGN(bool active, manager.is_active(uuid));
  const size_t count = service->store().count(domain.name);
  // libvirt checks only an inactive domain: a running one becomes
  // transient and keeps its snapshots.
  const bool drop = !active && count != 0;
  if (drop && (flags & VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA) == 0) {
    return Error(ErrorKind::kLocked,
                 "cannot delete inactive domain with " + std::to_string(count) + " snapshots");
  }
  AMBER_TRY(manager.undefine(uuid, flags));
  if (drop) AMBER_TRY(service->store().remove_all(domain.name));
  return ok();
}

}  // namespace amber::driver::dispatch
