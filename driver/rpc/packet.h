// SPDX-License-Identifier: GPL-2.0-or-later
// The libvirt RPC packet header and frame limits (src/rpc/virnetprotocol.x).
//
// A frame on the wire is: u32 length (counting itself), then the 24-byte
// header (program, version, procedure, type, serial, status), then the
// XDR body. Limits follow libvirt 9.0 so its clients see the same behaviour.
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/result.h"
#include "driver/rpc/xdr.h"

namespace amber::driver::rpc {

// The 4-byte length word that starts every frame.
inline constexpr size_t kLengthWordBytes = 4;
// program, version, procedure, type, serial, status: six u32s.
inline constexpr size_t kHeaderBytes = 24;
// A frame cannot be shorter than its length word and header.
inline constexpr size_t kMinFrameBytes = kLengthWordBytes + kHeaderBytes;
// VIR_NET_MESSAGE_MAX: libvirt refuses bigger frames, and so do we.
inline constexpr size_t kMaxFrameBytes = 32 * 1024 * 1024;

enum class PacketType : uint32_t {
  kCall = 0,
  kReply = 1,
  kMessage = 2,
  kStream = 3,
  kCallWithFds = 4,
  kReplyWithFds = 5,
  kStreamHole = 6,
};

enum class PacketStatus : uint32_t {
  kOk = 0,
  kError = 1,
  kContinue = 2,
};

struct PacketHeader {
  uint32_t program = 0;
  uint32_t version = 0;
  int32_t procedure = 0;
  PacketType type = PacketType::kCall;
  uint32_t serial = 0;
  PacketStatus status = PacketStatus::kOk;
};

// Decodes the header from the 24 bytes after the length word; kCorrupt for an
// unknown type or status (named in the message).
Result<PacketHeader> decode_header(XdrReader& reader);
void encode_header(XdrWriter& writer, const PacketHeader& header);

// A whole frame (length word included) for `header` and an encoded `body`,
// copied verbatim (STREAM packets carry raw bytes of any length).
std::vector<uint8_t> encode_frame(const PacketHeader& header, std::span<const uint8_t> body);

}  // namespace amber::driver::rpc
