// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/server/fd_stream_relay.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace amber::driver::server {

namespace {

// Bytes read from the fd per STREAM packet: a console produces little, and
// small packets keep keystroke echo prompt.
constexpr size_t kReadChunk = 64 * 1024;
static_assert(kReadChunk <= kStreamChunk);

}  // namespace

FdStreamRelay::FdStreamRelay(int32_t procedure, uint32_t serial, protocol::OpenedStream stream,
                             std::function<void()> ring)
    : StreamRelay(procedure, serial), stream_(std::move(stream)) {
  int flags = fcntl(stream_.fd.get(), F_GETFL);
  if (flags >= 0) fcntl(stream_.fd.get(), F_SETFL, flags | O_NONBLOCK);
  if (!stream_.signal) stream_.signal = std::make_shared<protocol::StreamSignal>();
  stream_.signal->set_listener(std::move(ring));
}

FdStreamRelay::~FdStreamRelay() {
  finish(End::kReleased);
}

short FdStreamRelay::poll_events(const OutputQueue& output) const {
  if (state_ == State::kDone || !stream_.fd) return 0;
  short events = 0;
  if (state_ == State::kOpen && output.pending() < kStreamHighWater) events |= POLLIN;
  if (to_fd_sent_ < to_fd_.size()) events |= POLLOUT;
  return events;
}

void FdStreamRelay::on_ready(short revents, OutputQueue& output) {
  if (state_ == State::kDone) return;
  if (revents & POLLOUT) write_fd();
  if (revents & (POLLIN | POLLHUP | POLLERR)) read_fd(output);
}

void FdStreamRelay::read_fd(OutputQueue& output) {
  if (state_ != State::kOpen) return;
  uint8_t buffer[kReadChunk];
  ssize_t count = read(stream_.fd.get(), buffer, sizeof(buffer));
  if (count < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (count <= 0) {
    // EOF, or EIO from a pty whose other side closed (the guest stopped):
    // an empty CONTINUE tells the client the stream ended; it confirms
    // with a finish.
    state_ = State::kEndOfFile;
    send(rpc::PacketStatus::kContinue, {}, output);
    return;
  }
  // count is positive and at most sizeof(buffer).
  send(rpc::PacketStatus::kContinue, std::span(buffer, static_cast<size_t>(count)), output);
}

void FdStreamRelay::write_fd() {
  while (to_fd_sent_ < to_fd_.size()) {
    ssize_t count =
        write(stream_.fd.get(), to_fd_.data() + to_fd_sent_, to_fd_.size() - to_fd_sent_);
    if (count < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      // The fd is gone (the guest stopped): what the client typed has
      // nowhere to go; the read side reports the end.
      to_fd_.clear();
      to_fd_sent_ = 0;
      return;
    }
    to_fd_sent_ += static_cast<size_t>(count);  // count >= 0 here
  }
  to_fd_.clear();
  to_fd_sent_ = 0;
}

void FdStreamRelay::on_packet(const rpc::PacketHeader& header, std::span<const uint8_t> body,
                              OutputQueue& output) {
  if (state_ == State::kDone || header.type != rpc::PacketType::kStream) return;
  switch (header.status) {
    case rpc::PacketStatus::kContinue:
      if (state_ == State::kOpen && stream_.fd) {
        to_fd_.insert(to_fd_.end(), body.begin(), body.end());
        write_fd();
      }
      return;
    case rpc::PacketStatus::kOk:     // finish
    case rpc::PacketStatus::kError:  // abort
      if (header.status == rpc::PacketStatus::kOk) write_fd();
      // libvirtd confirms both with an empty STREAM OK; the client waits for it.
      send(rpc::PacketStatus::kOk, {}, output);
      finish(End::kReleased);
      return;
  }
}

void FdStreamRelay::tick(OutputQueue& output) {
  if (state_ == State::kDone || !stream_.signal->revoked()) return;
  // The manager also revokes the console of a domain that stopped; then
  // the pty has hung up and the client is told EOF (read_fd), as libvirtd
  // does, rather than an error.
  if (state_ == State::kEndOfFile) return;
  pollfd hangup{stream_.fd.get(), POLLIN, 0};
  if (poll(&hangup, 1, 0) == 1 && (hangup.revents & (POLLHUP | POLLERR))) return;
  output.push(error_frame(stream_.revoked_error));
  finish(End::kRevoked);
}

void FdStreamRelay::send(rpc::PacketStatus status, std::span<const uint8_t> body,
                         OutputQueue& output) {
  output.push(frame(rpc::PacketType::kStream, status, body));
}

void FdStreamRelay::finish(End end) {
  if (state_ == State::kDone) return;
  state_ = State::kDone;
  stream_.signal->clear_listener();
  stream_.fd.reset();
  to_fd_.clear();
  to_fd_sent_ = 0;
  // A revoked console belongs to its new holder: nothing to release.
  auto on_end = std::exchange(stream_.on_end, nullptr);
  if (end == End::kReleased && on_end && !stream_.signal->revoked()) on_end();
}

}  // namespace amber::driver::server
