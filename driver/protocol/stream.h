// SPDX-License-Identifier: GPL-2.0-or-later
// What a stream-opening handler (DOMAIN_OPEN_CONSOLE, STORAGE_VOL_UPLOAD,
// STORAGE_VOL_DOWNLOAD) hands to the server.
//
// The handler leaves an OpenedStream in Connection::opened_stream and
// returns success; the server, once the call's REPLY is queued, binds the
// stream to that call's procedure and serial. An OpenedStream has exactly
// one end:
//   - fd: a bidirectional byte fd (the console pty), relayed both ways until
//     the client finishes or aborts, the fd reaches EOF, or the StreamSignal
//     is revoked (a forced console open elsewhere), which ends the stream
//     with a STREAM ERROR carrying `revoked_error`;
//   - sink: an upload; the client's data and holes go to the sink, its
//     finish calls StreamSink::finish() (an error there becomes the STREAM
//     ERROR the client's virStreamFinish reports), its abort calls abort();
//   - source: a download; the source's data and holes go to the client,
//     its end becomes the empty STREAM CONTINUE libvirt's clients expect.
// Holes (VIR_NET_STREAM_HOLE packets) flow only when `holes` is kAllowed,
// i.e. the call carried a *_SPARSE_STREAM flag.
//
// Thread-safety: StreamSignal may be revoked from any thread; its listener is
// set once by the server's loop thread. A sink or source is used by one
// thread at a time (the server's stream worker), never concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "common/result.h"
#include "common/unique_fd.h"

namespace amber::driver::protocol {

class StreamSignal {
 public:
  // Marks the stream revoked and calls the listener (at most once overall).
  void revoke() {
    std::function<void()> listener;
    {
      std::lock_guard lock(mutex_);
      if (revoked_) return;
      revoked_ = true;
      listener = listener_;
    }
    if (listener) listener();
  }
  bool revoked() const {
    std::lock_guard lock(mutex_);
    return revoked_;
  }
  // Called from revoke(); if already revoked, called at once.
  void set_listener(std::function<void()> listener) {
    bool call_now = false;
    {
      std::lock_guard lock(mutex_);
      listener_ = listener;
      call_now = revoked_;
    }
    if (call_now && listener) listener();
  }
  // Drops the listener (the stream is gone); later revokes do nothing.
  void clear_listener() {
    std::lock_guard lock(mutex_);
    listener_ = nullptr;
  }

 private:
  mutable std::mutex mutex_;
  bool revoked_ = false;
  std::function<void()> listener_;
};

// Where an upload's bytes go.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  // The next bytes of the stream, in order.
  virtual Result<void> write(std::span<const uint8_t> bytes) = 0;
  // `length` bytes of zeros, sent as a hole (sparse streams only).
  virtual Result<void> hole(uint64_t length) = 0;
  // The client finished: make everything durable. An error here is the
  // stream's error (the client sees it instead of the confirmation).
  virtual Result<void> finish() = 0;
  // The client aborted, failed or went away: stop; finish() is not called.
  virtual void abort() = 0;
};

// One piece of a download.
struct SourceChunk {
  enum class Kind { kData, kHole, kEnd };
  Kind kind = Kind::kEnd;
  size_t size = 0;           // kData: bytes placed at the start of the buffer (> 0)
  uint64_t hole_length = 0;  // kHole: bytes of zeros (> 0)
};

// Where a download's bytes come from.
class StreamSource {
 public:
  virtual ~StreamSource() = default;
  // The next piece: data copied into `buffer` (at most its size), a hole
  // (only if the stream allows holes), or the end.
  virtual Result<SourceChunk> next(std::span<uint8_t> buffer) = 0;
};

enum class StreamHoles { kRefused, kAllowed };

struct OpenedStream {
  UniqueFd fd;  // a bidirectional byte fd (the console pty); the server owns it now
  std::unique_ptr<StreamSink> sink;      // an upload
  std::unique_ptr<StreamSource> source;  // a download
  StreamHoles holes = StreamHoles::kRefused;
  std::shared_ptr<StreamSignal> signal;
  Error revoked_error{ErrorKind::kLocked, "the stream was revoked"};
  // Called once when the stream ends other than by revocation (finish,
  // abort, an error, the client gone, the daemon stopping), after the fd is
  // closed or the sink/source destroyed; from the loop thread, a worker or
  // the stream's own thread. May be empty.
  std::function<void()> on_end;

  bool has_end() const { return fd || sink || source; }
};

}  // namespace amber::driver::protocol
