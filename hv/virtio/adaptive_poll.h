// SPDX-License-Identifier: GPL-2.0-or-later
// AdaptivePoll: how long an iothread busy-polls its avail ring, once the
// ring runs empty, before it re-enables guest kicks and sleeps.
//
// A kick costs the guest a VM exit (expensive on this machine's software
// KVM) and the iothread a wake-up; if the guest adds its next buffer within
// a few microseconds of the last completion (a polling driver, or a queue
// kept deep), spinning on avail->idx with kicks disabled avoids both. If it
// does not, spinning only burns a core, so the window adapts to the idle
// gaps actually seen (QEMU's poll-max-ns idea; this is our own policy):
//  - a gap longer than kMaxNs shrinks the window (halves it, then 0), so an
//    idle or slow guest costs nothing after a few gaps;
//  - a gap within kMaxNs that the window did not cover grows it (doubling
//    from kStartNs), so a steady request stream is soon caught by polling;
//  - a gap the window covered leaves it alone.
//
// Thread-safety: none; each queue's iothread owns its own instance.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace amber::hv::virtio {

// The steady clock in nanoseconds: what idle gaps are measured on.
inline uint64_t monotonic_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

class AdaptivePoll {
 public:
  // Never spin longer than this per idle gap: bounds the CPU a guest that
  // stops submitting can make us waste to 50 us per request it made.
  static constexpr uint64_t kMaxNs = 50'000;
  // First non-zero window: about the cost of one iothread wake-up here.
  static constexpr uint64_t kStartNs = 4'000;

  explicit AdaptivePoll(uint64_t max_ns = kMaxNs) : max_ns_(max_ns) {}

  uint64_t window_ns() const { return window_ns_; }

  // The ring was empty for `idle_ns` before the next buffer appeared (seen
  // by polling, or by a kick after sleeping).
  void record_idle(uint64_t idle_ns) {
    if (idle_ns <= window_ns_) return;
    if (idle_ns > max_ns_) {
      window_ns_ = window_ns_ / 2 < kStartNs ? 0 : window_ns_ / 2;
      return;
    }
    window_ns_ = std::min(max_ns_, std::max(kStartNs, window_ns_ * 2));
  }

  void reset() { window_ns_ = 0; }

  // Spins on has_work() until it is true (records the gap since
  // idle_since_ns and returns true) or the window since idle_since_ns has
  // passed (false; at once when the window is 0). The clock is read every
  // 16 checks: it costs more than a ring load, and the window is only a
  // bound, not a deadline.
  template <typename HasWork>
  bool spin(uint64_t idle_since_ns, HasWork&& has_work) {
    if (window_ns_ == 0) return false;
    for (;;) {
      for (int i = 0; i < 16; ++i) {
        if (has_work()) {
          record_idle(monotonic_ns() - idle_since_ns);
          return true;
        }
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      }
      if (monotonic_ns() - idle_since_ns >= window_ns_) return false;
    }
  }

 private:
  uint64_t max_ns_;
  uint64_t window_ns_ = 0;
};

}  // namespace amber::hv::virtio
