// SPDX-License-Identifier: GPL-2.0-or-later
// One client's outgoing frames: replies from workers, event MESSAGEs from
// the Manager's threads, stream data from the loop. Bounded: a push that
// would take the unsent bytes past the limit marks the queue overflowed
// (the loop then drops the client) instead of growing; one frame alone is
// always accepted, so the largest legal reply still goes out.
// A REPLY_WITH_FDS frame is followed by its descriptors, each sent as
// libvirt sends them: its own sendmsg() of one 0x00 byte carrying one
// SCM_RIGHTS fd (the client reads them after the frame).
//
// Thread-safety: push(), pending(), overflowed() from any thread;
// write_to() and close() by the loop thread.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "driver/server/wakeup.h"

namespace amber::driver::server {

class OutputQueue {
 public:
  OutputQueue(size_t limit, std::shared_ptr<Wakeup> wakeup)
      : limit_(limit), wakeup_(std::move(wakeup)) {}

  // False when closed or overflowed (the frame is dropped). Rings the loop
  // when the queue was empty, so it starts polling for POLLOUT.
  bool push(std::vector<uint8_t> frame);
  // FRAME, then FDS in order (closed here once sent, or when dropped).
  bool push_with_fds(std::vector<uint8_t> frame, std::vector<UniqueFd> fds);
  size_t pending() const;
  bool overflowed() const;
  // Sends what the non-blocking socket takes; kIo when the peer is gone.
  Result<void> write_to(int fd);
  // Drops everything queued; later pushes fail.
  void close();

 private:
  const size_t limit_;
  const std::shared_ptr<Wakeup> wakeup_;
  mutable std::mutex mutex_;
  // An entry with an fd is the one-byte carrier of that descriptor.
  struct Entry {
    std::vector<uint8_t> bytes;
    UniqueFd fd;
  };
  bool push_entries(std::vector<Entry> entries);
  Result<bool> send_fd(int socket);  // the front entry's fd; false: try later
  std::deque<Entry> frames_;
  size_t head_sent_ = 0;  // bytes of frames_.front() already sent
  size_t pending_ = 0;    // unsent bytes in frames_
  bool overflowed_ = false;
  bool closed_ = false;
};

}  // namespace amber::driver::server
