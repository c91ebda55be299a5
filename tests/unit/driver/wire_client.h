// SPDX-License-Identifier: GPL-2.0-or-later
// A test client speaking libvirt's wire format over one end of a
// socketpair: sends CALL and STREAM packets, reads whole frames with a
// deadline. Used by server_test.cpp against a Server that adopted the
// other end.
//
// Thread-safety: one thread per WireClient.
#pragma once

#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <optional>
#include <vector>

#include "common/unique_fd.h"
#include "driver/protocol/limits.h"
#include "driver/rpc/packet.h"

namespace amber::driver::testing {

struct Frame {
  rpc::PacketHeader header;
  std::vector<uint8_t> body;
};

class WireClient {
 public:
  explicit WireClient(UniqueFd fd) : fd_(std::move(fd)) {}

  int fd() const { return fd_.get(); }
  void close() { fd_.reset(); }

  bool send_raw(std::span<const uint8_t> bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t count = ::send(fd_.get(), bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (count <= 0) return false;
      done += static_cast<size_t>(count);
    }
    return true;
  }
  bool send(rpc::PacketType type, int32_t procedure, uint32_t serial, rpc::PacketStatus status,
            std::span<const uint8_t> body, uint32_t program = protocol::kRemoteProgram) {
    rpc::PacketHeader header;
    header.program = program;
    header.version = 1;
    header.procedure = procedure;
    header.type = type;
    header.serial = serial;
    header.status = status;
    return send_raw(rpc::encode_frame(header, body));
  }
  bool call(int32_t procedure, uint32_t serial, const rpc::XdrWriter& args = {}) {
    return send(rpc::PacketType::kCall, procedure, serial, rpc::PacketStatus::kOk, args.bytes());
  }

  // The next whole frame, or nullopt on EOF or when `timeout` passes.
  std::optional<Frame> read(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    uint8_t length_bytes[4];
    if (!read_exact(length_bytes, sizeof(length_bytes), timeout)) return std::nullopt;
    uint32_t length = (uint32_t{length_bytes[0]} << 24) | (uint32_t{length_bytes[1]} << 16) |
                      (uint32_t{length_bytes[2]} << 8) | length_bytes[3];
    if (length < rpc::kMinFrameBytes || length > rpc::kMaxFrameBytes) return std::nullopt;
    std::vector<uint8_t> rest(length - rpc::kLengthWordBytes);
    if (!read_exact(rest.data(), rest.size(), timeout)) return std::nullopt;
    rpc::XdrReader reader(rest);
    auto header = rpc::decode_header(reader);
    if (!header.ok()) return std::nullopt;
    return Frame{*header, std::vector<uint8_t>(rest.begin() + rpc::kHeaderBytes, rest.end())};
  }
  // True when the server closed the connection within `timeout` (frames
  // still in flight are skipped).
  bool closed_by_server(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    uint8_t buffer[65536];
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd fds{fd_.get(), POLLIN, 0};
      if (poll(&fds, 1, 100) <= 0) continue;
      ssize_t count = ::recv(fd_.get(), buffer, sizeof(buffer), 0);
      if (count <= 0) return true;
    }
    return false;
  }

 private:
  bool read_exact(uint8_t* data, size_t size, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    size_t done = 0;
    while (done < size) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd fds{fd_.get(), POLLIN, 0};
      if (poll(&fds, 1, static_cast<int>(left.count())) <= 0) continue;
      ssize_t count = ::recv(fd_.get(), data + done, size - done, 0);
      if (count <= 0) return false;
      done += static_cast<size_t>(count);
    }
    return true;
  }

  UniqueFd fd_;
};

}  // namespace amber::driver::testing
