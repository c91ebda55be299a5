// SPDX-License-Identifier: GPL-2.0-or-later
// virtamberd: the libvirt-compatible daemon. Reads the config file, applies
// the flags over it, takes systemd-activated sockets if any, opens the
// domain manager and runs the server until SIGTERM/SIGINT. See
// doc/virtamberd.md.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>

#include "driver/secret/store.h"
#include "driver/server/activation.h"
#include "driver/server/config.h"
#include "driver/server/server.h"
#include "driver/server/vmm_binary.h"
#include "driver/snapshot/service.h"
#include "driver/snapshot/store.h"
#include "driver/storage/pool_manager.h"
#include "driver/vm/manager.h"

#ifndef AMBER_SYSCONFDIR
#define AMBER_SYSCONFDIR "/etc"
#endif

namespace {

namespace server = amber::driver::server;

constexpr const char* kDefaultConfig = AMBER_SYSCONFDIR "/libvirt/virtamberd.conf";

struct Flag {
  std::string_view name;
  std::string_view key;  // the config key it overrides
  std::string_view metavar;
  std::string_view help;
};

constexpr Flag kPathFlags[] = {
    {"--socket-dir", "socket_dir", "DIR", "directory of both sockets (default /run/libvirt)"},
    {"--rw-socket", "rw_socket", "PATH", "read-write socket (default DIR/virtamberd-sock)"},
    {"--ro-socket", "ro_socket", "PATH", "read-only socket (default DIR/virtamberd-sock-ro)"},
    {"--state-dir", "state_dir", "DIR", "persistent state (default /var/lib/libvirt/amber)"},
    {"--config-dir", "config_dir", "DIR", "domain XML (default /etc/libvirt/amber)"},
    {"--run-dir", "run_dir", "DIR", "runtime files (default /run/libvirt/amber)"},
    {"--log-dir", "log_dir", "DIR", "domain logs (default /var/log/libvirt/amber)"},
    {"--vmm-binary", "vmm_binary", "PATH", "amber-vmm (default: searched, see below)"},
    {"--keepalive-interval", "keepalive_interval", "SECS",
     "PING a client silent this long (default 5; -1 or 0: never)"},
    {"--keepalive-count", "keepalive_count", "N",
     "drop a client after N unanswered PINGs (default 5)"},
};

void print_usage(FILE* out) {
  std::fputs("usage: virtamberd [options]   (also --option=VALUE)\n", out);
  std::fprintf(out, "  --config FILE             config file (default %s;\n", kDefaultConfig);
  std::fputs("                            a missing default is fine, a missing FILE is an error)\n",
             out);
  for (const Flag& flag : kPathFlags) {
    std::string usage = std::string(flag.name) + " " + std::string(flag.metavar);
    std::fprintf(out, "  %-25s %.*s\n", usage.c_str(), static_cast<int>(flag.help.size()),
                 flag.help.data());
  }
  std::fputs(
      "  --print-vmm-binary        print the amber-vmm this daemon would run, then exit\n"
      "  --help, -h                this text\n"
      "config file keys (key = \"value\", or key = N for the keepalive ones; flags\n"
      "override them):\n",
      out);
  for (const server::ConfigKey& key : server::config_keys()) {
    std::fprintf(out, "  %-19.*s %.*s\n", static_cast<int>(key.name.size()), key.name.data(),
                 static_cast<int>(key.help.size()), key.help.data());
  }
  std::fputs(
      "amber-vmm search when vmm_binary is unset: beside virtamberd, ../hv/ (build tree),\n"
      "then the install bindir.\n"
      "Socket activation: LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES (virtamberd.socket,\n"
      "virtamberd-ro.socket), as systemd passes them.\n",
      out);
}

std::string value_or(const std::optional<std::string>& value, std::string fallback) {
  return value ? *value : std::move(fallback);
}

// An integer setting in [MIN, MAX], or FALLBACK when unset.
std::optional<int> integer_setting(const std::optional<std::string>& value, std::string_view key,
                                   int min, int max, int fallback) {
  if (!value) return fallback;
  char* end = nullptr;
  errno = 0;
  long parsed = std::strtol(value->c_str(), &end, 10);
  if (value->empty() || *end != '\0' || errno != 0 || parsed < min || parsed > max) {
    std::fprintf(stderr, "virtamberd: %.*s must be an integer from %d to %d, not '%s'\n",
                 static_cast<int>(key.size()), key.data(), min, max, value->c_str());
    return std::nullopt;
  }
  return static_cast<int>(parsed);
}

}  // namespace

int main(int argc, char** argv) {
  server::DaemonConfig flags;
  std::optional<std::string> config_file;
  bool print_vmm = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      print_usage(stdout);
      return 0;
    }
    if (arg == "--print-vmm-binary") {
      print_vmm = true;
      continue;
    }
    std::string_view name = arg;
    std::optional<std::string> value;
    if (auto equals = arg.find('='); arg.starts_with("--") && equals != std::string_view::npos) {
      name = arg.substr(0, equals);
      value = std::string(arg.substr(equals + 1));
    }
    std::optional<std::string>* target = nullptr;
    if (name == "--config") target = &config_file;
    if (name == "--vmm") name = "--vmm-binary";  // the short spelling
    for (const Flag& flag : kPathFlags) {
      if (flag.name != name) continue;
      for (const server::ConfigKey& key : server::config_keys()) {
        if (key.name == flag.key) target = &(flags.*(key.field));
      }
    }
    if (target == nullptr) {
      std::fprintf(stderr, "virtamberd: unknown option '%s'\n", argv[i]);
      print_usage(stderr);
      return 2;
    }
    if (!value) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "virtamberd: option '%s' needs a value\n", argv[i]);
        return 2;
      }
      value = argv[++i];
    }
    *target = std::move(*value);
  }
  auto loaded = server::load_config_file(config_file.value_or(kDefaultConfig), !config_file);
  if (!loaded.ok()) {
    std::fprintf(stderr, "virtamberd: %s\n", loaded.error().message().c_str());
    return 2;
  }
  server::DaemonConfig config = *loaded;
  for (const server::ConfigKey& key : server::config_keys()) {
    if (flags.*(key.field)) config.*(key.field) = flags.*(key.field);
  }

  std::string socket_dir = value_or(config.socket_dir, "/run/libvirt");
  server::ServerOptions options;
  auto interval = integer_setting(config.keepalive_interval, "keepalive_interval", -1, 86400, 5);
  auto count = integer_setting(config.keepalive_count, "keepalive_count", 0, 1000, 5);
  if (!interval || !count) return 2;
  options.keepalive_interval = *interval;
  options.keepalive_count = *count;
  options.rw_socket = value_or(config.rw_socket, socket_dir + "/virtamberd-sock");
  options.ro_socket = value_or(config.ro_socket, socket_dir + "/virtamberd-sock-ro");
  options.daemon.state_dir = value_or(config.state_dir, "/var/lib/libvirt/amber");
  options.daemon.config_dir = value_or(config.config_dir, "/etc/libvirt/amber");
  options.daemon.run_dir = value_or(config.run_dir, "/run/libvirt/amber");
  options.daemon.log_dir = value_or(config.log_dir, "/var/log/libvirt/amber");
  if (config.vmm_binary) {
    // A relative path is taken from the directory the daemon started in,
    // whatever directory a domain's process later runs in.
    options.daemon.vmm_binary = std::filesystem::absolute(*config.vmm_binary).string();
  } else {
    auto found = server::find_vmm_binary();
    if (found.ok()) {
      options.daemon.vmm_binary = *found;
    } else {
      std::fprintf(stderr, "virtamberd: warning: %s\n", found.error().message().c_str());
      if (print_vmm) return 1;
    }
  }
  if (print_vmm) {
    std::printf("%s\n", options.daemon.vmm_binary.c_str());
    return 0;
  }
  std::fprintf(stderr, "virtamberd: VMM binary %s\n", options.daemon.vmm_binary.c_str());

  auto activated = server::take_activated_sockets(options.rw_socket, options.ro_socket);
  if (!activated.ok()) {
    std::fprintf(stderr, "virtamberd: socket activation: %s\n",
                 activated.error().message().c_str());
    return 1;
  }
  options.rw_listen_fd = activated->rw_fd;
  options.ro_listen_fd = activated->ro_fd;
  // Before the manager starts threads: they inherit the mask, so SIGTERM
  // and SIGINT reach only run_server's signalfd.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  amber::driver::secret::StoreOptions secret_options;
  secret_options.dir = options.daemon.config_dir + "/secrets";
  auto secrets = amber::driver::secret::Store::open(secret_options);
  if (!secrets.ok()) {
    std::fprintf(stderr, "virtamberd: secrets: %s\n", secrets.error().message().c_str());
    return 1;
  }
  options.daemon.secrets = secrets->get();
  // LUKS passphrases for new volumes and for domain disks: values of
  // usage-type volume secrets, read by the daemon itself (kInternal).
  const auto to_secret_bytes = [](const amber::driver::secret::SecretValue& value) {
    const auto bytes = value.bytes();
    amber::block::crypto::SecretBytes out(bytes.size());
    std::copy(bytes.begin(), bytes.end(), out.data());
    return out;
  };
  amber::driver::storage::PoolManagerOptions storage_options;
  storage_options.config_dir = options.daemon.config_dir;
  storage_options.volume_secret =
      [store = secrets->get(), to_secret_bytes](
          const std::string& uuid) -> amber::Result<amber::block::crypto::SecretBytes> {
    AMBER_TRY_ASSIGN(auto value, store->volume_passphrase(uuid, std::nullopt));
    return to_secret_bytes(value);
  };
  auto storage = amber::driver::storage::PoolManager::open(storage_options);
  if (!storage.ok()) {
    std::fprintf(stderr, "virtamberd: storage: %s\n", storage.error().message().c_str());
    return 1;
  }
  options.daemon.storage = storage->get();
  amber::driver::vm::ManagerOptions manager_options;
  // Before the manager: its autostart domains may sit on pool volumes.
  manager_options.resolve_volume =
      [pools = storage->get()](
          const std::string& pool,
          const std::string& volume) -> amber::Result<std::pair<std::string, std::string>> {
    AMBER_TRY_ASSIGN(auto state, pools->resolve(pool, volume));
    return std::pair(state.path, state.format);
  };
  manager_options.disk_secret = [store = secrets->get(),
                                 to_secret_bytes](const amber::xml::DiskEncryption& encryption)
      -> amber::Result<amber::block::crypto::SecretBytes> {
    AMBER_TRY_ASSIGN(auto value,
                     store->volume_passphrase(encryption.secret_uuid, encryption.secret_usage));
    return to_secret_bytes(value);
  };
  manager_options.config_dir = options.daemon.config_dir;
  manager_options.run_dir = options.daemon.run_dir;
  manager_options.log_dir = options.daemon.log_dir;
  manager_options.vmm_binary = options.daemon.vmm_binary;
  auto manager = amber::driver::vm::Manager::open(manager_options);
  if (!manager.ok()) {
    std::fprintf(stderr, "virtamberd: %s\n", manager.error().message().c_str());
    return 1;
  }
  options.daemon.manager = manager->get();
  // libvirt's QEMU driver layout: config_dir/snapshot/DOMAIN/NAME.xml.
  auto snapshot_store =
      amber::driver::snapshot::Store::open(options.daemon.config_dir + "/snapshot");
  if (!snapshot_store.ok()) {
    std::fprintf(stderr, "virtamberd: snapshots: %s\n", snapshot_store.error().message().c_str());
    return 1;
  }
  amber::driver::snapshot::Service snapshots(**manager, **snapshot_store);
  options.daemon.snapshots = &snapshots;
  auto result = server::run_server(options);
  if (!result.ok()) {
    std::fprintf(stderr, "virtamberd: %s\n", result.error().message().c_str());
    return 1;
  }
  return 0;
}
