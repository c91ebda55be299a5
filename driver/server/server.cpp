// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/server/server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "driver/protocol/dispatcher.h"
#include "driver/rpc/frame_decoder.h"

namespace amber::driver::server {

namespace {

// A client that has not read this much of its replies is dropped, so one
// stuck reader cannot make the daemon hold unbounded memory.
constexpr size_t kMaxPendingOutput = 64 * 1024 * 1024;
// Bytes read per read() call.
constexpr size_t kReadChunk = 64 * 1024;

struct Client {
  int fd = -1;
  protocol::Connection connection;
  rpc::FrameDecoder decoder;
  std::vector<uint8_t> output;
  size_t output_sent = 0;
  bool closing = false;
  ~Client() {
    if (fd >= 0) close(fd);
  }
};

Result<int> listen_on(const std::string& path, mode_t mode) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path)) {
    return Error(ErrorKind::kInvalidArgument, "socket path '" + path + "' is too long");
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Error::from_errno(errno, "socket");
  unlink(path.c_str());
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      chmod(path.c_str(), mode) != 0 || listen(fd, 128) != 0) {
    int saved = errno;
    close(fd);
    return Error::from_errno(saved, "listening on '" + path + "'");
  }
  return fd;
}

bool peer_is_root(int fd) {
  ucred credentials{};
  socklen_t length = sizeof(credentials);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return false;
  return credentials.uid == 0;
}

void handle_input(Client& client) {
  uint8_t buffer[kReadChunk];
  ssize_t count = read(client.fd, buffer, sizeof(buffer));
  if (count == 0 || (count < 0 && errno != EAGAIN && errno != EINTR)) {
    client.closing = true;
    return;
  }
  if (count < 0) return;
  // count is positive and at most sizeof(buffer) here.
  client.decoder.feed(std::span(buffer, static_cast<size_t>(count)));
  while (!client.closing) {
    auto frame = client.decoder.next_frame();
    if (!frame.ok()) {
      std::fprintf(stderr, "virtamberd: closing client: %s\n", frame.error().message().c_str());
      client.closing = true;
      return;
    }
    if (!frame->has_value()) return;
    auto reply = protocol::dispatch_frame(client.connection, **frame);
    if (!reply.ok()) {
      std::fprintf(stderr, "virtamberd: closing client: %s\n", reply.error().message().c_str());
      client.closing = true;
      return;
    }
    if (reply->has_value()) {
      client.output.insert(client.output.end(), (*reply)->begin(), (*reply)->end());
      if (client.output.size() - client.output_sent > kMaxPendingOutput) client.closing = true;
    }
  }
}

void handle_output(Client& client) {
  while (client.output_sent < client.output.size()) {
    ssize_t count = send(client.fd, client.output.data() + client.output_sent,
                         client.output.size() - client.output_sent, MSG_NOSIGNAL);
    if (count < 0) {
      if (errno != EAGAIN && errno != EINTR) client.closing = true;
      return;
    }
    client.output_sent += static_cast<size_t>(count);  // count >= 0 here
  }
  client.output.clear();
  client.output_sent = 0;
}

}  // namespace

Result<void> run_server(const ServerOptions& options) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigprocmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  int signal_fd = signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signal_fd < 0) return Error::from_errno(errno, "signalfd");

  AMBER_TRY_ASSIGN(int rw_fd, options.rw_listen_fd >= 0 ? Result<int>(options.rw_listen_fd)
                                                        : listen_on(options.rw_socket, 0600));
  auto ro = options.ro_listen_fd >= 0 ? Result<int>(options.ro_listen_fd)
                                      : listen_on(options.ro_socket, 0666);
  if (!ro.ok()) {
    close(rw_fd);
    if (options.rw_listen_fd < 0) unlink(options.rw_socket.c_str());
    return std::move(ro).error();
  }
  int ro_fd = *ro;
  std::fprintf(stderr, "virtamberd: listening on %s and %s\n", options.rw_socket.c_str(),
               options.ro_socket.c_str());

  std::vector<std::unique_ptr<Client>> clients;
  bool running = true;
  while (running) {
    std::vector<pollfd> fds = {{signal_fd, POLLIN, 0}, {rw_fd, POLLIN, 0}, {ro_fd, POLLIN, 0}};
    for (auto& client : clients) {
      short events = POLLIN;
      if (!client->output.empty()) events |= POLLOUT;
      fds.push_back({client->fd, events, 0});
    }
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno(errno, "poll");
    }
    if (fds[0].revents & POLLIN) running = false;
    for (size_t listener = 1; listener <= 2; ++listener) {
      if (!(fds[listener].revents & POLLIN)) continue;
      int fd = accept4(fds[listener].fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) continue;
      auto client = std::make_unique<Client>();
      client->fd = fd;
      client->connection.socket =
          listener == 1 ? protocol::SocketKind::kReadWrite : protocol::SocketKind::kReadOnly;
      client->connection.daemon = &options.daemon;
      if (listener == 1 && !peer_is_root(fd)) continue;  // the destructor closes it
      clients.push_back(std::move(client));
    }
    for (size_t i = 3; i < fds.size(); ++i) {
      Client& client = *clients[i - 3];
      if (fds[i].revents & (POLLERR | POLLNVAL)) client.closing = true;
      if (!client.closing && (fds[i].revents & (POLLIN | POLLHUP))) handle_input(client);
      if (!client.output.empty()) handle_output(client);
    }
    std::erase_if(clients, [](const std::unique_ptr<Client>& client) { return client->closing; });
  }
  clients.clear();
  close(rw_fd);
  close(ro_fd);
  close(signal_fd);
  if (options.rw_listen_fd < 0) unlink(options.rw_socket.c_str());
  if (options.ro_listen_fd < 0) unlink(options.ro_socket.c_str());
  std::fprintf(stderr, "virtamberd: stopped\n");
  return {};
}

}  // namespace amber::driver::server
