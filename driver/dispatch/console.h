// SPDX-License-Identifier: GPL-2.0-or-later
// DOMAIN_OPEN_CONSOLE: opens the serial console of a running domain through
// vm::Manager::open_console and leaves the pty fd in
// Connection::opened_stream; the server then relays it as the call's
// stream (protocol/stream.h). dev_name may be null, "serial0" or
// "console0" (the one serial port); flags VIR_DOMAIN_CONSOLE_FORCE takes
// the console from another session, VIR_DOMAIN_CONSOLE_SAFE is accepted
// (our console always refuses a second holder without FORCE).
//
// Thread-safety: called by the dispatcher; see procedure.h.
#pragma once

#include "driver/protocol/procedure.h"

namespace amber::driver::dispatch {

Result<void> domain_open_console(protocol::Connection& connection, rpc::XdrReader& args,
                                 rpc::XdrWriter& reply);

}  // namespace amber::driver::dispatch
