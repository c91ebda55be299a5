// SPDX-License-Identifier: GPL-2.0-or-later
// Node-level REMOTE procedures: NODE_GET_INFO from /proc/cpuinfo and
// sysconf, memory and CPU statistics from /proc/meminfo and /proc/stat,
// the vCPU limit, and host and domain capabilities (xml/capabilities.h,
// with the daemon's VMM binary as the emulator). One NUMA cell.
//
// Thread-safety: called by the dispatcher; reads only host files.
#pragma once

#include "driver/protocol/procedure.h"

namespace amber::driver::dispatch {

Result<void> node_get_info(protocol::Connection& connection, rpc::XdrReader& args,
                           rpc::XdrWriter& reply);

Result<void> get_capabilities(protocol::Connection& connection, rpc::XdrReader& args,
                              rpc::XdrWriter& reply);
Result<void> get_domain_capabilities(protocol::Connection& connection, rpc::XdrReader& args,
                                     rpc::XdrWriter& reply);
Result<void> get_max_vcpus(protocol::Connection& connection, rpc::XdrReader& args,
                           rpc::XdrWriter& reply);
Result<void> node_get_memory_stats(protocol::Connection& connection, rpc::XdrReader& args,
                                   rpc::XdrWriter& reply);
Result<void> node_get_cpu_stats(protocol::Connection& connection, rpc::XdrReader& args,
                                rpc::XdrWriter& reply);
Result<void> node_get_free_memory(protocol::Connection& connection, rpc::XdrReader& args,
                                  rpc::XdrWriter& reply);
Result<void> node_get_cells_free_memory(protocol::Connection& connection, rpc::XdrReader& args,
                                        rpc::XdrWriter& reply);

}  // namespace amber::driver::dispatch
