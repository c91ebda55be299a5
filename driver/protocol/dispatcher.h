// SPDX-License-Identifier: GPL-2.0-or-later
// Turns one received frame into at most one reply frame: routes by program,
// version and procedure through the REMOTE table, answers keepalive PINGs,
// enforces the read-only socket, and converts handler errors into
// remote_error replies. An unknown program, version or procedure gets an
// error reply and the connection stays up.
//
// Thread-safety: callers serialize calls per Connection (its mutex).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/result.h"
#include "driver/protocol/procedure.h"
#include "driver/rpc/packet.h"

namespace amber::driver::protocol {

// The priority of a frame, decided from its header alone (the event loop
// uses it to pick the worker queue before dispatching).
Priority frame_priority(std::span<const uint8_t> frame);

// `frame` is header + body (length word stripped). Returns the reply frame
// (length word included), nullopt when nothing is to be sent (a PONG, a
// stream packet), or an Error when the peer broke the protocol so badly the
// connection must close (a REPLY sent to the server, an unknown type).
Result<std::optional<std::vector<uint8_t>>> dispatch_frame(Connection& connection,
                                                           std::span<const uint8_t> frame);

}  // namespace amber::driver::protocol
