// SPDX-License-Identifier: GPL-2.0-or-later
// The domain REMOTE procedures: each decodes its arguments, calls one
// vm::Manager method (driver/vm/manager.h) and encodes the reply. Domains
// are addressed by the UUID of the remote_nonnull_domain the client sends
// (its id and name may be stale). Files: domain_list.cpp (lookups, lists),
// domain_lifecycle.cpp (define, start, stop), domain_query.cpp (state,
// XML, block devices, metadata), domain_stats.cpp (typed-parameter stats),
// domain_desktop.cpp (screenshot, network interfaces).
//
// Thread-safety: called by the dispatcher on worker threads; the manager
// serialises per domain.
#pragma once

#include <vector>

#include "driver/dispatch/domain_xdr.h"
#include "driver/protocol/procedure.h"
#include "driver/vm/manager.h"

namespace amber::driver::dispatch {

using protocol::Connection;
using rpc::XdrReader;
using rpc::XdrWriter;

#define AMBER_DOMAIN_HANDLER(name) \
  Result<void> name(Connection& connection, XdrReader& args, XdrWriter& reply)

// domain_desktop.cpp
AMBER_DOMAIN_HANDLER(domain_screenshot);
AMBER_DOMAIN_HANDLER(domain_open_graphics_fd);
AMBER_DOMAIN_HANDLER(domain_interface_stats);
AMBER_DOMAIN_HANDLER(domain_interface_addresses);

// domain_list.cpp
AMBER_DOMAIN_HANDLER(domain_lookup_by_name);
AMBER_DOMAIN_HANDLER(domain_lookup_by_uuid);
AMBER_DOMAIN_HANDLER(domain_lookup_by_id);
AMBER_DOMAIN_HANDLER(num_of_domains);
AMBER_DOMAIN_HANDLER(num_of_defined_domains);
AMBER_DOMAIN_HANDLER(list_domains);
AMBER_DOMAIN_HANDLER(list_defined_domains);
AMBER_DOMAIN_HANDLER(list_all_domains);

// domain_lifecycle.cpp
AMBER_DOMAIN_HANDLER(domain_define_xml);
AMBER_DOMAIN_HANDLER(domain_define_xml_flags);
AMBER_DOMAIN_HANDLER(domain_undefine);
AMBER_DOMAIN_HANDLER(domain_undefine_flags);
AMBER_DOMAIN_HANDLER(domain_create);
AMBER_DOMAIN_HANDLER(domain_create_with_flags);
AMBER_DOMAIN_HANDLER(domain_create_xml);
AMBER_DOMAIN_HANDLER(domain_destroy);
AMBER_DOMAIN_HANDLER(domain_destroy_flags);
AMBER_DOMAIN_HANDLER(domain_shutdown);
AMBER_DOMAIN_HANDLER(domain_shutdown_flags);
AMBER_DOMAIN_HANDLER(domain_send_key);
AMBER_DOMAIN_HANDLER(domain_reboot);
AMBER_DOMAIN_HANDLER(domain_reset);
AMBER_DOMAIN_HANDLER(domain_attach_device);
AMBER_DOMAIN_HANDLER(domain_attach_device_flags);
AMBER_DOMAIN_HANDLER(domain_update_device_flags);
AMBER_DOMAIN_HANDLER(domain_suspend);
AMBER_DOMAIN_HANDLER(domain_resume);
AMBER_DOMAIN_HANDLER(domain_set_autostart);
AMBER_DOMAIN_HANDLER(domain_set_metadata);

// domain_query.cpp
AMBER_DOMAIN_HANDLER(domain_get_info);
AMBER_DOMAIN_HANDLER(domain_get_state);
AMBER_DOMAIN_HANDLER(domain_get_xml_desc);
AMBER_DOMAIN_HANDLER(domain_is_active);
AMBER_DOMAIN_HANDLER(domain_is_persistent);
AMBER_DOMAIN_HANDLER(domain_is_updated);
AMBER_DOMAIN_HANDLER(domain_get_autostart);
AMBER_DOMAIN_HANDLER(domain_get_metadata);
AMBER_DOMAIN_HANDLER(domain_get_vcpus_flags);
AMBER_DOMAIN_HANDLER(domain_get_max_memory);
AMBER_DOMAIN_HANDLER(domain_get_os_type);
AMBER_DOMAIN_HANDLER(domain_get_block_info);
AMBER_DOMAIN_HANDLER(domain_get_disk_errors);
AMBER_DOMAIN_HANDLER(domain_get_control_info);
AMBER_DOMAIN_HANDLER(domain_has_managed_save_image);

// domain_stats.cpp
AMBER_DOMAIN_HANDLER(domain_block_stats);
AMBER_DOMAIN_HANDLER(domain_block_stats_flags);
AMBER_DOMAIN_HANDLER(get_all_domain_stats);

#undef AMBER_DOMAIN_HANDLER

// Whether SUMMARY passes every VIR_CONNECT_LIST_DOMAINS_* filter in FLAGS
// (within each pair or group, a domain passes when it matches one of the
// set flags; a group with no flag set passes everything).
bool matches_list_flags(const vm::DomainSummary& summary, unsigned flags);

// The VIR_DOMAIN_STATS_* groups in STATS (0: all we have) of one domain, as
// CONNECT_GET_ALL_DOMAIN_STATS sends them. Queries that need a running VM
// are skipped for an inactive one.
std::vector<TypedParam> domain_stats(vm::Manager& manager, const vm::DomainSummary& summary,
                                     unsigned stats);

}  // namespace amber::driver::dispatch
