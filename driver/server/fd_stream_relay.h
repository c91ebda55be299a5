// SPDX-License-Identifier: GPL-2.0-or-later
// A console stream: relays bytes between the fd a handler opened (the pty)
// and STREAM packets, with libvirt's stream semantics (virnetprotocol.x):
//   - fd -> client: STREAM CONTINUE packets of raw bytes (at most
//     kStreamChunk each); fd EOF -> one empty CONTINUE, then wait for the
//     client's finish;
//   - client -> fd: STREAM CONTINUE data, written as the fd accepts it;
//     STREAM_HOLE packets are dropped (a console is never sparse);
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

#include "driver/server/stream_relay.h"

namespace amber::driver::server {

class FdStreamRelay final : public StreamRelay {
 public:
  FdStreamRelay(int32_t procedure, uint32_t serial, protocol::OpenedStream stream,
                std::function<void()> ring);
  ~FdStreamRelay() override;

  int poll_fd() const override { return stream_.fd.get(); }
  short poll_events(const OutputQueue& output) const override;
  void on_ready(short revents, OutputQueue& output) override;
  void on_packet(const rpc::PacketHeader& header, std::span<const uint8_t> body,
                 OutputQueue& output) override;
  // Ends the stream with STREAM ERROR if it was revoked.
  void tick(OutputQueue& output) override;

  bool input_full() const override { return to_fd_.size() - to_fd_sent_ > kStreamInputMax; }
  bool done() const override { return state_ == State::kDone; }

 private:
  enum class State { kOpen, kEndOfFile, kDone };
  enum class End { kReleased, kRevoked };

  void read_fd(OutputQueue& output);
  void write_fd();
  void send(rpc::PacketStatus status, std::span<const uint8_t> body, OutputQueue& output);
  void finish(End end);

  protocol::OpenedStream stream_;
  State state_ = State::kOpen;
  std::vector<uint8_t> to_fd_;
  size_t to_fd_sent_ = 0;
};

}  // namespace amber::driver::server
