// SPDX-License-Identifier: GPL-2.0-or-later
// The daemon's listeners and event loop: a read-write unix socket (peer must
// be root, checked with SO_PEERCRED) and a read-only one, a poll() loop,
// per-client buffered output (a client that does not read never blocks the
// others), and clean shutdown removing the sockets.
//
// This first version dispatches on the loop thread (every handler so far is
// a cheap host query); the worker pool comes with the domain calls.
//
// Thread-safety: run() owns everything; request_stop() is async-signal-safe.
#pragma once

#include <string>

#include "common/result.h"
#include "driver/protocol/procedure.h"

namespace amber::driver::server {

struct ServerOptions {
  std::string rw_socket;
  std::string ro_socket;
  protocol::DaemonInfo daemon;
  // Listening sockets passed by systemd (server/activation.h); -1: bind
  // the path above. A passed socket is used as is and never unlinked.
  int rw_listen_fd = -1;
  int ro_listen_fd = -1;
};

// Binds both sockets (replacing stale socket files), serves until SIGTERM or
// SIGINT, then closes every client and unlinks the sockets.
Result<void> run_server(const ServerOptions& options);

}  // namespace amber::driver::server
