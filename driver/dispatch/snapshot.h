// SPDX-License-Identifier: GPL-2.0-or-later
// The domain snapshot procedures (virsh snapshot-*, virDomainSnapshot* in
// python3-libvirt): create, lookups, the list and tree calls, XML,
// revert and delete. The work is driver/snapshot/service.h's; errors use
// ErrorFamily::kSnapshot (VIR_ERR_NO_DOMAIN_SNAPSHOT for an unknown name).
// Also the snapshot check of DOMAIN_UNDEFINE(_FLAGS): an inactive domain
// with snapshot metadata is refused without
// VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA, as libvirt's QEMU driver does.
//
// Thread-safety: called by the dispatcher; see procedure.h.
#pragma once

#include "driver/protocol/procedure.h"
#include "driver/vm/manager.h"

namespace amber::driver::dispatch {

using protocol::Connection;
using rpc::XdrReader;
using rpc::XdrWriter;

#define AMBER_SNAPSHOT_HANDLER(name) \
  Result<void> name(Connection& connection, XdrReader& args, XdrWriter& reply)
AMBER_SNAPSHOT_HANDLER(domain_snapshot_create_xml);
AMBER_SNAPSHOT_HANDLER(domain_snapshot_get_xml_desc);
AMBER_SNAPSHOT_HANDLER(domain_snapshot_num);
AMBER_SNAPSHOT_HANDLER(domain_snapshot_list_names);
AMBER_SNAPSHOT_HANDLER(domain_snapshot_lookup_by_name);
AMBER_SNAPSHOT_HANDLER(domain_has_current_snapshot);
AMBER_SNAPSHOT_HANDLER(domain_snapshot_current);
AMBER_SNAPSHOT_HANDLER(domain_revert_to_snapshot);
AMBER_SNAPSHOT_HANDLER(domain_snapshot_delete);
AMBER_SNAPSHOT_HANDLER(domain_snapshot_get_parent);
AMBER_SNAPSHOT_HANDLER(domain_snapshot_num_children);
AMBER_SNAPSHOT_HANDLER(domain_snapshot_list_children_names);
AMBER_SNAPSHOT_HANDLER(domain_snapshot_is_current);
AMBER_SNAPSHOT_HANDLER(domain_snapshot_has_metadata);
AMBER_SNAPSHOT_HANDLER(domain_list_all_snapshots);
AMBER_SNAPSHOT_HANDLER(domain_snapshot_list_all_children);
#undef AMBER_SNAPSHOT_HANDLER

// Undefines the domain through MANAGER, refusing or dropping its snapshot
// metadata first as FLAGS say (no snapshot service: plain undefine).
Result<void> undefine_with_snapshots(Connection& connection, vm::Manager& manager,
                                     const xml::Uuid& uuid, unsigned flags);

}  // namespace amber::driver::dispatch
