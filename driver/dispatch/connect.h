// SPDX-License-Identifier: GPL-2.0-or-later
// Connect-level REMOTE procedures: the handshake virsh performs (auth list,
// feature probes, open/close) and the simple host queries. Domain lists are
// in dispatch/domain.h.
//
// Thread-safety: called by the dispatcher with the connection's mutex held.
#pragma once

#include "driver/protocol/procedure.h"

namespace amber::driver::dispatch {

using protocol::Connection;
using rpc::XdrReader;
using rpc::XdrWriter;

Result<void> auth_list(Connection& connection, XdrReader& args, XdrWriter& reply);
Result<void> supports_feature(Connection& connection, XdrReader& args, XdrWriter& reply);
Result<void> connect_open(Connection& connection, XdrReader& args, XdrWriter& reply);
Result<void> connect_close(Connection& connection, XdrReader& args, XdrWriter& reply);
Result<void> get_type(Connection& connection, XdrReader& args, XdrWriter& reply);
Result<void> get_version(Connection& connection, XdrReader& args, XdrWriter& reply);
Result<void> get_lib_version(Connection& connection, XdrReader& args, XdrWriter& reply);
Result<void> get_hostname(Connection& connection, XdrReader& args, XdrWriter& reply);
Result<void> get_uri(Connection& connection, XdrReader& args, XdrWriter& reply);
Result<void> register_close_callback(Connection& connection, XdrReader& args, XdrWriter& reply);
Result<void> unregister_close_callback(Connection& connection, XdrReader& args, XdrWriter& reply);

}  // namespace amber::driver::dispatch
