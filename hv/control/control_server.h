// ControlServer: the --control unix stream socket. Any number of clients;
// each line a client sends is one command (commands.h), answered on the
// same connection; machine events ({"event":...}) go to every client.
// Lines longer than kMaxJsonLength get an error reply and the client is
// disconnected (a hostile or broken client cannot grow our buffers).
//
// Thread-safety: one server thread polls the sockets and runs commands;
// send_event() may be called from any thread.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "hv/control/commands.h"

namespace amber::hv::vmm {
struct Vm;
}

namespace amber::hv::control {

class ControlServer {
 public:
  static Result<std::unique_ptr<ControlServer>> start(const std::string& path, const std::string& name,
                                                      vmm::Vm& vm);
  ~ControlServer();
  void send_event(const std::string& line);

 private:
  struct Client {
    int fd;
    std::string buffer;
  };
  ControlServer() = default;
  void serve();
  void send_line(int fd, const std::string& line);  // under clients_mutex_

  std::string path_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // eventfd that stops serve()
  std::unique_ptr<ControlTarget> target_;
  vmm::Vm* vm_ = nullptr;
  std::mutex clients_mutex_;
  std::vector<Client> clients_;
  std::thread thread_;
};

}  // namespace amber::hv::control
