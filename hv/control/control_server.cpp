// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/control/control_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <limits>

#include "hv/control/input_events.h"
#include "hv/control/key_sender.h"
#include "hv/devices/i8042.h"
#include "hv/devices/ps2_keymap.h"
#include "hv/display/vnc_server.h"
#include "hv/net/dhcp_snoop.h"
#include "hv/net/nic_stats.h"
#include "hv/virtio/blk_pci.h"
#include "hv/virtio/scsi_disk.h"
#include "hv/vmm/builder.h"
#include "vmmctl/protocol.h"

namespace amber::hv::control {
namespace {

constexpr size_t kReadChunk = 4096;
// How long the destructor waits for clients to take their last lines.
constexpr std::chrono::milliseconds kDrainTimeout{500};

// query-nics' "leases": what the user network's DHCP server handed out.
std::vector<vmmctl::NicLease> leases(const net::DhcpSnoop& dhcp) {
  const int64_t now = net::steady_now_ms();
  std::vector<vmmctl::NicLease> out;
  for (const net::DhcpLease& lease : dhcp.leases(now)) {
    vmmctl::NicLease row;
    row.ip_address = vmmctl::format_ipv4(lease.address);
    row.prefix = lease.prefix;
    row.mac_address = vmmctl::format_mac(lease.mac);
    if (lease.expires_ms != std::numeric_limits<int64_t>::max())
      row.expires_in = static_cast<uint64_t>((lease.expires_ms - now) / 1000);
    out.push_back(std::move(row));
  }
  return out;
}

class VmTarget : public ControlTarget {
 public:
  explicit VmTarget(vmm::Vm& vm, std::string name)
      : vm_(vm), name_(std::move(name)), keys_([&vm](unsigned key, bool down) {
          if (vm.ps2 != nullptr) (void)vm.ps2->key_event(key, down);
        }) {}
  vmmctl::StatusInfo query_status() override {
    return {vm_.machine->state(), name_, static_cast<int64_t>(::getpid())};
  }
  std::vector<vmmctl::ChardevInfo> query_chardev() override { return {vm_.serial}; }
  void pause() override { vm_.machine->pause(); }
  void resume() override { vm_.machine->resume(); }
  void reset() override { vm_.machine->reset(); }
  void quit() override { vm_.machine->quit(); }
  void powerdown() override {
    if (vm_.power_button) (void)vm_.power_button();
  }
  Result<void> screendump(const std::string& filename) override {
    if (!vm_.screendump) return ControlTarget::screendump(filename);
    AMBER_TRY_ASSIGN(const devices::Screen screen, vm_.screendump());
    const std::vector<uint8_t> ppm = devices::encode_ppm(screen);
    // Written whole to a new file and renamed, so a reader never sees half a picture.
    const std::string temporary = filename + ".tmp";
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return Error::from_errno(errno, "screendump: " + filename);
    size_t done = 0;
    while (done < ppm.size()) {
      const ssize_t n = ::write(fd, ppm.data() + done, ppm.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int saved = errno;
        ::close(fd);
        ::unlink(temporary.c_str());
        return Error::from_errno(saved, "screendump: " + filename);
      }
      done += static_cast<size_t>(n);
    }
    if (::close(fd) != 0 || ::rename(temporary.c_str(), filename.c_str()) != 0) {
      const int saved = errno;
      ::unlink(temporary.c_str());
      return Error::from_errno(saved, "screendump: " + filename);
    }
    return ok();
  }
  Result<void> send_key(const vmmctl::SendKeyArguments& arguments) override {
    for (unsigned key : arguments.keys)
      if (!devices::has_scancode(key))
        return Error(ErrorKind::kInvalidArgument,
                     "keycode " + std::to_string(key) + " is not a key of the PS/2 keyboard");
    return keys_.queue(arguments.keys, arguments.hold_time_ms);
  }
  vmmctl::VncInfo query_vnc() override { return vm_.vnc ? vm_.vnc->query() : vmmctl::VncInfo{}; }
  Result<void> change_vnc_password(const std::string& password) override {
    if (!vm_.vnc) return ControlTarget::change_vnc_password(password);
    vm_.vnc->set_password(password);
    return ok();
  }
  void mouse_move(const vmmctl::MouseMoveArguments& arguments) override {
    if (vm_.ps2 != nullptr)
      vm_.ps2->mouse_event(arguments.dx, arguments.dy, arguments.dz, arguments.buttons);
  }
  Result<void> input_send_event(const vmmctl::InputSendEventArguments& arguments) override {
    return send_input_events(vm_, arguments, ps2_pointer_);
  }
  std::vector<vmmctl::BlockInfo> query_block() override {
    std::vector<vmmctl::BlockInfo> out;
    for (const vmm::DiskHandle& disk : vm_.disks) {
      vmmctl::BlockInfo info;
      info.device = disk.name;
      info.path = disk.path;
      info.slot = disk.slot;
      vmm::set_block_counters(info, virtio::stats(*disk.device));
      out.push_back(std::move(info));
    }
    for (const vmm::IdeDriveHandle& drive : vm_.ide) out.push_back(vmm::ide_block_info(drive));
    for (const vmm::ScsiDiskHandle& disk : vm_.scsi) {
      vmmctl::BlockInfo info;
      info.device = disk.id;
      info.path = disk.path;
      info.slot = disk.slot;
      vmm::set_block_counters(info, disk.disk->stats());
      out.push_back(std::move(info));
    }
    return out;
  }
  std::vector<vmmctl::NicInfo> query_nics() override {
    std::vector<vmmctl::NicInfo> out;
    for (const vmm::NicHandle& nic : vm_.nics) {
      const net::NicCounters c = nic.stats->snapshot();
      out.push_back({nic.id,
                     std::string(vmmctl::to_string(nic.model)),
                     vmmctl::format_mac(nic.mac),
                     c.rx_bytes,
                     c.rx_packets,
                     c.rx_errors,
                     c.rx_drops,
                     c.tx_bytes,
                     c.tx_packets,
                     c.tx_errors,
                     c.tx_drops,
                     {}});
      if (nic.dhcp != nullptr) out.back().leases = leases(*nic.dhcp);
    }
    return out;
  }
  Result<void> eject(const vmmctl::EjectRequest& request) override {
    AMBER_TRY_ASSIGN(vmm::IdeDriveHandle * drive, find_ide(request.id));
    return vmm::ide_eject(*drive, request.force);
  }
  Result<void> change_medium(const vmmctl::ChangeMediumRequest& request) override {
    AMBER_TRY_ASSIGN(vmm::IdeDriveHandle * drive, find_ide(request.id));
    return vmm::ide_change_medium(*drive, request);
  }

 private:
  Result<vmm::IdeDriveHandle*> find_ide(const std::string& id) {
    for (vmm::IdeDriveHandle& drive : vm_.ide)
      if (drive.id == id) return &drive;
    for (const vmm::DiskHandle& disk : vm_.disks)
      if (disk.name == id)
        return Error(ErrorKind::kUnsupported, "Device '" + id + "' is not removable");
    return Error(ErrorKind::kNotFound, "Device '" + id + "' not found");
  }

  vmm::Vm& vm_;
  std::string name_;
  Ps2PointerState ps2_pointer_;  // control thread only
  KeySender keys_;               // last: its thread stops before the rest goes
};

}  // namespace

Result<std::unique_ptr<ControlServer>> ControlServer::listen(const std::string& path,
                                                             std::unique_ptr<ControlTarget> target,
                                                             size_t max_queued_bytes) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path))
    return Error(ErrorKind::kInvalidArgument, "--control " + path + ": path too long");
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  std::unique_ptr<ControlServer> server(new ControlServer());
  server->listen_fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!server->listen_fd_) return Error::from_errno(errno, "--control: socket");
  ::unlink(path.c_str());
  if (::bind(server->listen_fd_.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) <
          0 ||
      ::listen(server->listen_fd_.get(), 4) < 0)
    return Error::from_errno(errno, "--control " + path);
  server->path_ = path;
  server->wake_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!server->wake_fd_) return Error::from_errno(errno, "--control: eventfd");
  server->max_queued_bytes_ = max_queued_bytes;
  server->target_ = std::move(target);
  ControlServer* raw = server.get();
  server->thread_ = std::thread([raw] { raw->serve(); });
  return server;
}

Result<std::unique_ptr<ControlServer>> ControlServer::start(const std::string& path,
                                                            const std::string& name, vmm::Vm& vm) {
  AMBER_TRY_ASSIGN(auto server, listen(path, std::make_unique<VmTarget>(vm, name)));
  server->vm_ = &vm;
  ControlServer* raw = server.get();
  vm.machine->set_event_sink([raw](const std::string& line) { raw->send_event(line); });
  return server;
}

ControlServer::~ControlServer() {
  if (vm_ != nullptr) vm_->machine->set_event_sink(nullptr);
  stopping_ = true;
  if (wake_fd_) wake();
  if (thread_.joinable()) thread_.join();
  drain();
  clients_.clear();  // closes every client's descriptor
  if (listen_fd_) {
    listen_fd_.reset();
    ::unlink(path_.c_str());
  }
  wake_fd_.reset();
}

void ControlServer::drain() {
  // The last lines (SHUTDOWN before the process exits) are worth a short
  // wait; a client that does not read them within it loses them.
  const auto deadline = std::chrono::steady_clock::now() + kDrainTimeout;
  std::lock_guard lock(clients_mutex_);
  for (Client& c : clients_) {
    flush(c);
    while (!c.output.empty() && !c.dropped) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd p{c.fd.get(), POLLOUT, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      flush(c);
    }
  }
}

void ControlServer::wake() {
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_.get(), &one, sizeof(one));
}

ControlServer::Client* ControlServer::find_client(int fd) {
  for (Client& c : clients_)
    if (c.fd.get() == fd && !c.dropped) return &c;
  return nullptr;
}

void ControlServer::queue_line(Client& client, const std::string& line) {
  if (client.dropped) return;
  if (client.queued + line.size() + 1 > max_queued_bytes_) {
    std::fprintf(stderr,
                 "amber-vmm: control: dropping a client that does not read "
                 "(%zu bytes unread, limit %zu)\n",
                 client.queued + line.size() + 1, max_queued_bytes_);
    client.dropped = true;
    wake();  // serve() closes it: only that thread closes client sockets
    return;
  }
  client.output.push_back(line + "\n");
  client.queued += line.size() + 1;
  const bool was_waiting = client.output.size() > 1;
  flush(client);
  // What the socket did not take waits for POLLOUT, which serve() only
  // polls for when it knows output is queued.
  if (!client.output.empty() && !was_waiting) wake();
}

void ControlServer::flush(Client& client) {
  while (!client.output.empty() && !client.dropped) {
    const std::string& line = client.output.front();
    const ssize_t n = ::send(client.fd.get(), line.data() + client.sent, line.size() - client.sent,
                             MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        client.dropped = true;  // the peer is gone (EPIPE, ECONNRESET)
        wake();
      }
      return;
    }
    client.sent += static_cast<size_t>(n);  // n <= what was asked
    client.queued -= static_cast<size_t>(n);
    if (client.sent < line.size()) return;  // the socket is full: the rest on POLLOUT
    client.output.pop_front();
    client.sent = 0;
  }
}

void ControlServer::send_event(const std::string& line) {
  std::lock_guard lock(clients_mutex_);
  for (Client& c : clients_) queue_line(c, line);
}

void ControlServer::read_from(int fd) {
  char buffer[kReadChunk];
  const ssize_t n = ::recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  std::vector<std::string> lines;
  {
    std::lock_guard lock(clients_mutex_);
    Client* client = find_client(fd);
    if (client == nullptr) return;
    if (n <= 0) {
      client->dropped = true;
      return;
    }
    client->input.append(buffer, static_cast<size_t>(n));
    size_t newline;
    while ((newline = client->input.find('\n')) != std::string::npos) {
      lines.push_back(client->input.substr(0, newline));
      client->input.erase(0, newline + 1);
    }
    if (client->input.size() > vmmctl::kMaxCommandLength) {
      queue_line(*client, vmmctl::encode_error(vmmctl::ErrorClass::kGenericError, "line too long",
                                               std::nullopt));
      flush(*client);
      client->dropped = true;
    }
  }
  for (std::string& line : lines) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string reply = handle_line(line, *target_);
    std::lock_guard lock(clients_mutex_);
    Client* client = find_client(fd);
    if (client == nullptr) return;
    queue_line(*client, reply);
  }
}

void ControlServer::serve() {
  while (!stopping_) {
    std::vector<pollfd> fds{{wake_fd_.get(), POLLIN, 0}, {listen_fd_.get(), POLLIN, 0}};
    {
      std::lock_guard lock(clients_mutex_);
      for (auto it = clients_.begin(); it != clients_.end();) {
        if (it->dropped) {
          it = clients_.erase(it);  // closes its descriptor
          continue;
        }
        const short events = static_cast<short>(POLLIN | (it->output.empty() ? 0 : POLLOUT));
        fds.push_back({it->fd.get(), events, 0});
        ++it;
      }
    }
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[0].revents) {
      uint64_t count = 0;
      [[maybe_unused]] const ssize_t n = ::read(wake_fd_.get(), &count, sizeof(count));
      if (stopping_) return;
    }
    if (fds[1].revents & POLLIN) {
      UniqueFd client(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (client) {
        std::lock_guard lock(clients_mutex_);
        if (clients_.size() < kMaxClients) {  // over the limit: closed at once
          Client& added = clients_.emplace_back();
          added.fd = std::move(client);
          queue_line(added, greeting_line());
        }
      }
    }
    for (size_t i = 2; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].revents & POLLOUT) {
        std::lock_guard lock(clients_mutex_);
        if (Client* client = find_client(fds[i].fd)) flush(*client);
      }
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) read_from(fds[i].fd);
    }
  }
}

}  // namespace amber::hv::control
