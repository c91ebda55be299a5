// SPDX-License-Identifier: GPL-2.0-or-later
// ControlServer: the --control unix stream socket. Any number of clients
// (up to kMaxClients); each gets the greeting line first, then each line
// it sends is one command (commands.h), answered on the same connection;
// machine events ({"event":...}) go to every client. The destructor gives
// clients a moment to take what is still queued (the SHUTDOWN event).
//
// Framing: every line goes out whole and in order. Each client has an
// output queue of complete lines, written as far as the socket takes and
// the rest on POLLOUT; a partial write continues the same line, never
// interleaves another. A client that lets more than max_queued_bytes pile
// up (it does not read) is disconnected with a log line on stderr, so it
// cannot grow our memory nor block the VM.
// Input lines longer than the command limit get an error reply and the
// client is disconnected (a hostile client cannot grow our buffers).
//
// Thread-safety: one server thread polls the sockets and runs commands;
// send_event() may be called from any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "hv/control/commands.h"

namespace amber::hv::vmm {
struct Vm;
}

namespace amber::hv::control {

// Management needs one or two clients; more is a leak or an attack.
inline constexpr size_t kMaxClients = 16;
// A client's unread output before it is dropped: room for the largest
// reply (vmmctl::kMaxMessageLength, 1 MiB) and a burst of events after it;
// 16 clients at most make 32 MiB in the worst case.
inline constexpr size_t kMaxQueuedOutput = 2 * 1024 * 1024;

class ControlServer {
 public:
  // Listens on `path` (replacing a stale socket) and answers with `target`.
  static Result<std::unique_ptr<ControlServer>> listen(const std::string& path,
                                                       std::unique_ptr<ControlTarget> target,
                                                       size_t max_queued_bytes = kMaxQueuedOutput);
  // listen() for a VM, and the VM's events sent to every client.
  static Result<std::unique_ptr<ControlServer>> start(const std::string& path,
                                                      const std::string& name, vmm::Vm& vm);
  ~ControlServer();
  void send_event(const std::string& line);

 private:
  struct Client {
    UniqueFd fd;
    std::string input;
    std::deque<std::string> output;  // complete lines, '\n' included
    size_t sent = 0;                 // bytes of output.front() already written
    size_t queued = 0;               // bytes in output not yet written
    bool dropped = false;            // closed and erased by serve()
  };
  ControlServer() = default;
  void serve();
  void wake();
  void drain();  // after serve() ended: the queued lines, for a short while
  void read_from(int fd);
  // Under clients_mutex_.
  void queue_line(Client& client, const std::string& line);
  void flush(Client& client);
  Client* find_client(int fd);

  std::string path_;
  UniqueFd listen_fd_;
  UniqueFd wake_fd_;  // eventfd: new output queued, a client to drop, or stop
  std::atomic<bool> stopping_{false};
  size_t max_queued_bytes_ = kMaxQueuedOutput;
  std::unique_ptr<ControlTarget> target_;
  vmm::Vm* vm_ = nullptr;
  std::mutex clients_mutex_;
  std::list<Client> clients_;  // a list: references stay valid
  std::thread thread_;
};

}  // namespace amber::hv::control
