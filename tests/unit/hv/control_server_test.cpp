// SPDX-License-Identifier: GPL-2.0-or-later
// The control socket's framing under backpressure: a client that stops
// reading gets every line whole (or is dropped), never half a line glued
// to the next.
#include "hv/control/control_server.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "vmmctl/client.h"

namespace amber::hv::control {
namespace {

class IdleTarget : public ControlTarget {
 public:
  vmmctl::StatusInfo query_status() override { return {vmmctl::RunState::kRunning, "vm", 1}; }
  std::vector<vmmctl::ChardevInfo> query_chardev() override { return {}; }
  std::vector<vmmctl::BlockInfo> query_block() override { return {}; }
  void pause() override {}
  void resume() override {}
  void reset() override {}
  void quit() override {}
  void powerdown() override {}
  Result<void> send_key(const vmmctl::SendKeyArguments&) override { return ok(); }
  void mouse_move(const vmmctl::MouseMoveArguments&) override {}
};

std::string socket_path() {
  char dir[] = "/tmp/amber-control-XXXXXX";
  if (::mkdtemp(dir) == nullptr) return "";
  return std::string(dir) + "/ctl.sock";
}

int connect_to(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Reads until EOF, or until `want` lines came, or 10 s without data.
std::string read_all(int fd, size_t want_lines) {
  std::string data;
  size_t lines = 0;
  char buffer[65536];
  while (lines < want_lines) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) break;
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) lines += buffer[i] == '\n';
    data.append(buffer, static_cast<size_t>(n));
  }
  return data;
}

// Every '\n'-terminated line; what follows the last '\n' is not a line.
std::vector<std::string> complete_lines(const std::string& data) {
  std::vector<std::string> lines;
  size_t start = 0, newline;
  while ((newline = data.find('\n', start)) != std::string::npos) {
    lines.push_back(data.substr(start, newline - start));
    start = newline + 1;
  }
  return lines;
}

std::string event_line(int i) {
  // ~200 bytes, so a few thousand overflow the socket's send buffer.
  return R"({"event":"TEST","data":{"seq":)" + std::to_string(i) + R"(,"pad":")" +
         std::string(160, 'x') + "\"}}";
}

// Waits until the server has accepted the client: the greeting, then a
// reply to a command.
void handshake(int fd) {
  const std::string request = "{\"execute\":\"query-status\"}\n";
  ASSERT_EQ(::write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
  const std::vector<std::string> lines = complete_lines(read_all(fd, 2));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].rfind("{\"greeting\":", 0), 0u) << lines[0];
  EXPECT_EQ(lines[1].rfind("{\"return\":", 0), 0u) << lines[1];
}

TEST(ControlServer, SlowReaderGetsOnlyWholeLinesInOrder) {
  const std::string path = socket_path();
  auto server = ControlServer::listen(path, std::make_unique<IdleTarget>());
  ASSERT_TRUE(server.ok()) << server.error().message();
  const int fd = connect_to(path);
  ASSERT_GE(fd, 0);
  handshake(fd);
  // 5000 lines of ~200 bytes (1 MB) while the client does not read: far
  // more than the socket buffers, less than the queue limit.
  constexpr int kEvents = 5000;
  for (int i = 0; i < kEvents; ++i) (*server)->send_event(event_line(i));
  const std::string data = read_all(fd, kEvents);
  const std::vector<std::string> lines = complete_lines(data);
  ASSERT_EQ(lines.size(), static_cast<size_t>(kEvents));
  for (int i = 0; i < kEvents; ++i) {
    const auto json = nlohmann::json::parse(lines[i], nullptr, false);
    ASSERT_FALSE(json.is_discarded()) << "line " << i << ": " << lines[i].substr(0, 300);
    ASSERT_EQ(json["data"]["seq"], i) << "line " << i;
  }
  ::close(fd);
}

TEST(ControlServer, ClientThatNeverReadsIsDroppedAndOthersStayServed) {
  const std::string path = socket_path();
  auto server = ControlServer::listen(path, std::make_unique<IdleTarget>(), 64 * 1024);
  ASSERT_TRUE(server.ok()) << server.error().message();
  const int stuck = connect_to(path);
  const int reader = connect_to(path);
  ASSERT_GE(stuck, 0);
  ASSERT_GE(reader, 0);
  handshake(stuck);
  handshake(reader);
  // Enough for the stuck client's queue to pass 64 KiB; the reader keeps up.
  std::string reader_data;
  for (int i = 0; i < 5000; ++i) {
    (*server)->send_event(event_line(i));
    char buffer[65536];
    ssize_t n;
    while ((n = ::recv(reader, buffer, sizeof(buffer), MSG_DONTWAIT)) > 0)
      reader_data.append(buffer, static_cast<size_t>(n));
  }
  reader_data += read_all(reader, 5000 - complete_lines(reader_data).size());
  EXPECT_EQ(complete_lines(reader_data).size(), 5000u);
  // The stuck client sees whole lines, then the end of the connection.
  const std::string data = read_all(stuck, SIZE_MAX);
  char byte;
  EXPECT_EQ(::recv(stuck, &byte, 1, MSG_DONTWAIT), 0) << "the stuck client was not disconnected";
  const std::vector<std::string> lines = complete_lines(data);
  EXPECT_LT(lines.size(), 5000u);
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto json = nlohmann::json::parse(lines[i], nullptr, false);
    ASSERT_FALSE(json.is_discarded()) << "line " << i << ": " << lines[i].substr(0, 300);
    ASSERT_EQ(json["data"]["seq"], i) << "line " << i;
  }
  ::close(stuck);
  ::close(reader);
}

// The last events (SHUTDOWN right before the process exits) reach a client
// that reads them a moment later, though they did not fit the socket.
TEST(ControlServer, LastLinesAreDrainedOnShutdown) {
  const std::string path = socket_path();
  auto server = ControlServer::listen(path, std::make_unique<IdleTarget>());
  ASSERT_TRUE(server.ok()) << server.error().message();
  const int fd = connect_to(path);
  ASSERT_GE(fd, 0);
  handshake(fd);
  constexpr int kEvents = 3000;  // ~600 KB: more than the socket buffers
  for (int i = 0; i < kEvents; ++i) (*server)->send_event(event_line(i));
  std::string data;
  std::thread reader([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    data = read_all(fd, SIZE_MAX);
  });
  server->reset();
  reader.join();
  EXPECT_EQ(complete_lines(data).size(), static_cast<size_t>(kEvents));
  ::close(fd);
}

class SerialTarget : public IdleTarget {
 public:
  vmmctl::StatusInfo query_status() override { return {vmmctl::RunState::kPaused, "vm", 4242}; }
  std::vector<vmmctl::ChardevInfo> query_chardev() override {
    return {{"serial0", vmmctl::SerialKind::kPty, "/dev/pts/9"}};
  }
};

// The daemon's client against the real server: the same contract on both
// ends, ids echoed, events delivered between replies.
TEST(ControlServer, VmmctlClientTalksToTheServer) {
  const std::string path = socket_path();
  auto server = ControlServer::listen(path, std::make_unique<SerialTarget>());
  ASSERT_TRUE(server.ok()) << server.error().message();
  auto client = vmmctl::Client::connect(path);
  ASSERT_TRUE(client.ok()) << client.error().message();
  EXPECT_EQ((*client)->greeting().protocol, vmmctl::kProtocolVersion);
  EXPECT_EQ((*client)->greeting().version, vmmctl::program_version());
  auto version = (*client)->call<vmmctl::QueryVersion>();
  ASSERT_TRUE(version.ok()) << version.error().message();
  EXPECT_EQ(version->protocol, vmmctl::kProtocolVersion);
  EXPECT_EQ(version->program, "amber-vmm");
  auto status = (*client)->call<vmmctl::QueryStatus>();
  ASSERT_TRUE(status.ok()) << status.error().message();
  EXPECT_EQ(status->pid, 4242);
  EXPECT_EQ(status->status, vmmctl::RunState::kPaused);
  (*server)->send_event(vmmctl::format_event(vmmctl::ResetEvent{}));
  auto chardev = (*client)->call<vmmctl::QueryChardev>();
  ASSERT_TRUE(chardev.ok()) << chardev.error().message();
  ASSERT_EQ(chardev->size(), 1u);
  EXPECT_EQ((*chardev)[0].path, "/dev/pts/9");
  auto powerdown = (*client)->call<vmmctl::SystemPowerdown>();
  EXPECT_TRUE(powerdown.ok()) << powerdown.error().message();
  auto unknown = (*client)->execute("x-no-such-command");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().kind(), ErrorKind::kNotFound);
  EXPECT_TRUE((*client)->call<vmmctl::Pause>().ok());
  auto event = (*client)->wait_event(std::chrono::milliseconds(2000));
  ASSERT_TRUE(event.ok()) << event.error().message();
  EXPECT_EQ(*event, vmmctl::Event(vmmctl::ResetEvent{}));
}

}  // namespace
}  // namespace amber::hv::control
