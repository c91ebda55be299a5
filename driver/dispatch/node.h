// SPDX-License-Identifier: GPL-2.0-or-later
// Node-level REMOTE procedures: NODE_GET_INFO from /proc/cpuinfo and
// sysconf, and CONNECT_GET_CAPABILITIES.
//
// Thread-safety: called by the dispatcher; reads only host files.
#pragma once

#include "driver/protocol/procedure.h"

namespace amber::driver::dispatch {

Result<void> node_get_info(protocol::Connection& connection, rpc::XdrReader& args,
                           rpc::XdrWriter& reply);

// TODO: switch to xml/capabilities (branch h-xml) once merged.
Result<void> get_capabilities(protocol::Connection& connection, rpc::XdrReader& args,
                              rpc::XdrWriter& reply);

}  // namespace amber::driver::dispatch
