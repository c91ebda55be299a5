// SPDX-License-Identifier: GPL-2.0-or-later
// Unit tests for driver/server/config (virtamberd.conf), the amber-vmm
// search order and socket activation (driver/server/activation).
#include "driver/server/config.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "driver/server/activation.h"
#include "driver/server/vmm_binary.h"

namespace amber::driver::server {
namespace {

TEST(Config, ParsesEveryKeyWithCommentsAndBlanks) {
  auto config = parse_config(
      "# a comment\n"
      "\n"
      "socket_dir = \"/tmp/s\"\n"
      "  rw_socket=\"/tmp/s/rw\"   # trailing comment\n"
      "ro_socket = '/tmp/s/ro'\n"
      "config_dir = \"/c\"\n"
      "run_dir = \"/r\"\n"
      "log_dir = \"/l\"\n"
      "state_dir = \"/st\"\n"
      "vmm_binary = \"/opt/amber \\\"vmm\\\"\"\n",
      "test.conf");
  ASSERT_TRUE(config.ok()) << config.error().message();
  EXPECT_EQ(config->socket_dir, "/tmp/s");
  EXPECT_EQ(config->rw_socket, "/tmp/s/rw");
  EXPECT_EQ(config->ro_socket, "/tmp/s/ro");
  EXPECT_EQ(config->config_dir, "/c");
  EXPECT_EQ(config->run_dir, "/r");
  EXPECT_EQ(config->log_dir, "/l");
  EXPECT_EQ(config->state_dir, "/st");
  EXPECT_EQ(config->vmm_binary, "/opt/amber \"vmm\"");
}

TEST(Config, KeepaliveKeysAreUnquotedIntegers) {
  auto config = parse_config("keepalive_interval = -1  # off\nkeepalive_count=7\n", "k.conf");
  ASSERT_TRUE(config.ok()) << config.error().message();
  EXPECT_EQ(config->keepalive_interval, "-1");
  EXPECT_EQ(config->keepalive_count, "7");
  for (const char* bad :
       {"keepalive_count = \"5\"\n", "keepalive_count = 5x\n", "keepalive_interval = \n",
        "keepalive_count = 12345678901\n", "socket_dir = 5\n"}) {
    auto refused = parse_config(bad, "k.conf");
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_NE(refused.error().message().find("k.conf:1"), std::string::npos)
        << refused.error().message();
  }
}

TEST(Config, UnsetKeysStayUnset) {
  auto config = parse_config("#vmm_binary = \"/x\"\n", "c");
  ASSERT_TRUE(config.ok());
  EXPECT_FALSE(config->vmm_binary.has_value());
  EXPECT_FALSE(config->socket_dir.has_value());
}

TEST(Config, ErrorsNameFileAndLine) {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {"\n\nbogus = \"x\"\n", "f.conf:3: unknown key 'bogus'"},
      {"run_dir \"x\"\n", "f.conf:1: expected 'key = \"value\"'"},
      {"# ok\nrun_dir = 5\n", "f.conf:2: expected a quoted string"},
      {"run_dir = \"x\n", "f.conf:1: unterminated string"},
      {"run_dir = \"x\" y\n", "f.conf:1: unexpected text after the value"},
      {"run_dir =\n", "f.conf:1: missing value"},
      {"run_dir = \"\"\n", "f.conf:1: 'run_dir' is empty"},
  };
  for (const Case& c : cases) {
    auto config = parse_config(c.text, "f.conf");
    ASSERT_FALSE(config.ok()) << c.text;
    EXPECT_EQ(config.error().message().rfind(c.message, 0), 0u)
        << config.error().message() << " vs " << c.message;
  }
}

TEST(Config, MissingFile) {
  EXPECT_TRUE(load_config_file("/nonexistent/virtamberd.conf", true).ok());
  auto missing = load_config_file("/nonexistent/virtamberd.conf", false);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("/nonexistent/virtamberd.conf"), std::string::npos);
}

TEST(Config, ShippedDefaultParsesToNothingSet) {
  auto config = load_config_file(AMBER_DEFAULT_CONF, false);
  ASSERT_TRUE(config.ok()) << config.error().message();
  for (const ConfigKey& key : config_keys()) EXPECT_FALSE((*config.*(key.field)).has_value());
}

TEST(VmmBinary, SearchOrder) {
  auto candidates = vmm_binary_candidates("/opt/x/sbin/virtamberd");
  ASSERT_EQ(candidates.size(), 3u);
  EXPECT_EQ(candidates[0], "/opt/x/sbin/amber-vmm");
  EXPECT_EQ(candidates[1], "/opt/x/sbin/../hv/amber-vmm");
  EXPECT_EQ(candidates[2].rfind("/", 0), 0u);
  EXPECT_NE(candidates[2].find("amber-vmm"), std::string::npos);
}

int listening_socket(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  unlink(path.c_str());
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  EXPECT_EQ(listen(fd, 4), 0);
  return fd;
}

TEST(Activation, NoVariablesMeansNoSockets) {
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  auto sockets = take_activated_sockets("/a", "/b");
  ASSERT_TRUE(sockets.ok());
  EXPECT_EQ(sockets->rw_fd, -1);
  EXPECT_EQ(sockets->ro_fd, -1);
}

TEST(Activation, OtherPidIsIgnored) {
  setenv("LISTEN_PID", std::to_string(getpid() + 1).c_str(), 1);
  setenv("LISTEN_FDS", "2", 1);
  auto sockets = take_activated_sockets("/a", "/b");
  ASSERT_TRUE(sockets.ok());
  EXPECT_EQ(sockets->rw_fd, -1);
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
}

TEST(Activation, NamedFdsFromThree) {
  std::string dir = ::testing::TempDir();
  int rw = listening_socket(dir + "/act-rw");
  int ro = listening_socket(dir + "/act-ro");
  // Put them at 3 and 4, reversed, so the names decide.
  int saved3 = dup(3), saved4 = dup(4);
  ASSERT_EQ(dup2(ro, 3), 3);
  ASSERT_EQ(dup2(rw, 4), 4);
  setenv("LISTEN_PID", std::to_string(getpid()).c_str(), 1);
  setenv("LISTEN_FDS", "2", 1);
  setenv("LISTEN_FDNAMES", "virtamberd-ro.socket:virtamberd.socket", 1);
  auto sockets = take_activated_sockets("/unused", "/unused2");
  ASSERT_TRUE(sockets.ok()) << sockets.error().message();
  EXPECT_EQ(sockets->rw_fd, 4);
  EXPECT_EQ(sockets->ro_fd, 3);
  EXPECT_EQ(std::getenv("LISTEN_FDS"), nullptr);
  // Not a listening socket: refused.
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  ASSERT_EQ(dup2(pipe_fds[0], 3), 3);
  setenv("LISTEN_PID", std::to_string(getpid()).c_str(), 1);
  setenv("LISTEN_FDS", "1", 1);
  EXPECT_FALSE(take_activated_sockets("/a", "/b").ok());
  dup2(saved3, 3);
  dup2(saved4, 4);
  for (int fd : {saved3, saved4, rw, ro, pipe_fds[0], pipe_fds[1]}) close(fd);
}

}  // namespace
}  // namespace amber::driver::server
