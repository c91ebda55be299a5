// SPDX-License-Identifier: GPL-2.0-or-later
// The two backends on their own threads: the tap backend over a
// SOCK_SEQPACKET socketpair (one frame per read/write, like a tap), with
// backpressure from the sink; the slirp backend answering an ARP request
// for its gateway, and refusing a host forward whose port is taken.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "hv/net/slirp_backend.h"
#include "hv/net/tap_backend.h"

namespace amber::hv::net {
namespace {

using namespace std::chrono_literals;

class RecordingSink final : public FrameSink {
 public:
  void receive_frame(std::span<const uint8_t> frame) override {
    std::lock_guard lock(mutex_);
    frames_.emplace_back(frame.begin(), frame.end());
    cv_.notify_all();
  }
  bool can_receive() override { return room_.load(); }
  // Waits until `count` frames arrived (or `timeout`); returns them.
  std::vector<std::vector<uint8_t>> wait(size_t count, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, timeout, [&] { return frames_.size() >= count; });
    return frames_;
  }
  std::atomic<bool> room_{true};

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::vector<uint8_t>> frames_;
};

std::vector<uint8_t> pattern(size_t size, uint8_t seed) {
  std::vector<uint8_t> f(size);
  for (size_t i = 0; i < size; ++i) f[i] = static_cast<uint8_t>(i * 3 + seed);
  return f;
}

TEST(TapBackend, FramesBothWaysAndBackpressure) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET, 0, fds), 0);
  auto tap = TapBackend::create(fds[0]);
  ASSERT_TRUE(tap.ok()) << tap.error().message();
  RecordingSink sink;
  ASSERT_TRUE((*tap)->start(sink).ok());
  const auto in = pattern(1514, 1);
  ASSERT_EQ(::write(fds[1], in.data(), in.size()), 1514);
  auto got = sink.wait(1, 5s);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], in);
  const auto out = pattern(60, 2);
  EXPECT_EQ((*tap)->send(out), SendResult::kSent);
  std::vector<uint8_t> back(100);
  ASSERT_EQ(::read(fds[1], back.data(), back.size()), 60);
  back.resize(60);
  EXPECT_EQ(back, out);
  // While the sink has no room nothing is read; wake() resumes, in order.
  sink.room_ = false;
  (*tap)->wake();
  std::this_thread::sleep_for(50ms);
  for (uint8_t i = 0; i < 3; ++i) {
    const auto f = pattern(100 + i, i);
    ASSERT_EQ(::write(fds[1], f.data(), f.size()), static_cast<ssize_t>(f.size()));
  }
  EXPECT_EQ(sink.wait(2, 300ms).size(), 1u);
  sink.room_ = true;
  (*tap)->wake();
  got = sink.wait(4, 5s);
  ASSERT_EQ(got.size(), 4u);
  for (uint8_t i = 0; i < 3; ++i) EXPECT_EQ(got[1 + i], pattern(100 + i, i));
  (*tap)->stop();
  ::close(fds[1]);
}

TEST(TapBackend, RefusesWhatIsNotADescriptor) {
  auto tap = TapBackend::create(1000);
  ASSERT_FALSE(tap.ok());
  EXPECT_NE(tap.error().message().find("--nic fd=1000"), std::string::npos)
      << tap.error().message();
}

// An ARP request from the guest for `target` (host byte order).
std::vector<uint8_t> arp_request(uint32_t sender, uint32_t target) {
  std::vector<uint8_t> f(42, 0);
  std::memset(f.data(), 0xff, 6);
  const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
  std::memcpy(f.data() + 6, mac, 6);
  f[12] = 0x08, f[13] = 0x06;                     // ARP
  f[14] = 0, f[15] = 1, f[16] = 0x08, f[17] = 0;  // Ethernet, IPv4
  f[18] = 6, f[19] = 4, f[20] = 0, f[21] = 1;     // request
  std::memcpy(f.data() + 22, mac, 6);
  const uint32_t s = htonl(sender), t = htonl(target);
  std::memcpy(f.data() + 28, &s, 4);
  std::memcpy(f.data() + 38, &t, 4);
  return f;
}

TEST(SlirpBackend, AnswersArpForItsGateway) {
  vmmctl::NicSettings nic;
  nic.net = "192.168.76.0/24";
  nic.host = "192.168.76.2";
  nic.dns = "192.168.76.3";
  nic.dhcp_start = "192.168.76.15";
  auto settings = slirp_settings(nic);
  ASSERT_TRUE(settings.ok()) << settings.error().message();
  EXPECT_EQ(settings->net.mask, 0xffffff00u);
  auto slirp = SlirpBackend::create(*settings);
  ASSERT_TRUE(slirp.ok()) << slirp.error().message();
  RecordingSink sink;
  ASSERT_TRUE((*slirp)->start(sink).ok());
  EXPECT_EQ((*slirp)->send(arp_request(0xc0a84c0f, 0xc0a84c02)), SendResult::kSent);
  auto got = sink.wait(1, 5s);
  ASSERT_GE(got.size(), 1u);
  const auto& reply = got[0];
  ASSERT_GE(reply.size(), 42u);
  EXPECT_EQ(reply[12], 0x08);
  EXPECT_EQ(reply[13], 0x06);
  EXPECT_EQ(reply[21], 2);  // reply
  uint32_t sender = 0;
  std::memcpy(&sender, reply.data() + 28, 4);
  EXPECT_EQ(ntohl(sender), 0xc0a84c02u);  // the gateway answers for itself
  (*slirp)->stop();
}

TEST(SlirpBackend, RefusesAHostPortInUse) {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(s, 1), 0);
  socklen_t length = sizeof a;
  ASSERT_EQ(::getsockname(s, reinterpret_cast<sockaddr*>(&a), &length), 0);
  vmmctl::NicSettings nic;
  nic.hostfwd = {"tcp:127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "-:22"};
  auto settings = slirp_settings(nic);
  ASSERT_TRUE(settings.ok());
  auto slirp = SlirpBackend::create(*settings);
  ASSERT_FALSE(slirp.ok());
  EXPECT_NE(slirp.error().message().find("--nic hostfwd"), std::string::npos)
      << slirp.error().message();
  ::close(s);
}

}  // namespace
}  // namespace amber::hv::net
