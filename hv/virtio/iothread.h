// IoThread: one thread per virtqueue that sleeps until the guest kicks.
//
// The kick eventfd is created once and lives as long as the IoThread, so
// the transport can register it with KVM (ioeventfd) independently of
// whether the thread currently runs. start() spawns the thread, which runs
// the handler once and then each time the kick eventfd fires; stop() wakes
// it through a second (stop) eventfd and joins it, so after stop() returns
// the handler is not running and will not run again until start().
//
// Thread-safety: start()/stop() from one controlling thread (the
// transport, under its lock); kick() from any thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "common/result.h"

namespace amber::hv::virtio {

class IoThread {
 public:
  static Result<std::unique_ptr<IoThread>> create();
  ~IoThread();
  IoThread(const IoThread&) = delete;
  IoThread& operator=(const IoThread&) = delete;

  int kick_fd() const { return kick_fd_; }
  bool running() const { return thread_.joinable(); }

  Result<void> start(std::function<void()> handler);
  void stop();
  void kick();

 private:
  IoThread(int kick_fd, int stop_fd) : kick_fd_(kick_fd), stop_fd_(stop_fd) {}
  void run();

  int kick_fd_;
  int stop_fd_;
  std::function<void()> handler_;
  std::thread thread_;
};

}  // namespace amber::hv::virtio
