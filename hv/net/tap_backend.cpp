// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/net/tap_backend.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

namespace amber::hv::net {

namespace {

// Frames read in one go before the thread polls again.
constexpr int kReadBurst = 64;

}  // namespace

Result<std::unique_ptr<TapBackend>> TapBackend::create(int fd) {
  UniqueFd tap(fd);
  const std::string what = "--nic fd=" + std::to_string(fd);
  const int flags = ::fcntl(tap.get(), F_GETFL);
  if (flags < 0) return Error::from_errno(errno, what);
  if (::fcntl(tap.get(), F_SETFL, flags | O_NONBLOCK) < 0) return Error::from_errno(errno, what);
  (void)::fcntl(tap.get(), F_SETFD, FD_CLOEXEC);
  ifreq request{};
  if (::ioctl(tap.get(), TUNGETIFF, &request) == 0) {
    if (!(request.ifr_flags & IFF_TAP))
      return Error(ErrorKind::kInvalidArgument,
                   what + ": " + request.ifr_name + " is a tun, not a tap device");
    if (!(request.ifr_flags & IFF_NO_PI))
      return Error(ErrorKind::kInvalidArgument,
                   what + ": " + request.ifr_name + " was opened without IFF_NO_PI");
    if (request.ifr_flags & IFF_VNET_HDR)
      return Error(ErrorKind::kInvalidArgument,
                   what + ": " + request.ifr_name + " was opened with IFF_VNET_HDR");
  }
  UniqueFd wakeup(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wakeup) return Error::from_errno(errno, "tap: eventfd");
  return std::unique_ptr<TapBackend>(new TapBackend(std::move(tap), std::move(wakeup)));
}

TapBackend::~TapBackend() {
  stop();
}

Result<void> TapBackend::start(FrameSink& sink) {
  if (thread_.joinable()) return ok();
  sink_ = &sink;
  thread_ = std::thread([this] { run(); });
  return ok();
}

SendResult TapBackend::send(std::span<const uint8_t> frame) {
  for (;;) {
    const ssize_t n = ::write(tap_.get(), frame.data(), frame.size());
    if (n >= 0)
      return static_cast<size_t>(n) == frame.size() ? SendResult::kSent : SendResult::kFailed;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == ENOBUFS) return SendResult::kDropped;
    return SendResult::kFailed;
  }
}

void TapBackend::wake() {
  const uint64_t one = 1;
  (void)!::write(wakeup_.get(), &one, sizeof one);
}

void TapBackend::stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  wake();
  thread_.join();
}

void TapBackend::run() {
  std::vector<uint8_t> buffer(kMaxFrameSize);
  bool reported = false;
  while (!stopping_) {
    const bool room = sink_->can_receive();
    pollfd fds[2] = {{wakeup_.get(), POLLIN, 0},
                     {tap_.get(), static_cast<short>(room ? POLLIN : 0), 0}};
    // Without room, wait for wake(); re-check now and then in case a wake
    // raced with the check above.
    const int ready = ::poll(fds, 2, room ? -1 : 100);
    if (ready < 0 && errno != EINTR) break;
    if (fds[0].revents & POLLIN) {
      uint64_t count = 0;
      (void)!::read(wakeup_.get(), &count, sizeof count);
    }
    if (fds[1].revents & (POLLERR | POLLHUP | POLLNVAL)) {
      if (!reported)
        std::fprintf(stderr, "amber-vmm: tap: the device was closed or failed; no more frames\n");
      reported = true;
      fds[1].events = 0;
      // Keep serving wake()/stop() only.
      while (!stopping_) {
        pollfd only{wakeup_.get(), POLLIN, 0};
        (void)::poll(&only, 1, -1);
        uint64_t count = 0;
        (void)!::read(wakeup_.get(), &count, sizeof count);
      }
      break;
    }
    if (!(fds[1].revents & POLLIN)) continue;
    for (int i = 0; i < kReadBurst && sink_->can_receive(); ++i) {
      const ssize_t n = ::read(tap_.get(), buffer.data(), buffer.size());
      if (n <= 0) break;
      sink_->receive_frame(std::span<const uint8_t>(buffer.data(), static_cast<size_t>(n)));
    }
  }
}

}  // namespace amber::hv::net
