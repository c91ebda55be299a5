// SPDX-License-Identifier: GPL-2.0-or-later
// Object families Amber does not manage but virt-manager and virt-install
// list on connect (networks, host interfaces, node devices, network
// filters): each list is correctly empty. Calls that would need real
// objects or host probing (GET_SYSINFO, BASELINE/COMPARE_CPU, their event
// registrations) are left out of the table, so clients get "unknown
// procedure", which they treat as VIR_ERR_NO_SUPPORT.
//
// Thread-safety: called by the dispatcher; no state.
#pragma once

#include "driver/protocol/procedure.h"

namespace amber::driver::dispatch {

// remote_connect_list_all_{networks,interfaces,node_devices,nwfilters}:
// args {i32 need_results; u32 flags}, ret {T<> items; u32 ret}.
Result<void> list_all_networks(protocol::Connection& connection, rpc::XdrReader& args,
                               rpc::XdrWriter& reply);
Result<void> list_all_interfaces(protocol::Connection& connection, rpc::XdrReader& args,
                                 rpc::XdrWriter& reply);
Result<void> list_all_node_devices(protocol::Connection& connection, rpc::XdrReader& args,
                                   rpc::XdrWriter& reply);
Result<void> list_all_nwfilters(protocol::Connection& connection, rpc::XdrReader& args,
                                rpc::XdrWriter& reply);

// CONNECT_NUM_OF_NETWORKS and NODE_NUM_OF_DEVICES {cap, flags}: 0.
Result<void> num_of_networks(protocol::Connection& connection, rpc::XdrReader& args,
                             rpc::XdrWriter& reply);
Result<void> node_num_of_devices(protocol::Connection& connection, rpc::XdrReader& args,
                                 rpc::XdrWriter& reply);

}  // namespace amber::driver::dispatch
