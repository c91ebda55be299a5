// SPDX-License-Identifier: GPL-2.0-or-later
// What a stream-opening handler (DOMAIN_OPEN_CONSOLE) hands to the server.
//
// The handler leaves an OpenedStream in Connection::opened_stream and
// returns success; the server, once the call's REPLY is queued, binds the
// stream to that call's procedure and serial and relays bytes between the
// fd and STREAM packets until the client finishes or aborts, the fd reaches
// EOF, or the StreamSignal is revoked (a forced console open elsewhere), which
// ends the stream with a STREAM ERROR carrying `revoked_error`.
//
// Thread-safety: StreamSignal may be revoked from any thread; its listener is
// set once by the server's loop thread.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
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

struct OpenedStream {
  UniqueFd fd;  // a bidirectional byte fd (the console pty); the server owns it now
  std::shared_ptr<StreamSignal> signal;
  Error revoked_error{ErrorKind::kLocked, "the stream was revoked"};
  // Called once when the stream ends other than by revocation (finish,
  // abort, the client gone, the daemon stopping), after the fd is closed;
  // from the loop thread or a worker. May be empty.
  std::function<void()> on_end;
};

}  // namespace amber::driver::protocol
