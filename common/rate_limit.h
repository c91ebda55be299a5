// SPDX-License-Identifier: GPL-2.0-or-later
// RateLimiter: at most `burst` events per `interval`, for log lines and
// events a guest (or any untrusted peer) can trigger at will.
//
// Fixed windows: the first event opens a window of `interval`; within it
// the first `burst` events are allowed and the rest are suppressed and
// counted. The first allowed event after that learns how many were
// suppressed since the previous allowed one, so a log line can say
// "(N similar messages suppressed)" and nothing is hidden silently.
//
// The clock is injectable (nanoseconds, monotonic) so tests need no sleeps.
//
// Thread-safety: allow() may be called from any thread concurrently (one
// mutex, held for a few loads and stores).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

namespace amber {

class RateLimiter {
 public:
  using Clock = std::function<uint64_t()>;  // monotonic nanoseconds

  static uint64_t steady_now_ns() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
  }

  // burst 0 suppresses everything (the count still grows).
  RateLimiter(unsigned burst, std::chrono::nanoseconds interval, Clock clock = steady_now_ns)
      : burst_(burst),
        interval_ns_(static_cast<uint64_t>(interval.count())),
        clock_(std::move(clock)) {}

  // std::nullopt: suppress this event. Otherwise allowed, with the number
  // of events suppressed since the previous allowed one (usually 0).
  std::optional<uint64_t> allow() {
    const uint64_t now = clock_();
    std::lock_guard lock(mutex_);
    if (!window_open_ || now - window_start_ >= interval_ns_) {
      window_open_ = true;
      window_start_ = now;
      allowed_in_window_ = 0;
    }
    if (allowed_in_window_ >= burst_) {
      ++suppressed_;
      ++total_suppressed_;
      return std::nullopt;
    }
    ++allowed_in_window_;
    return std::exchange(suppressed_, 0);
  }

  // Every event suppressed since construction.
  uint64_t total_suppressed() const {
    std::lock_guard lock(mutex_);
    return total_suppressed_;
  }

 private:
  const unsigned burst_;
  const uint64_t interval_ns_;
  const Clock clock_;
  mutable std::mutex mutex_;
  bool window_open_ = false;
  uint64_t window_start_ = 0;
  unsigned allowed_in_window_ = 0;
  uint64_t suppressed_ = 0;
  uint64_t total_suppressed_ = 0;
};

// The default for log lines a guest can trigger: 10 lines per 5 seconds,
// enough to see what a guest does wrong, too few to fill a disk (at most
// 2 lines a second whatever the guest does).
inline constexpr unsigned kGuestLogBurst = 10;
inline constexpr std::chrono::seconds kGuestLogInterval{5};

// " (N similar messages suppressed)" for an allowed event that follows
// suppressed ones, "" when none was suppressed: appended to a log line.
inline std::string suppressed_note(uint64_t suppressed) {
  if (suppressed == 0) return {};
  return " (" + std::to_string(suppressed) + " similar messages suppressed)";
}

}  // namespace amber
