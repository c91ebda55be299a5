// SPDX-License-Identifier: GPL-2.0-or-later
// Process: starting one amber-vmm and finding it again.
//
// spawn_vmm forks a small keeper (its own session, fds 0-2 on /dev/null and
// the log, every other fd closed with close_range), which forks and execs
// amber-vmm, waits for it and writes how it ended to the exit marker
// (run_dir/NAME.exit: "status N" or "signal N"). The marker outlives the
// daemon: a daemon restarted later tells a clean guest shutdown (status 0)
// from a crash. The daemon holds a pidfd of amber-vmm itself.
//
// Thread-safety: the functions may be called from any thread; the keeper
// only makes async-signal-safe calls between fork and exec.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace amber::driver::vm {

struct SpawnRequest {
  std::string binary;             // amber-vmm
  std::vector<std::string> args;  // without the program name
  std::string log_path;           // stdout and stderr, appended
  std::string exit_marker_path;   // written by the keeper
  // Descriptors amber-vmm inherits as kFirstInheritedFd, +1, ... in this
  // order (the disks' secret-fd=); the caller keeps ownership.
  std::vector<int> inherit_fds;
};

// Where SpawnRequest::inherit_fds land in amber-vmm (0-2 stdio; 3 and 4
// are the keeper's own pipes before exec).
inline constexpr int kFirstInheritedFd = 5;
// At most this many (one per disk is the only use).
inline constexpr size_t kMaxInheritedFds = 64;

struct Process {
  pid_t pid = 0;     // amber-vmm
  pid_t keeper = 0;  // our child; 0 when re-attached (not ours to reap)
  UniqueFd pidfd;    // readable once amber-vmm has ended
};

// The amber-vmm to run: CONFIGURED, or amber-vmm beside /proc/self/exe,
// or ../hv/amber-vmm from there (the build tree). kNotFound otherwise.
Result<std::string> find_vmm_binary(const std::string& configured);

Result<Process> spawn_vmm(const SpawnRequest& request);

// A pidfd for PID; kNotFound when it is gone.
Result<UniqueFd> open_pidfd(pid_t pid);
// Whether the process behind PIDFD has ended (polls, does not wait).
bool has_exited(int pidfd);
// pidfd_send_signal: a recycled pid cannot get it.
bool send_signal(int pidfd, int signal_number);
// Polls until the process behind PIDFD has ended; false after TIMEOUT.
bool wait_exit(int pidfd, std::chrono::milliseconds timeout);
// Whether PID runs an amber-vmm (by /proc/PID/exe) started with CONTROL
// as its control socket (by /proc/PID/cmdline): a recycled pid fails.
bool is_our_vmm(pid_t pid, const std::string& control);
// Reaps a keeper child without blocking longer than TIMEOUT.
void reap_keeper(pid_t keeper, std::chrono::milliseconds timeout);

// Waits until SOCKET accepts connections, the process ends (its log's last
// lines in the error) or TIMEOUT passes.
Result<void> wait_for_socket(const std::string& socket, int pidfd, const std::string& log_path,
                             std::chrono::milliseconds timeout);

// The last lines of a log file (at most ~2 KiB), for error messages.
std::string log_tail(const std::string& log_path);

}  // namespace amber::driver::vm
