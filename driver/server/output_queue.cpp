// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/server/output_queue.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>

namespace amber::driver::server {

namespace {

// Frames handed to one sendmsg() call.
constexpr size_t kMaxIov = 64;

}  // namespace

bool OutputQueue::push(std::vector<uint8_t> frame) {
  bool was_empty = false;
  bool overflowed = false;
  {
    std::lock_guard lock(mutex_);
    if (closed_ || overflowed_) return false;
    if (pending_ > 0 && pending_ + frame.size() > limit_) {
      overflowed_ = true;
      overflowed = true;
      frames_.clear();
      pending_ = 0;
      head_sent_ = 0;
    } else {
      was_empty = frames_.empty();
      pending_ += frame.size();
      frames_.push_back(std::move(frame));
    }
  }
  if (was_empty || overflowed) wakeup_->ring();
  return !overflowed;
}

size_t OutputQueue::pending() const {
  std::lock_guard lock(mutex_);
  return pending_;
}

bool OutputQueue::overflowed() const {
  std::lock_guard lock(mutex_);
  return overflowed_;
}

Result<void> OutputQueue::write_to(int fd) {
  std::lock_guard lock(mutex_);
  while (!frames_.empty()) {
    iovec iov[kMaxIov];
    size_t count = 0;
    for (auto it = frames_.begin(); it != frames_.end() && count < kMaxIov; ++it, ++count) {
      size_t skip = count == 0 ? head_sent_ : 0;
      iov[count].iov_base = it->data() + skip;
      iov[count].iov_len = it->size() - skip;
    }
    msghdr message{};
    message.msg_iov = iov;
    message.msg_iovlen = count;
    ssize_t sent = sendmsg(fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent < 0) {
      if (errno == EAGAIN || errno == EINTR) return {};
      return Error::from_errno(errno, "sending to client");
    }
    // sent >= 0 and at most the bytes described by iov.
    size_t left = static_cast<size_t>(sent);
    pending_ -= left;
    while (left > 0) {
      size_t head_left = frames_.front().size() - head_sent_;
      if (left < head_left) {
        head_sent_ += left;
        break;
      }
      left -= head_left;
      frames_.pop_front();
      head_sent_ = 0;
    }
  }
  return {};
}

void OutputQueue::close() {
  std::lock_guard lock(mutex_);
  closed_ = true;
  frames_.clear();
  pending_ = 0;
  head_sent_ = 0;
}

}  // namespace amber::driver::server
