// SPDX-License-Identifier: GPL-2.0-or-later
#include "block/io/io_ring.h"

#include <liburing.h>

#include <cerrno>

namespace amber::block::io {

struct IoRing::State {
  io_uring ring{};
};

Result<std::unique_ptr<IoRing>> IoRing::create(unsigned entries) {
  auto state = std::make_unique<State>();
  // The completion queue gets twice `entries` slots (liburing's default),
  // so every request in flight has one even if the caller reaps late.
  const int rc = io_uring_queue_init(entries == 0 ? 1 : entries, &state->ring, 0);
  if (rc < 0) return Error::from_errno(-rc, "io_uring setup failed");
  return std::unique_ptr<IoRing>(new IoRing(std::move(state)));
}

IoRing::IoRing(std::unique_ptr<State> state) : state_(std::move(state)) {}

IoRing::~IoRing() {
  io_uring_queue_exit(&state_->ring);
}

bool IoRing::queue(int fd, IoOp op, uint64_t offset, const iovec* iov, unsigned count,
                   uint64_t tag) {
  io_uring_sqe* sqe = io_uring_get_sqe(&state_->ring);
  if (sqe == nullptr) return false;
  if (op == IoOp::kWrite) {
    io_uring_prep_writev(sqe, fd, iov, count, offset);
  } else {
    io_uring_prep_readv(sqe, fd, iov, count, offset);
  }
  io_uring_sqe_set_data64(sqe, tag);
  return true;
}

Result<void> IoRing::submit_and_wait(unsigned wait_for, std::vector<IoCompletion>& out) {
  out.clear();
  io_uring* ring = &state_->ring;
  int rc;
  do {
    rc = io_uring_submit_and_wait(ring, wait_for);
  } while (rc == -EINTR);
  if (rc < 0 && rc != -EBUSY && rc != -EAGAIN)
    return Error::from_errno(-rc, "io_uring submit failed");
  // -EBUSY / -EAGAIN: the completion queue is full or the kernel is short
  // of memory; reaping below makes room and the caller submits again.
  io_uring_cqe* cqe = nullptr;
  unsigned head = 0;
  unsigned seen = 0;
  io_uring_for_each_cqe(ring, head, cqe) {
    out.push_back({io_uring_cqe_get_data64(cqe), cqe->res});
    ++seen;
  }
  io_uring_cq_advance(ring, seen);
  return ok();
}

}  // namespace amber::block::io
