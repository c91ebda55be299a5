// SPDX-License-Identifier: GPL-2.0-or-later
// The VNC server's TCP sockets: the listening socket --vnc asks for (made
// here, not by libvncserver, so a failure is an error that names the
// address, the port and the reason), and the numeric addresses that
// query-vnc reports.
//
// Thread-safety: plain functions over file descriptors.
#pragma once

#include <string>

#include "common/result.h"
#include "common/unique_fd.h"

namespace amber::hv::display {

// Numeric host ("127.0.0.1", "::1") and port, with QMP's family name
// ("ipv4", "ipv6"; "unknown" for anything else).
struct SocketAddress {
  std::string host;
  std::string service;
  std::string family;
};

// A listening TCP socket on host:port: host an IPv4 address, an IPv6
// address (no brackets), or empty for every address (IPv6 and IPv4 on
// one socket where the host has IPv6, else IPv4). Close-on-exec,
// non-blocking, SO_REUSEADDR.
Result<UniqueFd> listen_tcp(const std::string& host, unsigned port);

// The local and the peer address of a connected or listening socket;
// empty strings when the kernel does not say.
SocketAddress local_address(int fd);
SocketAddress peer_address(int fd);

}  // namespace amber::hv::display
