// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/vm/monitor.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "vmmctl/protocol.h"

namespace amber::driver::vm {
namespace {

// After the process ended, the SHUTDOWN line may still be in the socket:
// read it for at most this long.
constexpr int kDrainMilliseconds = 2000;
// After the connection closed, the process normally ends within
// milliseconds; a VMM that keeps running after closing its control socket
// is reported as ended anyway after this long.
constexpr int kExitWaitMilliseconds = 10000;

Result<UniqueFd> connect_socket(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path))
    return Error(ErrorKind::kInvalidArgument, "control socket path too long: " + path);
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Error::from_errno(errno, "socket");
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0)
    return Error::from_errno(errno, "connecting to " + path);
  return fd;
}

}  // namespace

Result<std::unique_ptr<Monitor>> Monitor::start(const std::string& socket, int pidfd,
                                                EventHandler on_event, ExitHandler on_exit) {
  std::unique_ptr<Monitor> monitor(new Monitor());
  monitor->socket_ = socket;
  monitor->pidfd_ = pidfd;
  monitor->on_event_ = std::move(on_event);
  monitor->on_exit_ = std::move(on_exit);
  AMBER_TRY_ASSIGN(monitor->command_, vmmctl::Client::connect(socket));
  AMBER_TRY_ASSIGN(monitor->events_fd_, connect_socket(socket));
  monitor->wake_fd_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!monitor->wake_fd_) return Error::from_errno(errno, "eventfd");
  Monitor* raw = monitor.get();
  monitor->thread_ = std::thread([raw] { raw->run(); });
  return monitor;
}

Monitor::~Monitor() {
  stopping_ = true;
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_.get(), &one, sizeof(one));
  if (!thread_.joinable()) return;
  if (thread_.get_id() == std::this_thread::get_id()) {
    thread_.detach();  // a handler dropped the last owner; run() returns at once
  } else {
    thread_.join();
  }
}

bool Monitor::read_events() {
  char buffer[4096];
  const ssize_t n = ::recv(events_fd_.get(), buffer, sizeof(buffer), MSG_DONTWAIT);
  if (n == 0) return false;
  if (n < 0) return errno == EAGAIN || errno == EINTR;
  input_.append(buffer, static_cast<size_t>(n));
  size_t newline;
  while ((newline = input_.find('\n')) != std::string::npos) {
    const std::string line = input_.substr(0, newline);
    input_.erase(0, newline + 1);
    auto message = vmmctl::decode_message(line);
    if (!message.ok()) continue;  // a line we cannot read is not an event
    if (message->kind == vmmctl::Message::Kind::kGreeting) {
      greeted_ = true;
      continue;
    }
    if (message->kind != vmmctl::Message::Kind::kEvent) continue;
    auto event = vmmctl::decode_event(message->body);
    if (event.ok() && !stopping_) on_event_(*event);
  }
  if (input_.size() > vmmctl::kMaxMessageLength) return false;
  return true;
}

void Monitor::run() {
  bool connected = true;
  while (!stopping_) {
    pollfd fds[3] = {
        {wake_fd_.get(), POLLIN, 0}, {pidfd_, POLLIN, 0}, {events_fd_.get(), POLLIN, 0}};
    const int ready = ::poll(fds, connected ? 3 : 2, connected ? -1 : kExitWaitMilliseconds);
    if (ready < 0 && errno == EINTR) continue;
    if (stopping_) return;
    if (connected && (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) connected = read_events();
    const bool exited = ready > 0 && (fds[1].revents & POLLIN);
    const bool gave_up = !connected && ready == 0;
    if (exited || gave_up) {
      // The last lines (SHUTDOWN) may still be queued.
      pollfd last{events_fd_.get(), POLLIN, 0};
      while (connected && !stopping_ && ::poll(&last, 1, kDrainMilliseconds) > 0)
        connected = read_events();
      if (!stopping_) on_exit_();
      return;  // nothing of *this is touched after on_exit_
    }
  }
}

}  // namespace amber::driver::vm
