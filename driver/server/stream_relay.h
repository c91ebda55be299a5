// SPDX-License-Identifier: GPL-2.0-or-later
// One open stream of a client (a console): relays bytes between the fd a
// handler opened and STREAM packets bound to the opening call's procedure
// and serial, with libvirt's stream semantics (virnetprotocol.x):
//   - fd -> client: STREAM CONTINUE packets of raw bytes (at most
//     kStreamChunk each); fd EOF -> one empty CONTINUE, then wait for the
//     client's finish;
//   - client -> fd: STREAM CONTINUE data, written as the fd accepts it;
//   - client STREAM OK (finish) or ERROR (abort) -> an empty STREAM OK
//     confirmation, and the stream is done;
//   - revocation (a forced open elsewhere) -> STREAM ERROR with a
//     remote_error, and the stream is done; a revocation of a console
//     whose pty has hung up (the domain stopped) is the EOF path instead.
// Flow control: the fd is read only while the client's output queue is
// below kStreamHighWater, and the client socket is not read while more than
// kStreamInputMax bytes wait to be written to the fd (input_full()).
//
// Thread-safety: owned and used by the event loop thread only.
#pragma once

#include <poll.h>

#include <cstdint>
#include <span>
#include <vector>

#include "driver/protocol/stream.h"
#include "driver/rpc/packet.h"
#include "driver/server/output_queue.h"

namespace amber::driver::server {

// VIR_NET_MESSAGE_LEGACY_PAYLOAD_MAX: libvirt's stream chunk.
inline constexpr size_t kStreamChunk = 262120;
// Stop reading the fd while the client has this much unsent output.
inline constexpr size_t kStreamHighWater = 1024 * 1024;
// Stop reading the client while this much client data waits for the fd.
inline constexpr size_t kStreamInputMax = 1024 * 1024;

class StreamRelay {
 public:
  StreamRelay(int32_t procedure, uint32_t serial, protocol::OpenedStream stream);
  ~StreamRelay();
  StreamRelay(const StreamRelay&) = delete;
  StreamRelay& operator=(const StreamRelay&) = delete;

  int fd() const { return stream_.fd.get(); }
  int32_t procedure() const { return procedure_; }
  uint32_t serial() const { return serial_; }
  protocol::StreamSignal& signal() { return *stream_.signal; }

  // The poll() events wanted now (0: leave the fd out).
  short poll_events(const OutputQueue& output) const;
  void on_ready(short revents, OutputQueue& output);
  // A STREAM packet from the client with our procedure and serial.
  void on_packet(const rpc::PacketHeader& header, std::span<const uint8_t> body,
                 OutputQueue& output);
  // Ends the stream with STREAM ERROR if it was revoked.
  void check_revoked(OutputQueue& output);

  bool input_full() const { return to_fd_.size() - to_fd_sent_ > kStreamInputMax; }
  bool done() const { return state_ == State::kDone; }

 private:
  enum class State { kOpen, kEndOfFile, kDone };
  enum class End { kReleased, kRevoked };

  void read_fd(OutputQueue& output);
  void write_fd();
  void send(rpc::PacketStatus status, std::span<const uint8_t> body, OutputQueue& output);
  void finish(End end);

  const int32_t procedure_;
  const uint32_t serial_;
  protocol::OpenedStream stream_;
  State state_ = State::kOpen;
  std::vector<uint8_t> to_fd_;
  size_t to_fd_sent_ = 0;
};

}  // namespace amber::driver::server
