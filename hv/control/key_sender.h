// SPDX-License-Identifier: GPL-2.0-or-later
// KeySender: plays send-key sequences into a keyboard in the background,
// as QEMU's send-key does: each key pressed in order with hold_time ms
// after each press, then released last-first with 10 ms after each
// release. Sequences play one after another in the order queued, so a
// second send-key never interleaves the first. At most kMaxPending
// sequences wait; the destructor drops the rest and joins its thread
// (releasing any key it had pressed, so no key stays down).
//
// Thread-safety: queue() from any thread; the sink is called from the
// sender's own thread only.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "common/result.h"

namespace amber::hv::control {

class KeySender {
 public:
  using Sink = std::function<void(unsigned key, bool down)>;
  static constexpr size_t kMaxPending = 64;
  static constexpr unsigned kReleaseDelayMs = 10;

  explicit KeySender(Sink sink) : sink_(std::move(sink)) {}
  ~KeySender();
  KeySender(const KeySender&) = delete;
  KeySender& operator=(const KeySender&) = delete;

  // kNoSpace when kMaxPending sequences already wait.
  Result<void> queue(std::vector<unsigned> keys, unsigned hold_time_ms);

 private:
  struct Sequence {
    std::vector<unsigned> keys;
    unsigned hold_time_ms;
  };
  void run();
  // Sleeps up to ms; false if stopping.
  bool pause_for(unsigned ms, std::unique_lock<std::mutex>& lock);

  Sink sink_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Sequence> pending_;
  bool stopping_ = false;
  std::thread thread_;  // started by the first queue()
};

}  // namespace amber::hv::control
