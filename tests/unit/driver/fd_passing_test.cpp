// SPDX-License-Identifier: GPL-2.0-or-later
// REPLY_WITH_FDS: the dispatcher frames a reply whose handler returned
// descriptors (type 5, a u32 count before the body), and the OutputQueue
// sends the frame and then each fd as libvirt's client reads them (one
// 0x00 byte carrying one SCM_RIGHTS fd), over a real socketpair.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "driver/protocol/dispatcher.h"
#include "driver/protocol/limits.h"
#include "driver/server/output_queue.h"

namespace amber::driver {
namespace {

UniqueFd pipe_reader(const char* text) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  EXPECT_EQ(::write(fds[1], text, std::strlen(text)), static_cast<ssize_t>(std::strlen(text)));
  ::close(fds[1]);
  return UniqueFd(fds[0]);
}

// One byte and the fd it carries (-1 when none).
int receive_fd(int socket, uint8_t* byte) {
  iovec iov{byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  if (::recvmsg(socket, &message, MSG_CMSG_CLOEXEC) != 1) return -1;
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  if (header == nullptr || header->cmsg_type != SCM_RIGHTS) return -1;
  int fd = -1;
  std::memcpy(&fd, CMSG_DATA(header), sizeof fd);
  return fd;
}

std::string read_all(int fd) {
  char buffer[64];
  ssize_t n = ::read(fd, buffer, sizeof buffer);
  return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : std::string();
}

TEST(FdPassing, OutputQueueSendsTheFdsAfterTheFrame) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  UniqueFd ours(pair[0]), theirs(pair[1]);
  auto wakeup = server::Wakeup::create();
  ASSERT_TRUE(wakeup.ok());
  server::OutputQueue queue(1 << 20, *wakeup);
  ASSERT_TRUE(queue.push({1, 2, 3, 4}));
  std::vector<UniqueFd> fds;
  fds.push_back(pipe_reader("first"));
  fds.push_back(pipe_reader("second"));
  ASSERT_TRUE(queue.push_with_fds({5, 6, 7, 8, 9, 10, 11, 12}, std::move(fds)));
  ASSERT_TRUE(queue.push({13, 14, 15, 16}));
  EXPECT_EQ(queue.pending(), 4u + 8u + 2u + 4u);
  ASSERT_TRUE(queue.write_to(ours.get()).ok());
  EXPECT_EQ(queue.pending(), 0u);

  uint8_t frames[12];
  ASSERT_EQ(::recv(theirs.get(), frames, sizeof frames, MSG_WAITALL), 12);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(frames[i], i + 1);
  uint8_t byte = 0xFF;
  UniqueFd first(receive_fd(theirs.get(), &byte));
  ASSERT_GE(first.get(), 0);
  EXPECT_EQ(byte, 0);
  EXPECT_EQ(read_all(first.get()), "first");
  UniqueFd second(receive_fd(theirs.get(), &byte));
  ASSERT_GE(second.get(), 0);
  EXPECT_EQ(read_all(second.get()), "second");
  uint8_t tail[4];
  ASSERT_EQ(::recv(theirs.get(), tail, sizeof tail, MSG_WAITALL), 4);
  EXPECT_EQ(tail[0], 13);
}

TEST(FdPassing, AClosedPeerIsAnErrorAndTheFdsAreDropped) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  UniqueFd ours(pair[0]);
  ::close(pair[1]);
  auto wakeup = server::Wakeup::create();
  ASSERT_TRUE(wakeup.ok());
  server::OutputQueue queue(1 << 20, *wakeup);
  std::vector<UniqueFd> fds;
  fds.push_back(pipe_reader("x"));
  ASSERT_TRUE(queue.push_with_fds({1, 2, 3, 4}, std::move(fds)));
  EXPECT_FALSE(queue.write_to(ours.get()).ok());
  queue.close();
  EXPECT_EQ(queue.pending(), 0u);
}

// A stand-in procedure that returns one descriptor, or fails after taking one.
Result<void> returns_fd(protocol::Connection& connection, rpc::XdrReader& args,
                        rpc::XdrWriter& reply) {
  AMBER_TRY_ASSIGN(uint32_t fail, args.read_u32("fail"));
  connection.reply_fds.push_back(pipe_reader("vnc"));
  if (fail != 0) return Error(ErrorKind::kInvalidArgument, "told to fail");
  reply.write_u32(0xABCD);
  return {};
}

constexpr protocol::Procedure kFdProcedure[] = {
    protocol::Procedure{9001, "TEST_RETURNS_FD", "-", "-", protocol::Priority::kNormal,
                        protocol::Access::kReadOnlyAllowed, returns_fd},
};

std::vector<uint8_t> call(uint32_t fail) {
  rpc::PacketHeader header;
  header.program = protocol::kRemoteProgram;
  header.version = 1;
  header.procedure = 9001;
  header.serial = 3;
  rpc::XdrWriter args;
  args.write_u32(fail);
  auto frame = rpc::encode_frame(header, args.bytes());
  return std::vector<uint8_t>(frame.begin() + rpc::kLengthWordBytes, frame.end());
}

TEST(FdPassing, TheDispatcherFramesReplyWithFds) {
  protocol::DaemonInfo daemon;
  daemon.test_procedures = kFdProcedure;
  protocol::Connection connection;
  connection.daemon = &daemon;
  auto reply = protocol::dispatch_frame(connection, call(0));
  ASSERT_TRUE(reply.ok() && reply->has_value());
  const std::vector<uint8_t>& frame = **reply;
  rpc::XdrReader reader{std::span(frame).subspan(rpc::kLengthWordBytes)};
  auto header = rpc::decode_header(reader);
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->type, rpc::PacketType::kReplyWithFds);
  EXPECT_EQ(header->status, rpc::PacketStatus::kOk);
  EXPECT_EQ(header->serial, 3u);
  EXPECT_EQ(*reader.read_u32("nfds"), 1u);
  EXPECT_EQ(*reader.read_u32("ret"), 0xABCDu);
  ASSERT_EQ(connection.reply_fds.size(), 1u);
  EXPECT_EQ(read_all(connection.reply_fds[0].get()), "vnc");

  // A failing handler's fds are closed and the error is a plain REPLY.
  auto failed = protocol::dispatch_frame(connection, call(1));
  ASSERT_TRUE(failed.ok() && failed->has_value());
  rpc::XdrReader failed_reader{std::span(**failed).subspan(rpc::kLengthWordBytes)};
  auto failed_header = rpc::decode_header(failed_reader);
  ASSERT_TRUE(failed_header.ok());
  EXPECT_EQ(failed_header->type, rpc::PacketType::kReply);
  EXPECT_EQ(failed_header->status, rpc::PacketStatus::kError);
  EXPECT_TRUE(connection.reply_fds.empty());
}

}  // namespace
}  // namespace amber::driver
