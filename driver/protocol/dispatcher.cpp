// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/protocol/dispatcher.h"

#include <string>

#include "driver/dispatch/errors.h"
#include "driver/protocol/limits.h"
#include "driver/protocol/remote_error.h"
#include "driver/protocol/remote_table.h"

namespace amber::driver::protocol {

namespace {

using Reply = std::optional<std::vector<uint8_t>>;

std::vector<uint8_t> error_reply(rpc::PacketHeader header, const RemoteError& error) {
  header.type = rpc::PacketType::kReply;
  header.status = rpc::PacketStatus::kError;
  rpc::XdrWriter body;
  encode_remote_error(body, error);
  return rpc::encode_frame(header, body.bytes());
}

Result<Reply> dispatch_keepalive(const rpc::PacketHeader& header) {
  if (header.procedure == kKeepalivePing) {
    rpc::PacketHeader pong = header;
    pong.procedure = kKeepalivePong;
    pong.type = rpc::PacketType::kMessage;
    pong.serial = 0;
    pong.status = rpc::PacketStatus::kOk;
    return Reply(rpc::encode_frame(pong, {}));
  }
  return Reply();  // PONG or anything else on the keepalive program: ignored
}

}  // namespace

Priority frame_priority(std::span<const uint8_t> frame) {
  rpc::XdrReader reader(frame);
  auto header = rpc::decode_header(reader);
  if (!header.ok() || header->program != kRemoteProgram) return Priority::kHigh;
  const Procedure* procedure = find_remote_procedure(header->procedure);
  return procedure == nullptr ? Priority::kHigh : procedure->priority;
}

Result<Reply> dispatch_frame(Connection& connection, std::span<const uint8_t> frame) {
  rpc::XdrReader reader(frame);
  AMBER_TRY_ASSIGN(rpc::PacketHeader header, rpc::decode_header(reader));
  if (header.program == kKeepaliveProgram && header.version == kKeepaliveVersion &&
      header.type == rpc::PacketType::kMessage) {
    return dispatch_keepalive(header);
  }
  // Stream packets belong to the server's stream relays; one that reaches
  // the dispatcher has no stream and is dropped, as libvirtd drops them.
  if (header.type == rpc::PacketType::kStream) return Reply();
  if (header.type != rpc::PacketType::kCall) {
    return Error(ErrorKind::kCorrupt, "client sent packet type " +
                                          std::to_string(static_cast<uint32_t>(header.type)) +
                                          "; only CALL, STREAM and keepalive MESSAGE are accepted");
  }
  if (header.status != rpc::PacketStatus::kOk) {
    return Reply(error_reply(
        header, dispatch::to_remote_error(Error(ErrorKind::kCorrupt, "CALL with status != OK"))));
  }
  if (header.program != kRemoteProgram || header.version != kRemoteVersion) {
    return Reply(
        error_reply(header, dispatch::unknown_program_error(header.program, header.version)));
  }
  const Procedure* procedure = nullptr;
  if (connection.daemon != nullptr) {
    for (const Procedure& candidate : connection.daemon->test_procedures) {
      if (candidate.number == header.procedure) procedure = &candidate;
    }
  }
  if (procedure == nullptr) procedure = find_remote_procedure(header.procedure);
  if (procedure == nullptr) {
    return Reply(error_reply(header, dispatch::unknown_procedure_error(header.procedure)));
  }
  if (connection.socket == SocketKind::kReadOnly && procedure->access == Access::kReadWriteOnly) {
    return Reply(error_reply(header, dispatch::read_only_error(procedure->name)));
  }
  rpc::XdrWriter body;
  connection.reply_fds.clear();
  auto result = procedure->handler(connection, reader, body);
  if (!result.ok()) {
    connection.reply_fds.clear();
    return Reply(error_reply(header, dispatch::to_remote_error(result.error(), procedure->family)));
  }
  rpc::PacketHeader reply = header;
  reply.type = rpc::PacketType::kReply;
  reply.status = rpc::PacketStatus::kOk;
  if (connection.reply_fds.empty()) return Reply(rpc::encode_frame(reply, body.bytes()));
  // REPLY_WITH_FDS: a u32 count before the body; the fds follow the frame.
  reply.type = rpc::PacketType::kReplyWithFds;
  rpc::XdrWriter with_count;
  with_count.write_u32(static_cast<uint32_t>(connection.reply_fds.size()));
  with_count.write_opaque_fixed(body.bytes());  // XDR-aligned already: no padding
  return Reply(rpc::encode_frame(reply, with_count.bytes()));
}

}  // namespace amber::driver::protocol
