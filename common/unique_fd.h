// SPDX-License-Identifier: GPL-2.0-or-later
// UniqueFd: the one owner of a POSIX file descriptor. Move-only; closes the
// descriptor exactly once, when destroyed or reset. close(2) is never
// retried on EINTR: on Linux the descriptor is released even then, and a
// retry could close a descriptor another thread has just been given.
//
// Thread-safety: a value type; one thread at a time may use a given UniqueFd.
#pragma once

#include <unistd.h>

#include <utility>

namespace amber {

class UniqueFd {
 public:
  UniqueFd() = default;
  // Takes ownership of `fd`; a negative value means "no descriptor".
  explicit UniqueFd(int fd) : fd_(fd < 0 ? -1 : fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  [[nodiscard]] int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }

  // Gives up ownership without closing; the caller now owns the result.
  [[nodiscard]] int release() { return std::exchange(fd_, -1); }

  // Closes the held descriptor (if any) and takes `fd` instead.
  void reset(int fd = -1) {
    const int old = std::exchange(fd_, fd < 0 ? -1 : fd);
    if (old >= 0 && old != fd_) ::close(old);
  }

 private:
  int fd_ = -1;
};

}  // namespace amber
