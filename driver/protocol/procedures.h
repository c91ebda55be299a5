// The one table of RPC procedures this daemon serves: the REMOTE program
// (0x20008086 v1) and KEEPALIVE (0x6b656570 v1). Numbers and names follow
// remote_protocol.x / virkeepaliveprotocol.x of libvirt 9.0; a procedure not
// in the table gets "unknown procedure: N" (which clients map to
// VIR_ERR_NO_SUPPORT). Handlers may be null until the server fills them in.
//
// Thread-safety: the tables are immutable; lookups from any thread.
#pragma once

#include <cstdint>
#include <span>

#include "driver/protocol/procedure.h"

namespace amber::driver::protocol {

std::span<const Procedure> remote_procedures();
std::span<const Procedure> keepalive_procedures();

// nullptr for a procedure we do not serve.
const Procedure* find_remote_procedure(int32_t number);
const Procedure* find_keepalive_procedure(int32_t number);
// Looks up by program and version; nullptr for an unknown program, version
// or procedure.
const Procedure* find_procedure(uint32_t program, uint32_t version, int32_t number);

}  // namespace amber::driver::protocol
