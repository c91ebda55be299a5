// SPDX-License-Identifier: GPL-2.0-or-later
// The daemon's listeners and event loop: a read-write unix socket (peer must
// be root, checked with SO_PEERCRED) and a read-only one, one poll() loop
// thread, a normal and a high-priority worker pool, per-client bounded
// output queues that any thread may fill (a wakeup eventfd rings the loop),
// streams (consoles relayed by the loop, volume uploads and downloads by a
// thread of their own; server/stream_relay.h), and clean shutdown removing
// the sockets.
//
// The loop reads and frames input, answers keepalive PINGs itself, feeds
// STREAM packets to their stream, and hands CALLs to the client's strand:
// one call of a client runs at a time, in arrival order, on the pool its
// priority picks (protocol::frame_priority), so calls of one client never
// race on its Connection and a slow normal call (a domain start) never
// delays another client's high-priority call. At most kMaxQueuedCalls
// calls wait per client; beyond that the loop stops reading it. A client
// whose unsent output passes max_client_output is dropped; so is one that
// breaks the framing, and one that stops answering keepalive PINGs (see
// ServerOptions::keepalive_interval). Dropping a client at any point releases its event
// registrations and streams.
//
// Thread-safety: Server::run() on one thread; stop() and adopt() from any
// thread; run_server() blocks SIGTERM/SIGINT and uses them to stop.
#pragma once

#include <memory>
#include <string>

#include "common/result.h"
#include "common/unique_fd.h"
#include "driver/protocol/procedure.h"

namespace amber::driver::server {

struct ServerOptions {
  std::string rw_socket;  // empty: no read-write listener
  std::string ro_socket;  // empty: no read-only listener
  protocol::DaemonInfo daemon;
  // Threads for calls that may wait on a VM, and for @priority:high calls.
  size_t normal_workers = 8;
  size_t priority_workers = 4;
  // A client whose unsent output passes this is dropped. It is at least
  // one maximal frame (32 MiB) in the daemon; tests set it lower.
  size_t max_client_output = 64 * 1024 * 1024;
  // Whether the read-write socket insists on a root peer (tests: false).
  bool rw_requires_root = true;
  // Listening sockets passed by systemd (server/activation.h); -1: bind
  // the path above. A passed socket is used as is and never unlinked.
  int rw_listen_fd = -1;
  int ro_listen_fd = -1;
  // Keepalive, as libvirtd does it (virkeepalive.c) for a client that
  // asked whether we support the KEEPALIVE program: after
  // `keepalive_interval` seconds without a packet from it, a PING every
  // interval; when `keepalive_count` of them went unanswered (no packet of
  // any kind came back), the client is dropped as dead. interval <= 0:
  // never PING, never drop; count 0: drop after one silent interval.
  int keepalive_interval = 5;
  int keepalive_count = 5;
};

// Calls one client may have waiting (libvirtd's max_client_requests is 5;
// more lets a pipelining client fill the pools of both priorities).
inline constexpr size_t kMaxQueuedCalls = 16;

class Server {
 public:
  // Binds the listeners (replacing stale socket files).
  static Result<std::unique_ptr<Server>> create(const ServerOptions& options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Serves until stop() or until `stop_fd` (if >= 0) becomes readable;
  // then closes every client, drains the pools and unlinks the sockets.
  Result<void> run(int stop_fd = -1);
  void stop();
  // Serves an already connected socket (tests; socket activation).
  void adopt(UniqueFd fd, protocol::SocketKind kind);
  // Clients currently served (for tests and logs).
  size_t client_count() const;

  class Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Binds both sockets, serves until SIGTERM or SIGINT, then closes every
// client and unlinks the sockets.
Result<void> run_server(const ServerOptions& options);

}  // namespace amber::driver::server
