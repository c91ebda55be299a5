// SPDX-License-Identifier: GPL-2.0-or-later
// One connected client of the daemon.
//
// Who touches what:
//   - the loop thread: the socket, the frame decoder, the streams;
//   - the client's strand (one worker at a time, in arrival order): the
//     Connection that handlers see;
//   - any thread: the output queue, the event registrations, and the
//     fields under `mutex` (queued calls, streams waiting to start, the
//     closing flag).
// The loop tears a client down (closing its socket, streams and event
// registrations at once); a worker still running one of its calls holds a
// shared_ptr and finds the client closed when it is done.
//
// Thread-safety: as above.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "driver/protocol/connection_events.h"
#include "driver/protocol/procedure.h"
#include "driver/rpc/frame_decoder.h"
#include "driver/server/output_queue.h"
#include "driver/server/stream_relay.h"

namespace amber::driver::server {

// A stream a handler opened, waiting for the loop to start relaying it.
struct StartingStream {
  int32_t procedure = 0;
  uint32_t serial = 0;
  protocol::OpenedStream stream;
};

struct Client {
  Client(UniqueFd socket_fd, size_t output_limit, std::shared_ptr<Wakeup> wakeup)
      : socket(std::move(socket_fd)), output(output_limit, std::move(wakeup)) {}

  UniqueFd socket;                                           // loop thread
  rpc::FrameDecoder decoder;                                 // loop thread
  std::map<uint32_t, std::unique_ptr<StreamRelay>> streams;  // loop thread, by serial
  protocol::Connection connection;                           // the strand
  OutputQueue output;                                        // any thread
  std::shared_ptr<protocol::ConnectionEvents> events;        // any thread

  std::mutex mutex;
  std::deque<std::vector<uint8_t>> calls;  // CALL frames not yet dispatched
  bool strand_running = false;             // a worker owns the strand
  std::vector<StartingStream> starting_streams;
  std::atomic<bool> closing{false};
  // Set by the strand when the client asked about the KEEPALIVE program;
  // the loop then starts PINGing it.
  std::atomic<bool> keepalive_requested{false};

  // Keepalive state (loop thread).
  bool keepalive_on = false;
  std::chrono::steady_clock::time_point last_packet = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point keepalive_due;  // next check
  int pings_left = 0;        // PINGs still to send before the client is dead
  std::string close_reason;  // under mutex; for the log
};

}  // namespace amber::driver::server
