// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/server/output_queue.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>

namespace amber::driver::server {

namespace {

// Frames handed to one sendmsg() call.
constexpr size_t kMaxIov = 64;

}  // namespace

bool OutputQueue::push(std::vector<uint8_t> frame) {
  std::vector<Entry> entries;
  entries.push_back(Entry{std::move(frame), UniqueFd()});
  return push_entries(std::move(entries));
}

bool OutputQueue::push_with_fds(std::vector<uint8_t> frame, std::vector<UniqueFd> fds) {
  std::vector<Entry> entries;
  entries.push_back(Entry{std::move(frame), UniqueFd()});
  for (UniqueFd& fd : fds) entries.push_back(Entry{std::vector<uint8_t>{0}, std::move(fd)});
  return push_entries(std::move(entries));
}

bool OutputQueue::push_entries(std::vector<Entry> entries) {
  size_t bytes = 0;
  for (const Entry& entry : entries) bytes += entry.bytes.size();
  bool was_empty = false;
  bool overflowed = false;
  {
    std::lock_guard lock(mutex_);
    if (closed_ || overflowed_) return false;
    if (pending_ > 0 && pending_ + bytes > limit_) {
      overflowed_ = true;
      overflowed = true;
      frames_.clear();
      pending_ = 0;
      head_sent_ = 0;
    } else {
      was_empty = frames_.empty();
      pending_ += bytes;
      for (Entry& entry : entries) frames_.push_back(std::move(entry));
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

Result<bool> OutputQueue::send_fd(int socket) {
  Entry& entry = frames_.front();
  uint8_t byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int));
  const int fd = entry.fd.get();
  std::memcpy(CMSG_DATA(header), &fd, sizeof fd);
  const ssize_t sent = sendmsg(socket, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (sent < 0) {
    if (errno == EAGAIN || errno == EINTR) return false;
    return Error::from_errno(errno, "passing a descriptor to the client");
  }
  pending_ -= 1;
  frames_.pop_front();  // closes our copy
  return true;
}

Result<void> OutputQueue::write_to(int fd) {
  std::lock_guard lock(mutex_);
  while (!frames_.empty()) {
    if (frames_.front().fd.get() >= 0) {
      AMBER_TRY_ASSIGN(const bool sent, send_fd(fd));
      if (!sent) return {};
      continue;
    }
    // Plain bytes up to the next descriptor.
    iovec iov[kMaxIov];
    size_t count = 0;
    for (auto it = frames_.begin(); it != frames_.end() && count < kMaxIov; ++it, ++count) {
      if (it->fd.get() >= 0) break;
      size_t skip = count == 0 ? head_sent_ : 0;
      iov[count].iov_base = it->bytes.data() + skip;
      iov[count].iov_len = it->bytes.size() - skip;
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
      size_t head_left = frames_.front().bytes.size() - head_sent_;
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
