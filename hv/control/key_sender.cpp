// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/control/key_sender.h"

#include <chrono>

namespace amber::hv::control {

KeySender::~KeySender() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    pending_.clear();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Result<void> KeySender::queue(std::vector<unsigned> keys, unsigned hold_time_ms) {
  {
    std::lock_guard lock(mutex_);
    if (pending_.size() >= kMaxPending)
      return Error(ErrorKind::kNoSpace,
                   "too many key sequences waiting (" + std::to_string(kMaxPending) + ")");
    pending_.push_back({std::move(keys), hold_time_ms});
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  }
  cv_.notify_all();
  return ok();
}

bool KeySender::pause_for(unsigned ms, std::unique_lock<std::mutex>& lock) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  cv_.wait_until(lock, deadline, [this] { return stopping_; });
  return !stopping_;
}

void KeySender::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
    if (stopping_) return;
    Sequence sequence = std::move(pending_.front());
    pending_.pop_front();
    size_t pressed = 0;
    bool live = true;
    for (unsigned key : sequence.keys) {
      lock.unlock();
      sink_(key, true);
      lock.lock();
      ++pressed;
      if (!pause_for(sequence.hold_time_ms, lock)) {
        live = false;
        break;
      }
    }
    while (pressed > 0) {
      --pressed;
      lock.unlock();
      sink_(sequence.keys[pressed], false);
      lock.lock();
      if (live && !pause_for(kReleaseDelayMs, lock)) live = false;
    }
    if (!live) return;
  }
}

}  // namespace amber::hv::control
