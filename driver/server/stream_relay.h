// SPDX-License-Identifier: GPL-2.0-or-later
// One open stream of a client, as the event loop sees it: what to poll,
// what to do with the client's STREAM and STREAM_HOLE packets bound to the
// opening call's procedure and serial, and when it is over. Two kinds
// (protocol/stream.h):
//   - FdStreamRelay (fd_stream_relay.h): a console pty, relayed by the loop;
//   - DataStreamRelay (data_stream_relay.h): an upload into a sink or a
//     download from a source, done by a thread of the stream's own so that
//     disk I/O and fsync never stall the loop.
// Both follow libvirt's stream handshakes (virnetprotocol.x; written out in
// doc/virtamberd.md, "Console streams" and "Volume upload and download
// streams"): data in CONTINUE packets, the server's end of data as an
// empty CONTINUE, the client's finish (OK) and abort (ERROR) confirmed with
// an empty OK, a failure as a STREAM ERROR with a remote_error after which
// the stream is gone.
//
// Flow control: input_full() tells the loop to stop reading the client
// while the stream has too much client data waiting; a stream adds to the
// client's output only while that is below kStreamHighWater.
//
// Thread-safety: the loop thread calls every method; the factory too.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include "driver/protocol/stream.h"
#include "driver/rpc/packet.h"
#include "driver/server/output_queue.h"

namespace amber::driver::server {

// VIR_NET_MESSAGE_LEGACY_PAYLOAD_MAX: libvirt's stream chunk.
inline constexpr size_t kStreamChunk = 262120;
// A stream stops producing while the client has this much unsent output.
inline constexpr size_t kStreamHighWater = 1024 * 1024;
// Stop reading the client while this much client data waits for a console.
inline constexpr size_t kStreamInputMax = 1024 * 1024;

class StreamRelay {
 public:
  StreamRelay(int32_t procedure, uint32_t serial) : procedure_(procedure), serial_(serial) {}
  virtual ~StreamRelay() = default;
  StreamRelay(const StreamRelay&) = delete;
  StreamRelay& operator=(const StreamRelay&) = delete;

  int32_t procedure() const { return procedure_; }
  uint32_t serial() const { return serial_; }

  // The fd to poll (-1: none) and the events wanted now (0: leave it out).
  virtual int poll_fd() const = 0;
  virtual short poll_events(const OutputQueue& output) const = 0;
  virtual void on_ready(short revents, OutputQueue& output) = 0;
  // A STREAM or STREAM_HOLE packet from the client with our procedure and serial.
  virtual void on_packet(const rpc::PacketHeader& header, std::span<const uint8_t> body,
                         OutputQueue& output) = 0;
  // Once per loop iteration: revocation, frames a worker produced.
  virtual void tick(OutputQueue& output) = 0;
  virtual bool input_full() const = 0;
  virtual bool done() const = 0;

 protected:
  // A STREAM-family frame of this stream.
  std::vector<uint8_t> frame(rpc::PacketType type, rpc::PacketStatus status,
                             std::span<const uint8_t> body) const;
  // A STREAM ERROR frame carrying `error`.
  std::vector<uint8_t> error_frame(const Error& error) const;

 private:
  const int32_t procedure_;
  const uint32_t serial_;
};

// The relay for `stream` (its fd, sink or source). `ring` wakes the loop
// (a revocation, a worker's progress); any thread may call it.
std::unique_ptr<StreamRelay> make_stream_relay(int32_t procedure, uint32_t serial,
                                               protocol::OpenedStream stream,
                                               std::function<void()> ring);

}  // namespace amber::driver::server
