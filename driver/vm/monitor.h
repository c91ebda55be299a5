// SPDX-License-Identifier: GPL-2.0-or-later
// Monitor: the daemon's two control connections to one running amber-vmm.
// Commands go over one vmmctl::Client (one at a time, with its reply
// deadline); events are read by the monitor's own thread from a second
// connection (hv/control takes up to 16 clients), which also watches the
// process's pidfd and reports its exit once.
//
// Thread-safety: call() from any thread (serialised inside); the handlers
// run on the monitor thread, which ~Monitor stops and joins (so a handler
// must never destroy its own Monitor; the manager parks dead ones until a
// worker thread frees them).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/result.h"
#include "common/unique_fd.h"
#include "vmmctl/client.h"

namespace amber::driver::vm {

class Monitor {
 public:
  using EventHandler = std::function<void(const vmmctl::Event&)>;
  using ExitHandler = std::function<void()>;

  // Connects both connections to SOCKET; PIDFD is the process's (borrowed,
  // it must outlive the Monitor).
  static Result<std::unique_ptr<Monitor>> start(const std::string& socket, int pidfd,
                                                EventHandler on_event, ExitHandler on_exit);
  ~Monitor();
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  // Any command by name, its raw reply (for replies this build's structs
  // may not decode, like a newer run state).
  Result<vmmctl::Json> execute(std::string_view command) {
    std::lock_guard lock(command_mutex_);
    if (command_->broken()) {
      auto client = vmmctl::Client::connect(socket_);
      if (!client.ok()) return std::move(client).error();
      command_ = std::move(client).value();
    }
    auto reply = command_->execute(command);
    (void)command_->take_events();
    return reply;
  }

  template <typename C>
  Result<typename C::Reply> call(const typename C::Request& request = {}) {
    std::lock_guard lock(command_mutex_);
    if (command_->broken()) {
      auto client = vmmctl::Client::connect(socket_);
      if (!client.ok()) return std::move(client).error();
      command_ = std::move(client).value();
    }
    auto reply = command_->call<C>(request);
    (void)command_->take_events();  // the event connection reports them
    return reply;
  }

 private:
  Monitor() = default;
  void run();
  // Reads what is available on the event connection; false at EOF/error.
  bool read_events();

  std::string socket_;
  int pidfd_ = -1;
  std::mutex command_mutex_;
  std::unique_ptr<vmmctl::Client> command_;
  UniqueFd events_fd_;
  UniqueFd wake_fd_;
  std::string input_;
  bool greeted_ = false;
  EventHandler on_event_;
  ExitHandler on_exit_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace amber::driver::vm
