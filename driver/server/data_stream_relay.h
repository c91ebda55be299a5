// SPDX-License-Identifier: GPL-2.0-or-later
// A data stream (vol-upload into a StreamSink, vol-download from a
// StreamSource), done by a worker thread of its own so that disk writes,
// reads and the final fsync never stall the event loop. The packet
// sequences are libvirt's (doc/virtamberd.md, "Volume upload and download
// streams"):
//
// Upload:   client CONTINUE data x n, STREAM_HOLE {hyper length; u32 flags}
//           (sparse only), then client OK -> sink finish() -> server empty
//           OK, or STREAM ERROR with finish()'s error. Client ERROR (abort)
//           -> pending data dropped, sink abort() -> server empty OK. A
//           failed write or a bad hole -> STREAM ERROR, and the stream is
//           gone (later packets are dropped, as libvirtd drops them).
// Download: server CONTINUE data x n and STREAM_HOLE (sparse only), then
//           one empty CONTINUE at the end; the client's OK (finish) or
//           ERROR (abort), at the end or before it, -> server empty OK. A
//           failed read -> STREAM ERROR, and the stream is gone.
//
// Flow control: the loop hands client data to the worker through a queue
// of at most kDataInputMax bytes (plus the one frame being handed over);
// past that input_full() stops the loop reading the client, so a client
// that sends faster than the disk writes is paced by TCP, never buffered
// without limit. The worker hands frames to the loop through an outbox of
// kOutboxFrames frames, which the loop moves to the client's output only
// while that is below kStreamHighWater, so a slow reader paces the reads.
// The sink or source is destroyed (its file closed, its image locks
// dropped) and on_end run before the final frame is handed over, so the
// client's confirmation means the volume is free again.
//
// Thread-safety: the loop thread calls every public method; the worker
// touches only the state under mutex_ and the sink or source.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "driver/server/stream_relay.h"

namespace amber::driver::server {

// Client data an upload may have waiting for the disk (16 chunks).
inline constexpr size_t kDataInputMax = 16 * kStreamChunk;
// Frames a download's worker may have ready beyond the client's output.
inline constexpr size_t kOutboxFrames = 2;

class DataStreamRelay final : public StreamRelay {
 public:
  DataStreamRelay(int32_t procedure, uint32_t serial, protocol::OpenedStream stream,
                  std::function<void()> ring);
  // Aborts the transfer and waits for the worker (at most the operation in
  // progress: one chunk, or a finish's fsync).
  ~DataStreamRelay() override;

  int poll_fd() const override { return -1; }
  short poll_events(const OutputQueue&) const override { return 0; }
  void on_ready(short, OutputQueue&) override {}
  void on_packet(const rpc::PacketHeader& header, std::span<const uint8_t> body,
                 OutputQueue& output) override;
  void tick(OutputQueue& output) override;
  bool input_full() const override;
  bool done() const override { return done_; }

 private:
  // What the loop hands an upload's worker, in arrival order.
  struct Command {
    enum class Kind { kData, kHole, kFinish, kFail };
    Kind kind = Kind::kData;
    std::vector<uint8_t> data;
    uint64_t hole_length = 0;
    Error error{ErrorKind::kInternal, ""};  // kFail
  };
  // Why a worker should stop.
  enum class Stop { kNo, kClientFinished, kClientAborted, kTornDown };

  void queue(Command command);
  void run_upload();
  void run_download();
  // Ends the worker: drops the sink/source, runs on_end, hands `last`
  // (if any) to the loop and marks the worker finished.
  void end(std::optional<std::vector<uint8_t>> last);
  void hand_over(std::vector<uint8_t> frame);  // mutex_ held
  void on_hole_packet(std::span<const uint8_t> body);

  protocol::OpenedStream stream_;
  const std::function<void()> ring_;
  const bool upload_;     // a sink (else a source); fixed at construction
  bool closing_ = false;  // loop: the client finished or aborted, or it failed
  bool done_ = false;     // loop: the worker is joined and its frames are out

  mutable std::mutex mutex_;
  std::condition_variable wake_worker_;
  std::deque<Command> commands_;
  size_t queued_bytes_ = 0;
  Stop stop_ = Stop::kNo;
  std::deque<std::vector<uint8_t>> outbox_;
  bool worker_finished_ = false;

  std::thread worker_;  // last: started once everything above exists
};

}  // namespace amber::driver::server
