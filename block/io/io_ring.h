// SPDX-License-Identifier: GPL-2.0-or-later
// IoRing: asynchronous vectored reads and writes through one io_uring, for
// a caller that keeps many requests in flight from one thread (amber-img
// bench with aio=io_uring/native, as qemu-img's coroutines do), instead of
// one blocked thread per request.
//
// The ring works on plain file descriptors: the caller has checked that the
// request suits the descriptor (O_DIRECT alignment, see
// PosixFile::aligned()). A completion's result is what the kernel returned:
// bytes transferred, or -errno; short transfers are the caller's to redo.
//
// Ownership: iovec arrays and buffers belong to the caller and must stay
// valid until the request's completion has been returned by
// submit_and_wait().
// Thread-safety: none; one thread owns the ring.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "common/result.h"

namespace amber::block::io {

enum class IoOp { kRead, kWrite };

struct IoCompletion {
  uint64_t tag = 0;    // as given to queue()
  int64_t result = 0;  // bytes transferred, or -errno
};

class IoRing {
 public:
  // A ring with room for at least `entries` requests queued or in flight.
  static Result<std::unique_ptr<IoRing>> create(unsigned entries);
  ~IoRing();
  IoRing(const IoRing&) = delete;
  IoRing& operator=(const IoRing&) = delete;

  // Queues a vectored read or write of `iov` at `offset` on `fd`; nothing
  // reaches the kernel before submit_and_wait(). False when the submission
  // queue is full.
  [[nodiscard]] bool queue(int fd, IoOp op, uint64_t offset, const iovec* iov, unsigned count,
                           uint64_t tag);

  // Hands every queued request to the kernel, waits until at least
  // `wait_for` completions are available, and replaces `out` with all
  // completions available now (possibly more than `wait_for`).
  Result<void> submit_and_wait(unsigned wait_for, std::vector<IoCompletion>& out);

 private:
  struct State;
  explicit IoRing(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace amber::block::io
