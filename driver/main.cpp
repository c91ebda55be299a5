// SPDX-License-Identifier: GPL-2.0-or-later
// virtamberd: the libvirt-compatible daemon. Parses the path flags, opens
// the domain manager and runs the server until SIGTERM/SIGINT. See
// doc/virtamberd.md.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "driver/server/server.h"
#include "driver/vm/manager.h"

namespace {

constexpr const char* kUsage =
    "usage: virtamberd [options]\n"
    "  --socket-dir DIR   directory of both sockets (default /run/libvirt)\n"
    "  --rw-socket PATH   read-write socket (default DIR/virtamberd-sock)\n"
    "  --ro-socket PATH   read-only socket (default DIR/virtamberd-sock-ro)\n"
    "  --state-dir DIR    persistent state (default /var/lib/libvirt/amber)\n"
    "  --config-dir DIR   configuration (default /etc/libvirt/amber)\n"
    "  --run-dir DIR      runtime files (default /run/libvirt/amber)\n"
    "  --log-dir DIR      logs (default /var/log/libvirt/amber)\n"
    "  --vmm PATH         amber-vmm (default: beside virtamberd, then PATH)\n"
    "  --help             this text\n";

}  // namespace

int main(int argc, char** argv) {
  std::string socket_dir = "/run/libvirt";
  std::string rw_socket;
  std::string ro_socket;
  amber::driver::server::ServerOptions options;
  options.daemon.state_dir = "/var/lib/libvirt/amber";
  options.daemon.config_dir = "/etc/libvirt/amber";
  options.daemon.run_dir = "/run/libvirt/amber";
  std::string log_dir = "/var/log/libvirt/amber";
  std::string vmm_binary;
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    if (flag == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    std::string* target = nullptr;
    if (flag == "--socket-dir") target = &socket_dir;
    if (flag == "--rw-socket") target = &rw_socket;
    if (flag == "--ro-socket") target = &ro_socket;
    if (flag == "--state-dir") target = &options.daemon.state_dir;
    if (flag == "--config-dir") target = &options.daemon.config_dir;
    if (flag == "--run-dir") target = &options.daemon.run_dir;
    if (flag == "--log-dir") target = &log_dir;
    if (flag == "--vmm") target = &vmm_binary;
    if (target == nullptr) {
      std::fprintf(stderr, "virtamberd: unknown option '%s'\n%s", argv[i], kUsage);
      return 2;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "virtamberd: option '%s' needs a value\n", argv[i]);
      return 2;
    }
    *target = argv[++i];
  }
  options.rw_socket = rw_socket.empty() ? socket_dir + "/virtamberd-sock" : rw_socket;
  options.ro_socket = ro_socket.empty() ? socket_dir + "/virtamberd-sock-ro" : ro_socket;
  // Before the manager starts threads: they inherit the mask, so SIGTERM
  // and SIGINT reach only run_server's signalfd.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  amber::driver::vm::ManagerOptions manager_options;
  manager_options.config_dir = options.daemon.config_dir;
  manager_options.run_dir = options.daemon.run_dir;
  manager_options.log_dir = log_dir;
  manager_options.vmm_binary = vmm_binary;
  auto manager = amber::driver::vm::Manager::open(manager_options);
  if (!manager.ok()) {
    std::fprintf(stderr, "virtamberd: %s\n", manager.error().message().c_str());
    return 1;
  }
  options.daemon.manager = manager->get();
  auto result = amber::driver::server::run_server(options);
  if (!result.ok()) {
    std::fprintf(stderr, "virtamberd: %s\n", result.error().message().c_str());
    return 1;
  }
  return 0;
}
