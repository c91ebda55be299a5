// SPDX-License-Identifier: GPL-2.0-or-later
// IoThread: one thread per virtqueue that sleeps until the guest kicks.
//
// The kick eventfd is created once and lives as long as the IoThread, so
// the transport can register it with KVM (ioeventfd) independently of
// whether the thread currently runs. start() spawns the thread, which runs
// the handler once and then each time the kick eventfd fires; stop() wakes
// it through a second (stop) eventfd and joins it, so after stop() returns
// the handler is not running and will not run again until start().
//
// The guest controls how much work a handler call finds (a ring can even
// refill itself), so a handler must bound its work per call: it returns
// IoWork::kMore when it stopped with work left, and the thread then checks
// for a stop before calling it again, without sleeping. Handlers also poll
// stop_requested() between batches, so stop() waits for one batch at most.
//
// Each thread carries the name given to create() (pthread_setname_np, at
// most 15 characters: /proc/PID/task/*/comm shows it), so one thread per
// queue can be seen from outside.
//
// Thread-safety: start()/stop() from one controlling thread (the
// transport, under its lock); kick() and stop_requested() from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "common/result.h"
#include "common/unique_fd.h"

namespace amber::hv::virtio {

// What a handler call left behind.
enum class IoWork {
  kIdle,  // nothing left: sleep until the next kick
  kMore,  // stopped early (work budget or stop_requested()): call again
};

class IoThread {
 public:
  // `name`: the thread's name, cut to the kernel's 15 characters.
  static Result<std::unique_ptr<IoThread>> create(std::string name);
  ~IoThread();
  IoThread(const IoThread&) = delete;
  IoThread& operator=(const IoThread&) = delete;

  int kick_fd() const { return kick_fd_.get(); }
  bool running() const { return thread_.joinable(); }

  Result<void> start(std::function<IoWork()> handler);
  void stop();
  void kick();
  // True from the start of stop() until it returns: the handler should
  // return (with kMore) at its next batch boundary.
  bool stop_requested() const { return stop_requested_.load(std::memory_order_acquire); }

 private:
  IoThread(std::string name, UniqueFd kick_fd, UniqueFd stop_fd)
      : name_(std::move(name)), kick_fd_(std::move(kick_fd)), stop_fd_(std::move(stop_fd)) {}
  void run();

  std::string name_;
  UniqueFd kick_fd_;
  UniqueFd stop_fd_;
  std::atomic<bool> stop_requested_{false};
  std::function<IoWork()> handler_;
  std::thread thread_;
};

}  // namespace amber::hv::virtio
