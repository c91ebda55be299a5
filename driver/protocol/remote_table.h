// SPDX-License-Identifier: GPL-2.0-or-later
// The one table of REMOTE program procedures this daemon serves.
//
// Thread-safety: the table is immutable; lookups from any thread.
#pragma once

#include <cstdint>
#include <span>

#include "driver/protocol/procedure.h"

namespace amber::driver::protocol {

std::span<const Procedure> remote_procedures();
// nullptr for a procedure we do not serve.
const Procedure* find_remote_procedure(int32_t number);

}  // namespace amber::driver::protocol
