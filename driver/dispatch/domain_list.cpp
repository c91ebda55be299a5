// SPDX-License-Identifier: GPL-2.0-or-later
// Domain lookups and the list procedures (new and legacy forms).
#include <libvirt/libvirt.h>

#include <string>

#include "driver/dispatch/domain.h"
#include "driver/protocol/limits.h"
#include "driver/snapshot/service.h"

namespace amber::driver::dispatch {

namespace {

bool is_active(const vm::DomainSummary& summary) {
  return summary.ref.id != -1;
}

// One group of filter flags: passes when no flag of GROUP is set in FLAGS,
// or when the domain matches one of those that are.
struct FilterGroup {
  unsigned flag_a, flag_b;
  bool (*a)(const vm::DomainSummary&);
  bool (*b)(const vm::DomainSummary&);
};

bool state_other(const vm::DomainSummary& s) {
  return s.state != VIR_DOMAIN_RUNNING && s.state != VIR_DOMAIN_PAUSED &&
         s.state != VIR_DOMAIN_SHUTOFF;
}

Result<uint32_t> checked_max(int32_t max, std::string_view field) {
  if (max < 0 || static_cast<uint32_t>(max) > protocol::kDomainListMax) {
    return Error(ErrorKind::kInvalidArgument,
                 std::string(field) + " " + std::to_string(max) + " out of range");
  }
  return static_cast<uint32_t>(max);
}

}  // namespace

bool matches_list_flags(const vm::DomainSummary& s, unsigned flags) {
  const FilterGroup pairs[] = {
      {VIR_CONNECT_LIST_DOMAINS_ACTIVE, VIR_CONNECT_LIST_DOMAINS_INACTIVE, is_active,
       [](const vm::DomainSummary& d) { return !is_active(d); }},
      {VIR_CONNECT_LIST_DOMAINS_PERSISTENT, VIR_CONNECT_LIST_DOMAINS_TRANSIENT,
       [](const vm::DomainSummary& d) { return d.persistent; },
       [](const vm::DomainSummary& d) { return !d.persistent; }},
      {VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE, VIR_CONNECT_LIST_DOMAINS_NO_MANAGEDSAVE,
       [](const vm::DomainSummary& d) { return d.has_managed_save; },
       [](const vm::DomainSummary& d) { return !d.has_managed_save; }},
      {VIR_CONNECT_LIST_DOMAINS_AUTOSTART, VIR_CONNECT_LIST_DOMAINS_NO_AUTOSTART,
       [](const vm::DomainSummary& d) { return d.autostart; },
       [](const vm::DomainSummary& d) { return !d.autostart; }},
      {VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT, VIR_CONNECT_LIST_DOMAINS_NO_SNAPSHOT,
       [](const vm::DomainSummary& d) { return d.snapshot_count > 0; },
       [](const vm::DomainSummary& d) { return d.snapshot_count == 0; }},
      // Amber has no checkpoints: every domain has none.
      {VIR_CONNECT_LIST_DOMAINS_HAS_CHECKPOINT, VIR_CONNECT_LIST_DOMAINS_NO_CHECKPOINT,
       [](const vm::DomainSummary&) { return false; },
       [](const vm::DomainSummary&) { return true; }},
  };
  for (const auto& group : pairs) {
    if ((flags & (group.flag_a | group.flag_b)) == 0) continue;
    bool pass =
        ((flags & group.flag_a) != 0 && group.a(s)) || ((flags & group.flag_b) != 0 && group.b(s));
    if (!pass) return false;
  }
  constexpr unsigned kStates = VIR_CONNECT_LIST_DOMAINS_RUNNING | VIR_CONNECT_LIST_DOMAINS_PAUSED |
                               VIR_CONNECT_LIST_DOMAINS_SHUTOFF | VIR_CONNECT_LIST_DOMAINS_OTHER;
  if ((flags & kStates) != 0) {
    bool pass = ((flags & VIR_CONNECT_LIST_DOMAINS_RUNNING) && s.state == VIR_DOMAIN_RUNNING) ||
                ((flags & VIR_CONNECT_LIST_DOMAINS_PAUSED) && s.state == VIR_DOMAIN_PAUSED) ||
                ((flags & VIR_CONNECT_LIST_DOMAINS_SHUTOFF) && s.state == VIR_DOMAIN_SHUTOFF) ||
                ((flags & VIR_CONNECT_LIST_DOMAINS_OTHER) && state_other(s));
    if (!pass) return false;
  }
  return true;
}

Result<void> domain_lookup_by_name(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(std::string name, arg_string(args, "name"));
  AMBER_TRY(arg_end(args, "DOMAIN_LOOKUP_BY_NAME"));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  AMBER_TRY_ASSIGN(vm::DomainRef domain, manager->lookup_by_name(name));
  write_domain(reply, domain);
  return {};
}

Result<void> domain_lookup_by_uuid(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(xml::Uuid uuid, read_uuid(args));
  AMBER_TRY(arg_end(args, "DOMAIN_LOOKUP_BY_UUID"));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  AMBER_TRY_ASSIGN(vm::DomainRef domain, manager->lookup_by_uuid(uuid));
  write_domain(reply, domain);
  return {};
}

Result<void> domain_lookup_by_id(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(int32_t id, arg_i32(args, "id"));
  AMBER_TRY(arg_end(args, "DOMAIN_LOOKUP_BY_ID"));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  AMBER_TRY_ASSIGN(vm::DomainRef domain, manager->lookup_by_id(id));
  write_domain(reply, domain);
  return {};
}

Result<void> num_of_domains(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY(arg_end(args, "CONNECT_NUM_OF_DOMAINS"));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  int32_t count = 0;
  for (const auto& summary : manager->list()) count += is_active(summary) ? 1 : 0;
  reply.write_i32(count);
  return {};
}

Result<void> num_of_defined_domains(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY(arg_end(args, "CONNECT_NUM_OF_DEFINED_DOMAINS"));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  int32_t count = 0;
  for (const auto& summary : manager->list()) count += is_active(summary) ? 0 : 1;
  reply.write_i32(count);
  return {};
}

Result<void> list_domains(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(int32_t max, arg_i32(args, "maxids"));
  AMBER_TRY(arg_end(args, "CONNECT_LIST_DOMAINS"));
  AMBER_TRY_ASSIGN(uint32_t limit, checked_max(max, "maxids"));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  std::vector<int32_t> ids;
  for (const auto& summary : manager->list()) {
    if (is_active(summary) && ids.size() < limit) ids.push_back(summary.ref.id);
  }
  reply.write_u32(static_cast<uint32_t>(ids.size()));
  for (int32_t id : ids) reply.write_i32(id);
  return {};
}

Result<void> list_defined_domains(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(int32_t max, arg_i32(args, "maxnames"));
  AMBER_TRY(arg_end(args, "CONNECT_LIST_DEFINED_DOMAINS"));
  AMBER_TRY_ASSIGN(uint32_t limit, checked_max(max, "maxnames"));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  std::vector<std::string> names;
  for (const auto& summary : manager->list()) {
    if (!is_active(summary) && names.size() < limit) names.push_back(summary.ref.name);
  }
  reply.write_u32(static_cast<uint32_t>(names.size()));
  for (const auto& name : names) reply.write_string(name);
  return {};
}

Result<void> list_all_domains(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(int32_t need_results, arg_i32(args, "need_results"));
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, "CONNECT_LIST_ALL_DOMAINS"));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  std::vector<vm::DomainRef> domains;
  snapshot::Service* snapshots = connection.daemon->snapshots;
  for (auto summary : manager->list()) {
    // The snapshot metadata lives beside the manager (snapshot::Store).
    if (snapshots != nullptr) summary.snapshot_count = snapshots->store().count(summary.ref.name);
    if (matches_list_flags(summary, flags)) domains.push_back(summary.ref);
  }
  if (domains.size() > protocol::kDomainListMax) {
    return Error(ErrorKind::kNoSpace, "too many domains for one reply");
  }
  if (need_results != 0) {
    reply.write_u32(static_cast<uint32_t>(domains.size()));
    for (const auto& domain : domains) write_domain(reply, domain);
  } else {
    reply.write_u32(0);
  }
  reply.write_u32(static_cast<uint32_t>(domains.size()));
  return {};
}

}  // namespace amber::driver::dispatch
