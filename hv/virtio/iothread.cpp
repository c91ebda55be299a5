// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/virtio/iothread.h"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

namespace amber::hv::virtio {
namespace {

// The kernel's thread-name limit (TASK_COMM_LEN 16, with the NUL).
constexpr size_t kMaxThreadName = 15;

void drain(int fd) {
  uint64_t count;
  while (read(fd, &count, sizeof count) == sizeof count) {
  }
}

}  // namespace

Result<std::unique_ptr<IoThread>> IoThread::create(std::string name) {
  name.resize(std::min<size_t>(name.size(), kMaxThreadName));
  UniqueFd kick(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!kick) return Error::from_errno(errno, "eventfd for virtqueue kick");
  UniqueFd stop(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop) return Error::from_errno(errno, "eventfd for iothread stop");
  return std::unique_ptr<IoThread>(new IoThread(std::move(name), std::move(kick), std::move(stop)));
}

IoThread::~IoThread() {
  stop();
}

Result<void> IoThread::start(std::function<IoWork()> handler) {
  if (running()) return ok();
  handler_ = std::move(handler);
  drain(stop_fd_.get());
  thread_ = std::thread([this] { run(); });
  return ok();
}

void IoThread::stop() {
  if (!running()) return;
  stop_requested_.store(true, std::memory_order_release);
  const uint64_t one = 1;
  // A full eventfd counter is impossible here (one write per stop).
  [[maybe_unused]] const ssize_t n = write(stop_fd_.get(), &one, sizeof one);
  thread_.join();
  drain(stop_fd_.get());
  handler_ = nullptr;
  stop_requested_.store(false, std::memory_order_release);
}

void IoThread::kick() {
  const uint64_t one = 1;
  // EAGAIN only when the counter is saturated, i.e. a kick is pending anyway.
  [[maybe_unused]] const ssize_t n = write(kick_fd_.get(), &one, sizeof one);
}

void IoThread::run() {
  // Only a name over 15 characters fails, and create() cut it to that.
  pthread_setname_np(pthread_self(), name_.c_str());
  // Buffers may have been queued before we started (or kicks consumed by a
  // previous run): look at the ring once before sleeping.
  IoWork work = handler_();
  for (;;) {
    if (stop_requested()) return;
    pollfd fds[2] = {{kick_fd_.get(), POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}};
    // Work left over: only look for a stop (or a kick), do not sleep.
    const int r = poll(fds, 2, work == IoWork::kMore ? 0 : -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      return;  // cannot happen with valid fds; the device then just stalls
    }
    if (fds[1].revents & POLLIN) return;
    if (fds[0].revents & POLLIN) drain(kick_fd_.get());
    if (r > 0 || work == IoWork::kMore) work = handler_();
  }
}

}  // namespace amber::hv::virtio
