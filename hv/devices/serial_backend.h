// SPDX-License-Identifier: GPL-2.0-or-later
// Where a UART's bytes go and come from: stdio, a pty (its path is printed
// on stderr), a file (output only), a listening unix socket (one client at
// a time), or nowhere; the choice is vmmctl::SerialSettings (parsed by
// vmmctl's parse_argv). Output never blocks the vCPU: when the other side
// does not read, bytes are dropped.
//
// A reader thread delivers input to the callback given to start(); it
// polls with a timeout so the destructor can stop it.
//
// Thread-safety: write() from any thread (internally locked); start() once.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "common/result.h"
#include "common/unique_fd.h"
#include "vmmctl/launch.h"

namespace amber::hv::devices {

class SerialBackend {
 public:
  static Result<std::unique_ptr<SerialBackend>> open(const vmmctl::SerialSettings& spec);
  ~SerialBackend();

  // input(bytes) is called from the reader thread; it returns how many of
  // them it accepted (the rest are retried later).
  void start(std::function<size_t(const uint8_t*, size_t)> input);
  void write(uint8_t byte);
  const std::string& pty_path() const { return pty_path_; }

 private:
  SerialBackend() = default;
  void reader();

  vmmctl::SerialKind kind_ = vmmctl::SerialKind::kNone;
  // The descriptor in_fd_/out_fd_ name when it is ours (the pty master,
  // the file, the unix client); stdio's 0 and 1 are not.
  UniqueFd owned_;
  UniqueFd listen_fd_;  // the unix socket's listener
  int in_fd_ = -1;
  int out_fd_ = -1;
  std::string pty_path_;
  std::string socket_path_;
  std::mutex mutex_;  // guards out_fd_/in_fd_ for the unix client
  std::function<size_t(const uint8_t*, size_t)> input_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace amber::hv::devices
