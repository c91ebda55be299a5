// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/server/server.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "driver/protocol/dispatcher.h"
#include "driver/protocol/limits.h"
#include "driver/server/client.h"
#include "driver/server/wakeup.h"
#include "driver/server/worker_pool.h"

namespace amber::driver::server {

namespace {

// Bytes read from a client socket per read() call.
constexpr size_t kReadChunk = 64 * 1024;
// Connections the kernel queues for us between accept() calls.
constexpr int kListenBacklog = 256;

Result<UniqueFd> listen_on(const std::string& path, mode_t mode) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path)) {
    return Error(ErrorKind::kInvalidArgument, "socket path '" + path + "' is too long");
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return Error::from_errno(errno, "socket");
  unlink(path.c_str());
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      chmod(path.c_str(), mode) != 0 || listen(fd.get(), kListenBacklog) != 0) {
    return Error::from_errno(errno, "listening on '" + path + "'");
  }
  return fd;
}

bool peer_is_root(int fd) {
  ucred credentials{};
  socklen_t length = sizeof(credentials);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return false;
  return credentials.uid == 0;
}

// The status of an encoded reply frame (length word included).
rpc::PacketStatus reply_status(const std::vector<uint8_t>& frame) {
  rpc::XdrReader reader{std::span(frame).subspan(rpc::kLengthWordBytes)};
  auto header = rpc::decode_header(reader);
  return header.ok() ? header->status : rpc::PacketStatus::kError;
}

// Ends a stream that never started relaying (its call failed, or the
// client went away first).
void discard(protocol::OpenedStream& stream) {
  stream.fd.reset();
  if (stream.sink) stream.sink->abort();
  stream.sink.reset();
  stream.source.reset();
  if (auto on_end = std::exchange(stream.on_end, nullptr)) on_end();
}

}  // namespace

class Server::Impl {
 public:
  explicit Impl(const ServerOptions& server_options)
      : options(server_options), daemon(server_options.daemon) {}

  void add_client(UniqueFd fd, protocol::SocketKind kind);
  void accept_all(int listener, protocol::SocketKind kind);
  void read_input(const std::shared_ptr<Client>& client);
  void pump_frames(const std::shared_ptr<Client>& client);
  void handle_frame(const std::shared_ptr<Client>& client, std::vector<uint8_t> frame);
  void queue_call(const std::shared_ptr<Client>& client, std::vector<uint8_t> frame);
  void submit_front(const std::shared_ptr<Client>& client);  // client->mutex held
  void run_call(const std::shared_ptr<Client>& client);
  void start_streams(Client& client);
  void mark_closing(Client& client, std::string reason);
  void teardown(Client& client);
  bool input_paused(Client& client);
  // Keepalive of one client at `now`: starts it once the client asked,
  // sends a PING or drops the client when due; returns when to look again.
  std::optional<std::chrono::steady_clock::time_point> check_keepalive(
      Client& client, std::chrono::steady_clock::time_point now);

  ServerOptions options;
  protocol::DaemonInfo daemon;  // the address every Connection points at
  UniqueFd rw_listener;
  UniqueFd ro_listener;
  std::shared_ptr<Wakeup> wakeup;
  std::unique_ptr<WorkerPool> normal_pool;
  std::unique_ptr<WorkerPool> priority_pool;
  std::vector<std::shared_ptr<Client>> clients;  // loop thread
  std::mutex adopt_mutex;
  std::vector<std::pair<UniqueFd, protocol::SocketKind>> adopted;
  std::atomic<bool> stopping{false};
  std::atomic<size_t> client_count{0};
};

void Server::Impl::add_client(UniqueFd fd, protocol::SocketKind kind) {
  auto client = std::make_shared<Client>(std::move(fd), options.max_client_output, wakeup);
  client->connection.socket = kind;
  client->connection.daemon = &daemon;
  std::weak_ptr<Client> weak = client;
  client->events =
      protocol::ConnectionEvents::create(daemon.manager, [weak](std::vector<uint8_t> frame) {
        if (auto self = weak.lock()) self->output.push(std::move(frame));
      });
  client->connection.events = client->events;
  clients.push_back(std::move(client));
  client_count.store(clients.size());
}

void Server::Impl::accept_all(int listener, protocol::SocketKind kind) {
  for (;;) {
    UniqueFd fd(accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!fd) return;  // EAGAIN, or a transient failure: poll tells us again
    if (kind == protocol::SocketKind::kReadWrite && options.rw_requires_root &&
        !peer_is_root(fd.get())) {
      continue;  // closed by UniqueFd
    }
    add_client(std::move(fd), kind);
  }
}

void Server::Impl::mark_closing(Client& client, std::string reason) {
  {
    std::lock_guard lock(client.mutex);
    if (client.closing.load()) return;
    client.close_reason = std::move(reason);
    client.closing.store(true);
  }
  wakeup->ring();
}

bool Server::Impl::input_paused(Client& client) {
  {
    std::lock_guard lock(client.mutex);
    if (client.calls.size() >= kMaxQueuedCalls) return true;
  }
  for (const auto& [serial, stream] : client.streams) {
    if (stream->input_full()) return true;
  }
  return false;
}

void Server::Impl::read_input(const std::shared_ptr<Client>& client) {
  uint8_t buffer[kReadChunk];
  ssize_t count = read(client->socket.get(), buffer, sizeof(buffer));
  if (count < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (count <= 0) {
    mark_closing(*client, count == 0 ? "" : std::string("read: ") + std::strerror(errno));
    return;
  }
  // count is positive and at most sizeof(buffer).
  client->decoder.feed(std::span(buffer, static_cast<size_t>(count)));
  pump_frames(client);
}

void Server::Impl::pump_frames(const std::shared_ptr<Client>& client) {
  while (!client->closing.load() && !input_paused(*client)) {
    auto frame = client->decoder.next_frame();
    if (!frame.ok()) {
      mark_closing(*client, frame.error().message());
      return;
    }
    if (!frame->has_value()) return;
    handle_frame(client, std::move(**frame));
  }
}

void Server::Impl::handle_frame(const std::shared_ptr<Client>& client, std::vector<uint8_t> frame) {
  // Any packet shows the client alive (virKeepAliveCheckMessage).
  client->last_packet = std::chrono::steady_clock::now();
  client->pings_left = options.keepalive_count;
  rpc::XdrReader reader(frame);
  auto header = rpc::decode_header(reader);
  if (!header.ok()) {
    mark_closing(*client, header.error().message());
    return;
  }
  if (header->type == rpc::PacketType::kStream || header->type == rpc::PacketType::kStreamHole) {
    auto it = client->streams.find(header->serial);
    if (it == client->streams.end()) {
      start_streams(*client);  // its call's reply may have just gone out
      it = client->streams.find(header->serial);
    }
    // Data for a stream that has ended is dropped, as libvirtd does:
    // stream packets are not acknowledged, so some may still be in flight.
    if (it == client->streams.end() || it->second->procedure() != header->procedure) return;
    it->second->on_packet(*header, std::span(frame).subspan(rpc::kHeaderBytes), client->output);
    return;
  }
  if (header->type == rpc::PacketType::kCall) {
    queue_call(client, std::move(frame));
    return;
  }
  // Keepalive and protocol violations: answered here, they never touch
  // the Connection, so a scratch one keeps the strand's own untouched.
  protocol::Connection scratch;
  auto reply = protocol::dispatch_frame(scratch, frame);
  if (!reply.ok()) {
    mark_closing(*client, reply.error().message());
    return;
  }
  if (reply->has_value()) client->output.push(std::move(**reply));
}

std::optional<std::chrono::steady_clock::time_point> Server::Impl::check_keepalive(
    Client& client, std::chrono::steady_clock::time_point now) {
  if (options.keepalive_interval <= 0 || client.closing.load()) return std::nullopt;
  const auto interval = std::chrono::seconds(options.keepalive_interval);
  if (!client.keepalive_on) {
    if (!client.keepalive_requested.load()) return std::nullopt;
    client.keepalive_on = true;
    client.pings_left = options.keepalive_count;
    client.keepalive_due = client.last_packet + interval;
  }
  if (now < client.keepalive_due) return client.keepalive_due;
  if (now - client.last_packet < interval) {
    client.keepalive_due = client.last_packet + interval;
    return client.keepalive_due;
  }
  if (client.pings_left <= 0) {
    auto silent = std::chrono::duration_cast<std::chrono::seconds>(now - client.last_packet);
    mark_closing(client, "no response from client after " +
                             std::to_string(options.keepalive_count) + " keepalive messages in " +
                             std::to_string(silent.count()) + " seconds");
    return std::nullopt;
  }
  --client.pings_left;
  rpc::PacketHeader ping;
  ping.program = protocol::kKeepaliveProgram;
  ping.version = protocol::kKeepaliveVersion;
  ping.procedure = protocol::kKeepalivePing;
  ping.type = rpc::PacketType::kMessage;
  client.output.push(rpc::encode_frame(ping, {}));
  client.keepalive_due = now + interval;
  return client.keepalive_due;
}

void Server::Impl::queue_call(const std::shared_ptr<Client>& client, std::vector<uint8_t> frame) {
  std::lock_guard lock(client->mutex);
  client->calls.push_back(std::move(frame));
  if (!client->strand_running) {
    client->strand_running = true;
    submit_front(client);
  }
}

void Server::Impl::submit_front(const std::shared_ptr<Client>& client) {
  auto priority = protocol::frame_priority(client->calls.front());
  WorkerPool& pool = priority == protocol::Priority::kHigh ? *priority_pool : *normal_pool;
  pool.submit([this, client] { run_call(client); });
}

void Server::Impl::run_call(const std::shared_ptr<Client>& client) {
  std::vector<uint8_t> frame;
  bool was_full = false;
  {
    std::lock_guard lock(client->mutex);
    if (client->closing.load() || client->calls.empty()) {
      client->calls.clear();
      client->strand_running = false;
      return;
    }
    was_full = client->calls.size() >= kMaxQueuedCalls;
    frame = std::move(client->calls.front());
    client->calls.pop_front();
  }
  rpc::XdrReader reader(frame);
  auto header = rpc::decode_header(reader);  // decoded once already by the loop
  auto reply = protocol::dispatch_frame(client->connection, frame);
  const bool start_keepalive =
      client->connection.keepalive_requested && !client->keepalive_requested.exchange(true);
  std::optional<protocol::OpenedStream> opened = std::move(client->connection.opened_stream);
  client->connection.opened_stream.reset();
  std::vector<UniqueFd> fds = std::move(client->connection.reply_fds);
  client->connection.reply_fds.clear();
  if (!reply.ok()) {
    mark_closing(*client, reply.error().message());
  } else if (reply->has_value()) {
    bool ok = reply_status(**reply) == rpc::PacketStatus::kOk;
    // The reply and its stream go in together: the loop starts relaying
    // only after the reply is queued, and a client packet for the stream
    // (sent once the reply arrived) finds it (handle_frame).
    std::lock_guard lock(client->mutex);
    if (fds.empty())
      client->output.push(std::move(**reply));
    else
      client->output.push_with_fds(std::move(**reply), std::move(fds));
    if (opened && ok && header.ok() && !client->closing.load()) {
      client->starting_streams.push_back(
          StartingStream{header->procedure, header->serial, std::move(*opened)});
    }
  }
  if (opened && opened->has_end()) discard(*opened);
  {
    std::lock_guard lock(client->mutex);
    if (client->closing.load() || client->calls.empty()) {
      client->strand_running = false;
    } else {
      submit_front(client);
    }
  }
  // The loop re-polls: new streams to start, or a full queue with room again.
  if (was_full || opened || start_keepalive) wakeup->ring();
}

void Server::Impl::start_streams(Client& client) {
  std::vector<StartingStream> starting;
  {
    std::lock_guard lock(client.mutex);
    starting.swap(client.starting_streams);
  }
  for (auto& entry : starting) {
    std::shared_ptr<Wakeup> ring = wakeup;
    client.streams[entry.serial] = make_stream_relay(
        entry.procedure, entry.serial, std::move(entry.stream), [ring] { ring->ring(); });
  }
}

void Server::Impl::teardown(Client& client) {
  std::string reason;
  std::vector<StartingStream> starting;
  {
    std::lock_guard lock(client.mutex);
    client.closing.store(true);
    client.calls.clear();
    starting.swap(client.starting_streams);
    reason = client.close_reason;
  }
  for (auto& entry : starting) discard(entry.stream);
  if (!reason.empty()) std::fprintf(stderr, "virtamberd: closing client: %s\n", reason.c_str());
  client.events->close();
  client.streams.clear();
  client.output.close();
  client.socket.reset();
}

Result<std::unique_ptr<Server>> Server::create(const ServerOptions& options) {
  auto impl = std::make_unique<Impl>(options);
  AMBER_TRY_ASSIGN(impl->wakeup, Wakeup::create());
  // A socket passed by systemd (rw_listen_fd / ro_listen_fd) is used as is
  // and never unlinked; otherwise the path is bound here.
  const bool rw_bind = options.rw_listen_fd < 0 && !options.rw_socket.empty();
  if (options.rw_listen_fd >= 0) {
    impl->rw_listener.reset(options.rw_listen_fd);
  } else if (rw_bind) {
    AMBER_TRY_ASSIGN(impl->rw_listener, listen_on(options.rw_socket, 0600));
  }
  if (options.ro_listen_fd >= 0) {
    impl->ro_listener.reset(options.ro_listen_fd);
  } else if (!options.ro_socket.empty()) {
    auto ro = listen_on(options.ro_socket, 0666);
    if (!ro.ok()) {
      if (rw_bind) unlink(options.rw_socket.c_str());
      return std::move(ro).error();
    }
    impl->ro_listener = std::move(*ro);
  }
  impl->normal_pool = std::make_unique<WorkerPool>(options.normal_workers);
  impl->priority_pool = std::make_unique<WorkerPool>(options.priority_workers);
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  for (auto& client : impl_->clients) impl_->teardown(*client);
  impl_->clients.clear();
  impl_->normal_pool->stop();
  impl_->priority_pool->stop();
  if (impl_->rw_listener && impl_->options.rw_listen_fd < 0)
    unlink(impl_->options.rw_socket.c_str());
  if (impl_->ro_listener && impl_->options.ro_listen_fd < 0)
    unlink(impl_->options.ro_socket.c_str());
}

void Server::stop() {
  impl_->stopping.store(true);
  impl_->wakeup->ring();
}

void Server::adopt(UniqueFd fd, protocol::SocketKind kind) {
  {
    std::lock_guard lock(impl_->adopt_mutex);
    impl_->adopted.emplace_back(std::move(fd), kind);
  }
  impl_->wakeup->ring();
}

size_t Server::client_count() const {
  return impl_->client_count.load();
}

Result<void> Server::run(int stop_fd) {
  Impl& s = *impl_;
  std::vector<pollfd> fds;
  // For each client: its index in `fds`, then one entry per polled stream.
  std::vector<std::vector<std::pair<size_t, StreamRelay*>>> stream_slots;
  std::vector<size_t> client_slots;
  std::vector<bool> reading;  // whether each client's socket was polled for input
  while (!s.stopping.load()) {
    {
      std::lock_guard lock(s.adopt_mutex);
      for (auto& [fd, kind] : s.adopted) s.add_client(std::move(fd), kind);
      s.adopted.clear();
    }
    // Keepalive first: it may queue a PING (polled for below) or drop a
    // client; the earliest next check bounds the poll.
    const auto now = std::chrono::steady_clock::now();
    std::optional<std::chrono::steady_clock::time_point> next_check;
    for (const auto& client : s.clients) {
      auto due = s.check_keepalive(*client, now);
      if (due && (!next_check || *due < *next_check)) next_check = due;
    }
    int timeout_ms = -1;
    if (next_check) {
      auto wait = std::chrono::ceil<std::chrono::milliseconds>(*next_check - now);
      timeout_ms = static_cast<int>(std::clamp<int64_t>(wait.count(), 0, 86400 * 1000));
    }
    fds.clear();
    fds.push_back({s.wakeup->fd(), POLLIN, 0});
    fds.push_back({stop_fd, POLLIN, 0});  // poll ignores a negative fd
    fds.push_back({s.rw_listener ? s.rw_listener.get() : -1, POLLIN, 0});
    fds.push_back({s.ro_listener ? s.ro_listener.get() : -1, POLLIN, 0});
    client_slots.clear();
    stream_slots.assign(s.clients.size(), {});
    reading.assign(s.clients.size(), false);
    for (size_t i = 0; i < s.clients.size(); ++i) {
      Client& client = *s.clients[i];
      bool paused = s.input_paused(client);
      short events = paused ? 0 : POLLIN;
      if (client.output.pending() > 0) events |= POLLOUT;
      client_slots.push_back(fds.size());
      reading[i] = !paused;
      // Nothing wanted: leave the socket out, or a hung-up peer would
      // wake every poll() while its calls finish.
      fds.push_back({events == 0 ? -1 : client.socket.get(), events, 0});
      for (auto& [serial, stream] : client.streams) {
        short wanted = stream->poll_events(client.output);
        if (wanted == 0) continue;
        stream_slots[i].emplace_back(fds.size(), stream.get());
        fds.push_back({stream->poll_fd(), wanted, 0});
      }
    }
    if (poll(fds.data(), fds.size(), timeout_ms) < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno(errno, "poll");
    }
    if (fds[0].revents & POLLIN) s.wakeup->drain();
    if (fds[1].revents & POLLIN) break;
    if (fds[2].revents & POLLIN) s.accept_all(fds[2].fd, protocol::SocketKind::kReadWrite);
    if (fds[3].revents & POLLIN) s.accept_all(fds[3].fd, protocol::SocketKind::kReadOnly);
    for (size_t i = 0; i < client_slots.size(); ++i) {
      const auto& client = s.clients[i];
      if (client->closing.load()) continue;
      short revents = fds[client_slots[i]].revents;
      if (revents & POLLNVAL) s.mark_closing(*client, "invalid socket");
      if (reading[i] && (revents & (POLLIN | POLLHUP | POLLERR))) s.read_input(client);
      for (auto& [slot, stream] : stream_slots[i]) {
        if (fds[slot].revents != 0) stream->on_ready(fds[slot].revents, client->output);
      }
    }
    // Every client, woken or not: start new streams, end revoked or
    // finished ones, take frames that waited for room, send output.
    for (const auto& client : s.clients) {
      if (client->closing.load()) continue;
      s.start_streams(*client);
      for (auto& [serial, stream] : client->streams) stream->tick(client->output);
      std::erase_if(client->streams, [](const auto& entry) { return entry.second->done(); });
      s.pump_frames(client);
      if (client->output.pending() > 0) {
        auto written = client->output.write_to(client->socket.get());
        if (!written.ok()) s.mark_closing(*client, "");  // the peer went away
        // A stream whose frames waited for the output to drain below its
        // high water gets them moved now: if this write emptied the
        // output, no POLLOUT would wake the loop for them again, and a
        // download's worker would wait on its full outbox for ever.
        for (auto& [serial, stream] : client->streams) stream->tick(client->output);
        if (written.ok() && client->output.pending() > 0) {
          if (!client->output.write_to(client->socket.get()).ok()) s.mark_closing(*client, "");
        }
        std::erase_if(client->streams, [](const auto& entry) { return entry.second->done(); });
      }
      if (client->output.overflowed()) {
        s.mark_closing(*client, "dropped: more than " +
                                    std::to_string(s.options.max_client_output) +
                                    " bytes of output unread");
      }
    }
    std::erase_if(s.clients, [&](const std::shared_ptr<Client>& client) {
      if (!client->closing.load()) return false;
      s.teardown(*client);
      return true;
    });
    s.client_count.store(s.clients.size());
  }
  for (auto& client : s.clients) s.teardown(*client);
  s.clients.clear();
  s.client_count.store(0);
  return {};
}

Result<void> run_server(const ServerOptions& options) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigprocmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  UniqueFd signal_fd(signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signal_fd) return Error::from_errno(errno, "signalfd");
  AMBER_TRY_ASSIGN(auto server, Server::create(options));
  std::fprintf(stderr, "virtamberd: listening on %s and %s\n", options.rw_socket.c_str(),
               options.ro_socket.c_str());
  auto result = server->run(signal_fd.get());
  server.reset();
  std::fprintf(stderr, "virtamberd: stopped\n");
  return result;
}

}  // namespace amber::driver::server
