#include "hv/virtio/iothread.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace amber::hv::virtio {
namespace {

void drain(int fd) {
  uint64_t count;
  while (read(fd, &count, sizeof count) == sizeof count) {
  }
}

}  // namespace

Result<std::unique_ptr<IoThread>> IoThread::create() {
  const int kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (kick < 0) return Error::from_errno(errno, "eventfd for virtqueue kick");
  const int stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop < 0) {
    const int saved = errno;
    close(kick);
    return Error::from_errno(saved, "eventfd for iothread stop");
  }
  return std::unique_ptr<IoThread>(new IoThread(kick, stop));
}

IoThread::~IoThread() {
  stop();
  close(kick_fd_);
  close(stop_fd_);
}

Result<void> IoThread::start(std::function<void()> handler) {
  if (running()) return ok();
  handler_ = std::move(handler);
  drain(stop_fd_);
  thread_ = std::thread([this] { run(); });
  return ok();
}

void IoThread::stop() {
  if (!running()) return;
  const uint64_t one = 1;
  // A full eventfd counter is impossible here (one write per stop).
  [[maybe_unused]] const ssize_t n = write(stop_fd_, &one, sizeof one);
  thread_.join();
  drain(stop_fd_);
  handler_ = nullptr;
}

void IoThread::kick() {
  const uint64_t one = 1;
  // EAGAIN only when the counter is saturated, i.e. a kick is pending anyway.
  [[maybe_unused]] const ssize_t n = write(kick_fd_, &one, sizeof one);
}

void IoThread::run() {
  // Buffers may have been queued before we started (or kicks consumed by a
  // previous run): look at the ring once before sleeping.
  handler_();
  for (;;) {
    pollfd fds[2] = {{kick_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    const int r = poll(fds, 2, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      return;  // cannot happen with valid fds; the device then just stalls
    }
    if (fds[1].revents & POLLIN) return;
    if (fds[0].revents & POLLIN) {
      drain(kick_fd_);
      handler_();
    }
  }
}

}  // namespace amber::hv::virtio
