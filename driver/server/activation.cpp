// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/server/activation.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace amber::driver::server {

namespace {

// SD_LISTEN_FDS_START.
constexpr int kFirstFd = 3;
// More than the two sockets we own is a misconfigured unit; this bounds
// the loop over a hostile LISTEN_FDS.
constexpr long kMaxFds = 16;

std::vector<std::string> split_names(const char* names) {
  std::vector<std::string> out;
  if (names == nullptr) return out;
  std::string all = names;
  size_t start = 0;
  while (true) {
    size_t colon = all.find(':', start);
    out.push_back(all.substr(start, colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return out;
}

Result<std::string> bound_path(int fd) {
  int value = 0;
  socklen_t length = sizeof(value);
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &value, &length) != 0 || value != AF_UNIX) {
    return Error(ErrorKind::kInvalidArgument,
                 "activated fd " + std::to_string(fd) + " is not a unix socket");
  }
  length = sizeof(value);
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &length) != 0 || value == 0) {
    return Error(ErrorKind::kInvalidArgument,
                 "activated fd " + std::to_string(fd) + " is not a listening socket");
  }
  sockaddr_un address{};
  socklen_t address_length = sizeof(address);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &address_length) != 0) {
    return Error::from_errno(errno, "getsockname on activated fd " + std::to_string(fd));
  }
  return std::string(address.sun_path, strnlen(address.sun_path, sizeof(address.sun_path)));
}

}  // namespace

Result<ActivatedSockets> take_activated_sockets(const std::string& rw_path,
                                                const std::string& ro_path) {
  ActivatedSockets sockets;
  const char* pid = std::getenv("LISTEN_PID");
  const char* fds = std::getenv("LISTEN_FDS");
  if (pid == nullptr || fds == nullptr) return sockets;
  if (std::strtol(pid, nullptr, 10) != static_cast<long>(getpid())) return sockets;
  long count = std::strtol(fds, nullptr, 10);
  std::vector<std::string> names = split_names(std::getenv("LISTEN_FDNAMES"));
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_FDNAMES");
  if (count < 0 || count > kMaxFds) {
    return Error(ErrorKind::kInvalidArgument, "LISTEN_FDS=" + std::string(fds) + " out of range");
  }
  for (int i = 0; i < static_cast<int>(count); ++i) {  // count is in [0, kMaxFds]
    int fd = kFirstFd + i;
    AMBER_TRY_ASSIGN(std::string path, bound_path(fd));
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    std::string name = static_cast<size_t>(i) < names.size() ? names[i] : "";
    int* slot = nullptr;
    if (name == "virtamberd.socket") slot = &sockets.rw_fd;
    if (name == "virtamberd-ro.socket") slot = &sockets.ro_fd;
    if (slot == nullptr && (name.empty() || name == "unknown")) {
      if (path == rw_path) slot = &sockets.rw_fd;
      if (path == ro_path) slot = &sockets.ro_fd;
      if (slot == nullptr) slot = i == 0 ? &sockets.rw_fd : &sockets.ro_fd;
    }
    if (slot == nullptr || *slot >= 0) {
      return Error(ErrorKind::kInvalidArgument, "activated fd " + std::to_string(fd) + " ('" +
                                                    name + "', " + path +
                                                    ") is neither the read-write nor the "
                                                    "read-only socket");
    }
    *slot = fd;
  }
  return sockets;
}

}  // namespace amber::driver::server
