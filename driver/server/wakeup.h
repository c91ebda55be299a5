// SPDX-License-Identifier: GPL-2.0-or-later
// The event loop's doorbell: an eventfd that workers, event sinks and
// signal-free stop requests write to so the poll() in the loop returns.
// Shared (shared_ptr) by everything that may ring it, so the fd outlives
// any thread still holding a client.
//
// Thread-safety: ring() from any thread; drain() by the loop thread.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <memory>

#include "common/result.h"
#include "common/unique_fd.h"

namespace amber::driver::server {

class Wakeup {
 public:
  static Result<std::shared_ptr<Wakeup>> create() {
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) return Error::from_errno(errno, "eventfd");
    return std::shared_ptr<Wakeup>(new Wakeup(UniqueFd(fd)));
  }
  void ring() const {
    uint64_t one = 1;
    // EAGAIN means the counter is saturated: the loop is woken anyway.
    [[maybe_unused]] ssize_t ignored = write(fd_.get(), &one, sizeof(one));
  }
  void drain() const {
    uint64_t count = 0;
    [[maybe_unused]] ssize_t ignored = read(fd_.get(), &count, sizeof(count));
  }
  int fd() const { return fd_.get(); }

 private:
  explicit Wakeup(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace amber::driver::server
