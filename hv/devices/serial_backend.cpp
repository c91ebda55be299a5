// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/devices/serial_backend.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace amber::hv::devices {
namespace {
// Poll timeout: how quickly the reader notices stop_ at shutdown.
constexpr int kPollMilliseconds = 100;
constexpr size_t kReadChunk = 256;
}  // namespace

Result<std::unique_ptr<SerialBackend>> SerialBackend::open(const vmmctl::SerialSettings& spec) {
  std::unique_ptr<SerialBackend> backend(new SerialBackend());
  backend->kind_ = spec.kind;
  switch (spec.kind) {
    case vmmctl::SerialKind::kNone:
      break;
    case vmmctl::SerialKind::kStdio:
      backend->in_fd_ = STDIN_FILENO;
      backend->out_fd_ = STDOUT_FILENO;
      break;
    case vmmctl::SerialKind::kPty: {
      backend->owned_.reset(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
      const int master = backend->owned_.get();
      if (master < 0 || ::grantpt(master) < 0 || ::unlockpt(master) < 0)
        return Error::from_errno(errno, "--serial pty: creating a pseudo terminal");
      termios tio{};
      if (::tcgetattr(master, &tio) == 0) {
        ::cfmakeraw(&tio);
        ::tcsetattr(master, TCSANOW, &tio);
      }
      ::fcntl(master, F_SETFL, ::fcntl(master, F_GETFL) | O_NONBLOCK);
      backend->in_fd_ = backend->out_fd_ = master;
      backend->pty_path_ = ::ptsname(master);
      std::fprintf(stderr, "amber-vmm: serial pty: %s\n", backend->pty_path_.c_str());
      break;
    }
    case vmmctl::SerialKind::kFile: {
      backend->owned_.reset(
          ::open(spec.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
      if (!backend->owned_) return Error::from_errno(errno, "--serial file:" + spec.path);
      backend->out_fd_ = backend->owned_.get();
      break;
    }
    case vmmctl::SerialKind::kUnix: {
      sockaddr_un address{};
      address.sun_family = AF_UNIX;
      if (spec.path.size() >= sizeof(address.sun_path))
        return Error(ErrorKind::kInvalidArgument, "--serial unix:" + spec.path + ": path too long");
      std::memcpy(address.sun_path, spec.path.c_str(), spec.path.size() + 1);
      UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      const int fd = listener.get();
      if (fd < 0) return Error::from_errno(errno, "--serial unix: socket");
      ::unlink(spec.path.c_str());
      if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) < 0 ||
          ::listen(fd, 1) < 0) {
        return Error::from_errno(errno, "--serial unix:" + spec.path);
      }
      backend->listen_fd_ = std::move(listener);
      backend->socket_path_ = spec.path;
      break;
    }
  }
  return backend;
}

SerialBackend::~SerialBackend() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (kind_ == vmmctl::SerialKind::kUnix) {
    listen_fd_.reset();
    ::unlink(socket_path_.c_str());
  }
}

void SerialBackend::start(std::function<size_t(const uint8_t*, size_t)> input) {
  input_ = std::move(input);
  if (kind_ == vmmctl::SerialKind::kNone || kind_ == vmmctl::SerialKind::kFile) return;
  thread_ = std::thread([this] { reader(); });
}

void SerialBackend::write(uint8_t byte) {
  std::lock_guard lock(mutex_);
  if (out_fd_ < 0) return;
  // Dropped when the reader is not keeping up (EAGAIN) or gone (EPIPE).
  ssize_t written;
  if (kind_ == vmmctl::SerialKind::kUnix) {
    written = ::send(out_fd_, &byte, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
  } else {
    written = ::write(out_fd_, &byte, 1);
  }
  (void)written;
}

void SerialBackend::reader() {
  uint8_t buffer[kReadChunk];
  size_t pending = 0;
  while (!stop_) {
    int fd;
    {
      std::lock_guard lock(mutex_);
      fd = in_fd_;
    }
    if (fd < 0 && listen_fd_) {
      pollfd p{listen_fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, kPollMilliseconds) > 0) {
        const int client =
            ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (client >= 0) {
          std::lock_guard lock(mutex_);
          owned_.reset(client);
          in_fd_ = out_fd_ = client;
        }
      }
      continue;
    }
    if (pending != 0) {
      const size_t taken = input_(buffer, pending);
      std::memmove(buffer, buffer + taken, pending - taken);
      pending -= taken;
      if (pending != 0) {
        ::usleep(1000 * 10);
        continue;
      }
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, kPollMilliseconds) <= 0) continue;
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n > 0) {
      pending = static_cast<size_t>(n);
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      if (kind_ == vmmctl::SerialKind::kUnix) {
        std::lock_guard lock(mutex_);
        owned_.reset();
        in_fd_ = out_fd_ = -1;
      } else if (kind_ == vmmctl::SerialKind::kStdio) {
        return;  // stdin closed: no more input
      } else {
        ::usleep(1000 * kPollMilliseconds);  // pty without a reader: POLLHUP until one opens it
      }
    }
  }
}

}  // namespace amber::hv::devices
