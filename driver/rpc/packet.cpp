// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/rpc/packet.h"

#include <string>

namespace amber::driver::rpc {

Result<PacketHeader> decode_header(XdrReader& reader) {
  PacketHeader header;
  AMBER_TRY_ASSIGN(header.program, reader.read_u32("header.program"));
  AMBER_TRY_ASSIGN(header.version, reader.read_u32("header.version"));
  AMBER_TRY_ASSIGN(header.procedure, reader.read_i32("header.procedure"));
  AMBER_TRY_ASSIGN(uint32_t type, reader.read_u32("header.type"));
  AMBER_TRY_ASSIGN(header.serial, reader.read_u32("header.serial"));
  AMBER_TRY_ASSIGN(uint32_t status, reader.read_u32("header.status"));
  if (type > static_cast<uint32_t>(PacketType::kStreamHole)) {
    return Error(ErrorKind::kCorrupt, "packet header: unknown type " + std::to_string(type));
  }
  if (status > static_cast<uint32_t>(PacketStatus::kContinue)) {
    return Error(ErrorKind::kCorrupt, "packet header: unknown status " + std::to_string(status));
  }
  // Both values were range-checked against the enums just above.
  header.type = static_cast<PacketType>(type);
  header.status = static_cast<PacketStatus>(status);
  return header;
}

void encode_header(XdrWriter& writer, const PacketHeader& header) {
  writer.write_u32(header.program);
  writer.write_u32(header.version);
  writer.write_i32(header.procedure);
  writer.write_u32(static_cast<uint32_t>(header.type));
  writer.write_u32(header.serial);
  writer.write_u32(static_cast<uint32_t>(header.status));
}

std::vector<uint8_t> encode_frame(const PacketHeader& header, std::span<const uint8_t> body) {
  XdrWriter writer;
  writer.write_u32(static_cast<uint32_t>(kMinFrameBytes + body.size()));
  encode_header(writer, header);
  std::vector<uint8_t> frame = std::move(writer).take();
  // Verbatim: XDR bodies are 4-byte multiples already, and STREAM data is
  // raw bytes whose length the frame length carries (no padding).
  frame.insert(frame.end(), body.begin(), body.end());
  return frame;
}

}  // namespace amber::driver::rpc
