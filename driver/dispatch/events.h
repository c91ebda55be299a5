// SPDX-License-Identifier: GPL-2.0-or-later
// Domain event registration procedures: the callback form
// (CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY / _DEREGISTER_ANY, used once
// CONNECT_SUPPORTS_FEATURE says REMOTE_EVENT_CALLBACK) and the legacy forms
// (CONNECT_DOMAIN_EVENT_REGISTER / _DEREGISTER for lifecycle events,
// CONNECT_DOMAIN_EVENT_REGISTER_ANY / _DEREGISTER_ANY). Delivery is
// protocol::ConnectionEvents'.
//
// Thread-safety: called by the dispatcher; see procedure.h.
#pragma once

#include "driver/protocol/procedure.h"

namespace amber::driver::dispatch {

using protocol::Connection;
using rpc::XdrReader;
using rpc::XdrWriter;

Result<void> domain_event_register(Connection& connection, XdrReader& args, XdrWriter& reply);
Result<void> domain_event_deregister(Connection& connection, XdrReader& args, XdrWriter& reply);
Result<void> domain_event_register_any(Connection& connection, XdrReader& args, XdrWriter& reply);
Result<void> domain_event_deregister_any(Connection& connection, XdrReader& args, XdrWriter& reply);
Result<void> domain_event_callback_register_any(Connection& connection, XdrReader& args,
                                                XdrWriter& reply);
Result<void> domain_event_callback_deregister_any(Connection& connection, XdrReader& args,
                                                  XdrWriter& reply);

}  // namespace amber::driver::dispatch
