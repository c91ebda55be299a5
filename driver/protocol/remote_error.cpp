// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/protocol/remote_error.h"

#include "driver/protocol/limits.h"

namespace amber::driver::protocol {

void encode_remote_error(rpc::XdrWriter& writer, const RemoteError& error) {
  writer.write_i32(error.code);
  writer.write_i32(error.domain);
  writer.write_optional_string(error.message);
  writer.write_i32(error.level);
  writer.write_bool(false);  // dom
  writer.write_optional_string(error.str1);
  writer.write_optional_string(error.str2);
  writer.write_optional_string(error.str3);
  writer.write_i32(error.int1);
  writer.write_i32(error.int2);
  writer.write_bool(false);  // net
}

Result<RemoteError> decode_remote_error(rpc::XdrReader& reader) {
  RemoteError error;
  AMBER_TRY_ASSIGN(error.code, reader.read_i32("remote_error.code"));
  AMBER_TRY_ASSIGN(error.domain, reader.read_i32("remote_error.domain"));
  AMBER_TRY_ASSIGN(error.message, reader.read_optional_string("remote_error.message", kStringMax));
  AMBER_TRY_ASSIGN(error.level, reader.read_i32("remote_error.level"));
  AMBER_TRY_ASSIGN(bool has_domain, reader.read_bool("remote_error.dom"));
  if (has_domain) return Error(ErrorKind::kUnsupported, "remote_error.dom is not decoded");
  AMBER_TRY_ASSIGN(error.str1, reader.read_optional_string("remote_error.str1", kStringMax));
  AMBER_TRY_ASSIGN(error.str2, reader.read_optional_string("remote_error.str2", kStringMax));
  AMBER_TRY_ASSIGN(error.str3, reader.read_optional_string("remote_error.str3", kStringMax));
  AMBER_TRY_ASSIGN(error.int1, reader.read_i32("remote_error.int1"));
  AMBER_TRY_ASSIGN(error.int2, reader.read_i32("remote_error.int2"));
  AMBER_TRY_ASSIGN(bool has_network, reader.read_bool("remote_error.net"));
  if (has_network) return Error(ErrorKind::kUnsupported, "remote_error.net is not decoded");
  return error;
}

}  // namespace amber::driver::protocol
