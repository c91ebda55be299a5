// SPDX-License-Identifier: GPL-2.0-or-later
// systemd socket activation without libsystemd: the protocol of
// sd_listen_fds(3). When LISTEN_PID is this process, LISTEN_FDS listening
// sockets start at fd 3, named by LISTEN_FDNAMES (colon-separated; systemd
// names them after their .socket unit unless FileDescriptorName= is set).
// virtamberd.socket is the read-write socket, virtamberd-ro.socket the
// read-only one; unnamed fds are matched by the path they are bound to,
// then by order (first read-write, second read-only).
//
// Thread-safety: call once from main before any thread starts (it reads
// and clears the environment).
#pragma once

#include <string>

#include "common/result.h"

namespace amber::driver::server {

struct ActivatedSockets {
  int rw_fd = -1;  // -1: not passed; the daemon binds it itself
  int ro_fd = -1;
};

// Takes the passed sockets (marking them close-on-exec and non-blocking)
// and unsets LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES so children do not see
// them. No variables, or a LISTEN_PID of another process: both -1. A passed
// fd that is not a listening unix stream socket, or one that matches
// neither name nor path, is an error.
Result<ActivatedSockets> take_activated_sockets(const std::string& rw_path,
                                                const std::string& ro_path);

}  // namespace amber::driver::server
