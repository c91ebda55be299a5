// SPDX-License-Identifier: GPL-2.0-or-later
// vmmctl::Client against a scripted server on the other end of a
// socketpair: greeting, ids, events in between, split and joined lines,
// and every way a server can misbehave.
#include "vmmctl/client.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

namespace amber::vmmctl {
namespace {

const std::string kGreeting =
    R"({"greeting":{"protocol":{"major":1,"minor":3},"program":"amber-vmm","version":"0.1"}})"
    "\n";

// The server side: writes and reads raw bytes.
class Peer {
 public:
  Peer() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    client_fd = fds[0];
    fd = fds[1];
  }
  ~Peer() { ::close(fd); }
  void send(const std::string& bytes) const {
    EXPECT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  }
  std::string read_line() const {
    std::string line;
    char c;
    while (::read(fd, &c, 1) == 1 && c != '\n') line += c;
    return line;
  }
  int fd = -1;
  int client_fd = -1;  // handed to Client::attach, which owns it
};

TEST(Client, TypedCallsWithIdsAndEventsInBetween) {
  Peer peer;
  peer.send(kGreeting);
  std::thread server([&peer] {
    EXPECT_EQ(peer.read_line(), R"({"execute":"query-status","id":1})");
    // An event first, then the reply split across writes.
    peer.send(R"({"event":"RESET"})"
              "\n"
              R"({"return":{"status":"paused","runn)");
    peer.send(R"(ing":false,"name":"vm","pid":77},"id":1})"
              "\n");
    EXPECT_EQ(peer.read_line(), R"({"execute":"query-block","id":2})");
    // The reply and an event in one write.
    peer.send(
        R"({"return":[{"device":"disk0","path":"/a","slot":3,"stats":{"rd_operations":1,)"
        R"("rd_bytes":18446744073709551615,"rd_total_time_ns":0,"failed_rd_operations":0,)"
        R"("wr_operations":0,"wr_bytes":0,"wr_total_time_ns":0,"failed_wr_operations":0,)"
        R"("flush_operations":0,"flush_bytes":0,"flush_total_time_ns":0,"failed_flush_operations":0,)"
        R"("discard_operations":0,"discard_bytes":0,"discard_total_time_ns":0,)"
        R"("failed_discard_operations":0}}],"id":2})"
        "\n"
        R"({"event":"SHUTDOWN","data":{"reason":"host-quit"}})"
        "\n");
    EXPECT_EQ(peer.read_line(), R"({"execute":"system_powerdown","id":3})");
    peer.send(R"({"return":{},"id":3})"
              "\n");
    EXPECT_EQ(peer.read_line(), R"({"execute":"system_reset","id":4})");
    peer.send(R"({"error":{"class":"Unsupported","desc":"no"},"id":4})"
              "\n");
  });
  auto client = Client::attach(peer.client_fd);
  ASSERT_TRUE(client.ok()) << client.error().message();
  EXPECT_EQ((*client)->greeting().protocol, (ProtocolVersion{1, 3}));
  auto status = (*client)->call<QueryStatus>();
  ASSERT_TRUE(status.ok()) << status.error().message();
  EXPECT_EQ(*status, (StatusInfo{RunState::kPaused, "vm", 77}));
  auto block = (*client)->call<QueryBlock>();
  ASSERT_TRUE(block.ok()) << block.error().message();
  ASSERT_EQ(block->size(), 1u);
  EXPECT_EQ((*block)[0].read.bytes, UINT64_MAX);
  auto powerdown = (*client)->call<SystemPowerdown>();
  EXPECT_TRUE(powerdown.ok()) << powerdown.error().message();
  auto reset = (*client)->call<SystemReset>();
  ASSERT_FALSE(reset.ok());
  EXPECT_EQ(reset.error().kind(), ErrorKind::kUnsupported);
  EXPECT_FALSE((*client)->broken());  // an error reply is an answer
  server.join();
  const std::vector<Event> events = (*client)->take_events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0], Event(ResetEvent{}));
  EXPECT_EQ(events[1], Event(ShutdownEvent{ShutdownReason::kHostQuit}));
  EXPECT_TRUE((*client)->take_events().empty());
}

TEST(Client, WaitEventReturnsQueuedThenNew) {
  Peer peer;
  peer.send(kGreeting + R"({"event":"RESET"})"
                        "\n");
  auto client = Client::attach(peer.client_fd);
  ASSERT_TRUE(client.ok()) << client.error().message();
  peer.send(R"({"event":"DEVICE_FAILED","data":{"device":"cpu","message":"x\u0001"}})"
            "\n");
  auto first = (*client)->wait_event(std::chrono::milliseconds(1000));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, Event(ResetEvent{}));
  auto second = (*client)->wait_event(std::chrono::milliseconds(1000));
  ASSERT_TRUE(second.ok()) << second.error().message();
  EXPECT_EQ(*second, Event(DeviceFailedEvent{"cpu", "x\x01"}));
  auto none = (*client)->wait_event(std::chrono::milliseconds(50));
  EXPECT_FALSE(none.ok());
}

TEST(Client, RefusesAnotherProtocolMajor) {
  Peer peer;
  peer.send(R"({"greeting":{"protocol":{"major":2,"minor":0},"program":"amber-vmm","version":"9"}})"
            "\n");
  auto client = Client::attach(peer.client_fd);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.error().kind(), ErrorKind::kUnsupported);
  EXPECT_NE(client.error().message().find("protocol 2.0"), std::string::npos)
      << client.error().message();
}

TEST(Client, ARepliesWithAnotherIdBreaksTheConnection) {
  Peer peer;
  peer.send(kGreeting);
  auto client = Client::attach(peer.client_fd);
  ASSERT_TRUE(client.ok());
  peer.send(R"({"return":{},"id":41})"
            "\n");
  auto paused = (*client)->call<Pause>();
  ASSERT_FALSE(paused.ok());
  EXPECT_EQ(paused.error().kind(), ErrorKind::kCorrupt);
  EXPECT_TRUE((*client)->broken());
  EXPECT_FALSE((*client)->call<Resume>().ok());
}

TEST(Client, MisbehavingServersGiveErrorsNotHangs) {
  const std::string bad_lines[] = {
      "not json\n",
      R"({"return":{"status":"flying","running":true,"name":"vm","pid":1},"id":1})"
      "\n",
      R"({"return":{"status":"running"},"id":1})"
      "\n",
      R"({"whatever":1,"id":1})"
      "\n",
      kGreeting,
      std::string(kMaxMessageLength + 10, ' '),
  };
  for (const std::string& bad : bad_lines) {
    Peer peer;
    peer.send(kGreeting);
    auto client = Client::attach(peer.client_fd, std::chrono::milliseconds(2000));
    ASSERT_TRUE(client.ok());
    std::thread server([&peer, &bad] { peer.send(bad); });
    auto status = (*client)->call<QueryStatus>();
    server.join();
    EXPECT_FALSE(status.ok()) << bad.substr(0, 80);
  }
  // EOF in the middle of a call, and a server that never answers.
  Peer closing;
  closing.send(kGreeting);
  auto client = Client::attach(closing.client_fd);
  ASSERT_TRUE(client.ok());
  ::shutdown(closing.fd, SHUT_WR);
  auto status = (*client)->call<QueryStatus>();
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind(), ErrorKind::kIo);
  Peer silent;
  silent.send(kGreeting);
  auto slow = Client::attach(silent.client_fd, std::chrono::milliseconds(100));
  ASSERT_TRUE(slow.ok());
  auto timed_out = (*slow)->call<QueryStatus>();
  ASSERT_FALSE(timed_out.ok());
  EXPECT_NE(timed_out.error().message().find("timeout"), std::string::npos);
}

TEST(Client, NoGreetingIsAnError) {
  Peer peer;
  peer.send(R"({"return":{}})"
            "\n");
  EXPECT_FALSE(Client::attach(peer.client_fd).ok());
}

}  // namespace
}  // namespace amber::vmmctl
