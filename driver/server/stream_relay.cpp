// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/server/stream_relay.h"

#include <utility>

#include "driver/dispatch/errors.h"
#include "driver/protocol/limits.h"
#include "driver/protocol/remote_error.h"
#include "driver/server/data_stream_relay.h"
#include "driver/server/fd_stream_relay.h"

namespace amber::driver::server {

std::vector<uint8_t> StreamRelay::frame(rpc::PacketType type, rpc::PacketStatus status,
                                        std::span<const uint8_t> body) const {
  rpc::PacketHeader header;
  header.program = protocol::kRemoteProgram;
  header.version = protocol::kRemoteVersion;
  header.procedure = procedure_;
  header.type = type;
  header.serial = serial_;
  header.status = status;
  return rpc::encode_frame(header, body);
}

std::vector<uint8_t> StreamRelay::error_frame(const Error& error) const {
  rpc::XdrWriter body;
  protocol::encode_remote_error(body, dispatch::to_remote_error(error));
  return frame(rpc::PacketType::kStream, rpc::PacketStatus::kError, body.bytes());
}

std::unique_ptr<StreamRelay> make_stream_relay(int32_t procedure, uint32_t serial,
                                               protocol::OpenedStream stream,
                                               std::function<void()> ring) {
  if (stream.sink || stream.source) {
    return std::make_unique<DataStreamRelay>(procedure, serial, std::move(stream), std::move(ring));
  }
  return std::make_unique<FdStreamRelay>(procedure, serial, std::move(stream), std::move(ring));
}

}  // namespace amber::driver::server
