// SPDX-License-Identifier: GPL-2.0-or-later
// remote_error (virNetMessageError): the body of every status=ERROR reply.
//
// Layout from remote_protocol.x: code, domain, optional message, level,
// optional domain (always absent here), str1..str3, int1, int2, optional
// network (always absent). Clients print `message` verbatim.
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/result.h"
#include "driver/rpc/xdr.h"

namespace amber::driver::protocol {

struct RemoteError {
  int32_t code = 0;    // a virErrorNumber (VIR_ERR_*)
  int32_t domain = 0;  // a virErrorDomain (VIR_FROM_*)
  std::optional<std::string> message;
  int32_t level = 2;  // VIR_ERR_ERROR
  std::optional<std::string> str1;
  std::optional<std::string> str2;
  std::optional<std::string> str3;
  int32_t int1 = 0;
  int32_t int2 = 0;
};

void encode_remote_error(rpc::XdrWriter& writer, const RemoteError& error);
// For tests and tools: decodes what encode_remote_error wrote.
Result<RemoteError> decode_remote_error(rpc::XdrReader& reader);

}  // namespace amber::driver::protocol
