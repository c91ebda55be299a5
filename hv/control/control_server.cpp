#include "hv/control/control_server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "hv/control/json.h"
#include "hv/vmm/builder.h"
#include "hv/virtio/blk_pci.h"

namespace amber::hv::control {
namespace {

// Clients beyond this are refused: management needs one or two.
constexpr size_t kMaxClients = 16;
constexpr size_t kReadChunk = 4096;

class VmTarget : public ControlTarget {
 public:
  explicit VmTarget(vmm::Vm& vm, std::string name) : vm_(vm), name_(std::move(name)) {}
  std::string name() override { return name_; }
  std::string status() override { return std::string(vmm::to_string(vm_.machine->state())); }
  void pause() override { vm_.machine->pause(); }
  void resume() override { vm_.machine->resume(); }
  void reset() override { vm_.machine->reset(); }
  void quit() override { vm_.machine->quit(); }
  std::vector<BlockInfo> query_block() override {
    std::vector<BlockInfo> out;
    for (const vmm::DiskHandle& disk : vm_.disks) {
      BlockInfo info;
      info.device = disk.name;
      info.path = disk.path;
      info.slot = disk.slot;
      const virtio::BlkStats s = virtio::stats(*disk.device);
      auto copy = [](const virtio::OpStats& from) {
        return BlockOpCounters{from.ops, from.bytes, from.total_ns, from.failed};
      };
      info.read = copy(s.read);
      info.write = copy(s.write);
      info.flush = copy(s.flush);
      info.discard = copy(s.discard);
      out.push_back(std::move(info));
    }
    return out;
  }

 private:
  vmm::Vm& vm_;
  std::string name_;
};

}  // namespace

Result<std::unique_ptr<ControlServer>> ControlServer::start(const std::string& path, const std::string& name,
                                                            vmm::Vm& vm) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path))
    return Error(ErrorKind::kInvalidArgument, "--control " + path + ": path too long");
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  std::unique_ptr<ControlServer> server(new ControlServer());
  server->listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (server->listen_fd_ < 0) return Error::from_errno(errno, "--control: socket");
  ::unlink(path.c_str());
  if (::bind(server->listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) < 0 ||
      ::listen(server->listen_fd_, 4) < 0)
    return Error::from_errno(errno, "--control " + path);
  server->path_ = path;
  server->wake_fd_ = ::eventfd(0, EFD_CLOEXEC);
  if (server->wake_fd_ < 0) return Error::from_errno(errno, "--control: eventfd");
  server->vm_ = &vm;
  server->target_ = std::make_unique<VmTarget>(vm, name);
  ControlServer* raw = server.get();
  vm.machine->set_event_sink([raw](const std::string& line) { raw->send_event(line); });
  server->thread_ = std::thread([raw] { raw->serve(); });
  return server;
}

ControlServer::~ControlServer() {
  if (vm_ != nullptr) vm_->machine->set_event_sink(nullptr);
  if (wake_fd_ >= 0) {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof(one));
  }
  if (thread_.joinable()) thread_.join();
  for (Client& c : clients_) ::close(c.fd);
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    ::unlink(path_.c_str());
  }
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void ControlServer::send_line(int fd, const std::string& line) {
  const std::string framed = line + "\n";
  // Never block the VM on a client that does not read: drop what does not fit.
  [[maybe_unused]] const ssize_t n = ::send(fd, framed.data(), framed.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

void ControlServer::send_event(const std::string& line) {
  std::lock_guard lock(clients_mutex_);
  for (const Client& c : clients_) send_line(c.fd, line);
}

void ControlServer::serve() {
  while (true) {
    std::vector<pollfd> fds{{wake_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    {
      std::lock_guard lock(clients_mutex_);
      for (const Client& c : clients_) fds.push_back({c.fd, POLLIN, 0});
    }
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[0].revents) return;
    if (fds[1].revents & POLLIN) {
      const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client >= 0) {
        std::lock_guard lock(clients_mutex_);
        if (clients_.size() >= kMaxClients) {
          ::close(client);
        } else {
          clients_.push_back({client, {}});
        }
      }
    }
    for (size_t i = 2; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      const int fd = fds[i].fd;
      char buffer[kReadChunk];
      const ssize_t n = ::recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      std::vector<std::string> lines;
      bool drop = n <= 0;
      {
        std::lock_guard lock(clients_mutex_);
        auto it = std::find_if(clients_.begin(), clients_.end(), [fd](const Client& c) { return c.fd == fd; });
        if (it == clients_.end()) continue;
        if (n > 0) {
          it->buffer.append(buffer, static_cast<size_t>(n));
          size_t newline;
          while ((newline = it->buffer.find('\n')) != std::string::npos) {
            lines.push_back(it->buffer.substr(0, newline));
            it->buffer.erase(0, newline + 1);
          }
          if (it->buffer.size() > kMaxJsonLength) {
            send_line(fd, R"({"error":{"class":"GenericError","desc":"line too long"}})");
            drop = true;
          }
        }
      }
      for (std::string& line : lines) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos) continue;
        const std::string reply = handle_line(line, *target_);
        std::lock_guard lock(clients_mutex_);
        send_line(fd, reply);
      }
      if (drop) {
        std::lock_guard lock(clients_mutex_);
        auto it = std::find_if(clients_.begin(), clients_.end(), [fd](const Client& c) { return c.fd == fd; });
        if (it != clients_.end()) {
          ::close(it->fd);
          clients_.erase(it);
        }
      }
    }
  }
}

}  // namespace amber::hv::control
