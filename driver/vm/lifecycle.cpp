// SPDX-License-Identifier: GPL-2.0-or-later
// Starting, stopping, pausing and resetting amber-vmm processes.
#include <fcntl.h>
#include <libvirt/libvirt.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "driver/vm/keycodes.h"
#include "driver/vm/manager_impl.h"

namespace amber::driver::vm {

namespace {

// amber-vmm builds the VM (RAM, vCPUs, disks) before it listens; on this
// software KVM that takes a few seconds at most.
constexpr std::chrono::milliseconds kSocketTimeout{30000};
// SIGTERM is a clean quit in amber-vmm; a VMM that ignores it this long
// is killed (unless VIR_DOMAIN_DESTROY_GRACEFUL).
constexpr std::chrono::milliseconds kTermTimeout{10000};

Error not_running() {
  return Error(ErrorKind::kLocked, "domain is not running");
}

std::string real_path(const std::string& path) {
  char buffer[PATH_MAX];
  return ::realpath(path.c_str(), buffer) != nullptr ? std::string(buffer) : path;
}

}  // namespace

LaunchContext ManagerImpl::launch_context(const xml::Domain& domain,
                                          const std::string& control) const {
  LaunchContext context;
  context.control_socket = control;
  context.emulator = vmm_binary_;
  // The same binary by another path (a symlink, the capabilities' path).
  if (domain.devices.emulator && !vmm_binary_.empty() &&
      real_path(*domain.devices.emulator) == real_path(vmm_binary_))
    context.emulator = *domain.devices.emulator;
  return context;
}

void ManagerImpl::save_status(const Entry& entry) {
  if (!entry.vm) return;
  LiveStatus status;
  status.id = entry.vm->id;
  status.pid = entry.vm->process.pid;
  status.state = entry.state;
  status.reason = entry.reason;
  status.control = entry.vm->control;
  status.pty = entry.vm->pty;
  status.domain_xml = xml::format_domain(live_view(entry), xml::FormatFlags::kSecure);
  if (auto saved = store_.save_status(entry.name, status); !saved.ok())
    std::fprintf(stderr, "virtamberd: %s: saving live status: %s\n", entry.name.c_str(),
                 saved.error().message().c_str());
}

void ManagerImpl::bury(std::shared_ptr<RunningVm> vm) {
  post([vm = std::move(vm)]() mutable { vm.reset(); });
}

Result<std::shared_ptr<RunningVm>> ManagerImpl::running(const std::shared_ptr<Entry>& entry) {
  std::lock_guard lock(mutex_);
  if (!entry->vm || entry->vm->stopping) return not_running();
  return entry->vm;
}

void ManagerImpl::finish_stopped(const std::shared_ptr<Entry>& entry, int reason) {
  std::shared_ptr<RunningVm> vm = std::move(entry->vm);
  entry->vm.reset();
  entry->state = VIR_DOMAIN_SHUTOFF;
  entry->reason = reason;
  entry->disk_errors.clear();
  // The holder's stream ends by itself (the pty's master closed); it was
  // not revoked, so on_revoked is not called.
  entry->console.reset();
  if (auto removed = store_.remove_status(entry->name); !removed.ok())
    std::fprintf(stderr, "virtamberd: %s\n", removed.error().message().c_str());
  if (!entry->config) erase(entry);  // a transient domain ends with its process
  if (vm) bury(std::move(vm));
}

Result<void> ManagerImpl::start_monitor(const std::shared_ptr<Entry>& entry,
                                        const std::shared_ptr<RunningVm>& vm) {
  std::weak_ptr<Entry> weak = entry;
  RunningVm* raw = vm.get();
  auto on_event = [this, weak, raw](const vmmctl::Event& event) { on_vm_event(weak, raw, event); };
  auto on_exit = [this, weak, raw] { on_vm_exit(weak, raw); };
  AMBER_TRY_ASSIGN(vm->monitor,
                   Monitor::start(vm->control, vm->process.pidfd.get(), on_event, on_exit));
  return ok();
}

Result<xml::Domain> ManagerImpl::resolve_volumes(const xml::Domain& domain) const {
  xml::Domain out = domain;
  for (xml::Disk& disk : out.devices.disks) {
    if (disk.type != xml::DiskType::kVolume) continue;
    const std::string pool = disk.source_pool.value_or("");
    const std::string volume = disk.source_volume.value_or("");
    if (!options_.resolve_volume) {
      return Error(ErrorKind::kUnsupported,
                   "unsupported configuration: /domain/devices/disk/source (volume disks need "
                   "the daemon's storage pools)");
    }
    auto found = options_.resolve_volume(pool, volume);
    if (!found.ok()) {
      // Not the domain's kNotFound (VIR_ERR_NO_DOMAIN): the disk is wrong.
      return Error(found.error().kind() == ErrorKind::kNotFound ? ErrorKind::kInvalidArgument
                                                                : found.error().kind(),
                   "disk " + disk.target_dev + ": " + found.error().message());
    }
    if (disk.format && *disk.format != found->second) {
      return Error(ErrorKind::kUnsupported, "unsupported configuration: disk " + disk.target_dev +
                                                " says format '" + *disk.format + "' but volume '" +
                                                volume + "' of pool '" + pool + "' is " +
                                                found->second);
    }
    // The live domain shows the file the volume resolved to.
    disk.type = xml::DiskType::kFile;
    disk.source = found->first;
    disk.format = found->second;
    disk.source_pool.reset();
    disk.source_volume.reset();
  }
  return out;
}

// A sealed memfd holding SECRET at offset 0, for amber-vmm's secret-fd=.
// The value lives only in the daemon's memory and this anonymous file.
Result<UniqueFd> secret_memfd(const block::crypto::SecretBytes& secret) {
  UniqueFd fd(::memfd_create("amber-disk-secret", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) return Error::from_errno(errno, "memfd_create");
  size_t done = 0;
  while (done < secret.size()) {
    const ssize_t n = ::write(fd.get(), secret.data() + done, secret.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error::from_errno(n < 0 ? errno : EIO, "writing a disk secret");
    done += static_cast<size_t>(n);
  }
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0)
    return Error::from_errno(errno, "sealing a disk secret");
  if (::lseek(fd.get(), 0, SEEK_SET) != 0) return Error::from_errno(errno, "lseek");
  return fd;
}

Result<std::vector<UniqueFd>> ManagerImpl::attach_disk_secrets(const xml::Domain& domain,
                                                               LaunchPlan& plan,
                                                               int first_fd) const {
  std::vector<UniqueFd> fds;
  for (size_t i = 0; i < plan.settings.disks.size(); ++i) {
    const xml::Disk& disk = domain.devices.disks[plan.disk_index[i]];
    if (!disk.encryption) continue;
    const std::string where = "disk " + disk.target_dev + ": ";
    if (disk.encryption->format != "luks") {
      return Error(ErrorKind::kUnsupported, "unsupported configuration: " + where +
                                                "encryption format '" + disk.encryption->format +
                                                "' is not supported (only luks)");
    }
    if (!disk.encryption->secret_uuid && !disk.encryption->secret_usage) {
      return Error(ErrorKind::kInvalidArgument,
                   where + "<encryption format='luks'> needs a <secret type='passphrase'>");
    }
    if (!options_.disk_secret) {
      return Error(ErrorKind::kUnsupported, "unsupported configuration: " + where +
                                                "encrypted disks need the daemon's "
                                                "secret driver");
    }
    auto secret = options_.disk_secret(*disk.encryption);
    if (!secret.ok()) return Error(secret.error().kind(), where + secret.error().message());
    AMBER_TRY_ASSIGN(UniqueFd fd, secret_memfd(*secret));
    plan.settings.disks[i].secret_fd = first_fd + static_cast<int>(fds.size());
    fds.push_back(std::move(fd));
  }
  return fds;
}

Result<void> ManagerImpl::start_locked(const std::shared_ptr<Entry>& entry,
                                       const xml::Domain& domain, unsigned flags) {
  if (vmm_binary_.empty())
    return Error(ErrorKind::kInternal, "amber-vmm was not found; the daemon cannot start domains");
  const std::string control = options_.run_dir + "/" + domain.uuid.to_string() + ".sock";
  AMBER_TRY_ASSIGN(xml::Domain resolved, resolve_volumes(domain));
  LaunchContext context = launch_context(resolved, control);
  AMBER_TRY_ASSIGN(DesktopLaunch desktop, prepare_desktop(resolved, context));
  // The port is in the live XML once the VM runs; until then it is pending.
  struct PortRelease {
    ManagerImpl* manager;
    int64_t port;
    ~PortRelease() { manager->release_vnc_port(port); }
  } port_release{this, desktop.vnc_port};
  AMBER_TRY_ASSIGN(LaunchPlan plan, plan_launch(resolved, context));
  // amber-vmm inherits the taps first, then the disks' secrets.
  AMBER_TRY_ASSIGN(std::vector<UniqueFd> secret_fds,
                   attach_disk_secrets(resolved, plan,
                                       kFirstInheritedFd + static_cast<int>(desktop.taps.size())));
  AMBER_TRY_ASSIGN(auto args, vmmctl::to_argv(plan.settings));
  AMBER_TRY(remove_file(control));
  SpawnRequest spawn{
      vmm_binary_, args, store_.log_path(domain.name), store_.exit_path(domain.name), {}};
  for (const UniqueFd& fd : desktop.taps) spawn.inherit_fds.push_back(fd.get());
  for (const UniqueFd& fd : secret_fds) spawn.inherit_fds.push_back(fd.get());
  auto spawned = spawn_vmm(spawn);
  secret_fds.clear();  // amber-vmm has its copies (and reads them at once)
  desktop.taps.clear();
  AMBER_TRY_ASSIGN(Process process, std::move(spawned));
  const auto kill_it = [&](Process& p) {
    send_signal(p.pidfd.get(), SIGKILL);
    wait_exit(p.pidfd.get(), kKillTimeout);
    reap_keeper(p.keeper, kMarkerTimeout);
  };
  if (auto up = wait_for_socket(control, process.pidfd.get(), store_.log_path(domain.name),
                                kSocketTimeout);
      !up.ok()) {
    kill_it(process);
    return up;
  }
  auto vm = std::make_shared<RunningVm>();
  vm->process = std::move(process);
  vm->control = control;
  vm->live = resolved;
  resolve_backing_chains(vm->live);
  vm->disk_index = plan.disk_index;
  {
    std::lock_guard lock(mutex_);
    vm->id = next_id_++;
    vm->live.id = vm->id;
    entry->vm = vm;
    entry->state = VIR_DOMAIN_RUNNING;
    entry->reason = VIR_DOMAIN_RUNNING_BOOTED;
    // At once: a daemon that dies from here on finds the VM again.
    save_status(*entry);
  }
  auto fail = [&](Error error) -> Result<void> {
    vm->stopping = true;
    kill_it(vm->process);
    std::lock_guard lock(mutex_);
    if (entry->vm == vm) finish_stopped(entry, VIR_DOMAIN_SHUTOFF_FAILED);
    return std::move(error).with_context("starting domain '" + domain.name + "'");
  };
  if (auto monitored = start_monitor(entry, vm); !monitored.ok())
    return fail(std::move(monitored).error());
  auto chardevs = vm->monitor->call<vmmctl::QueryChardev>();
  if (!chardevs.ok()) return fail(std::move(chardevs).error());
  for (const vmmctl::ChardevInfo& chardev : *chardevs) {
    if (chardev.backend == vmmctl::SerialKind::kPty) vm->pty = chardev.path;
  }
  {
    auto finished = finish_desktop(*vm, desktop, plan.settings);
    if (!finished.ok()) return fail(std::move(finished).error());
  }
  if (flags & VIR_DOMAIN_START_PAUSED) {
    if (auto paused = vm->monitor->call<vmmctl::Pause>(); !paused.ok())
      return fail(std::move(paused).error());
  }
  std::lock_guard lock(mutex_);
  if (entry->vm != vm)
    return Error(ErrorKind::kInternal,
                 "amber-vmm ended while starting: " + log_tail(store_.log_path(domain.name)));
  const DomainRef ref = ref_of(*entry);
  publish(LifecycleEvent{ref, VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_BOOTED});
  if (flags & VIR_DOMAIN_START_PAUSED) {
    entry->state = VIR_DOMAIN_PAUSED;
    entry->reason = VIR_DOMAIN_PAUSED_USER;
    publish(LifecycleEvent{ref, VIR_DOMAIN_EVENT_SUSPENDED, VIR_DOMAIN_EVENT_SUSPENDED_PAUSED});
  }
  save_status(*entry);
  return ok();
}

Result<DomainRef> ManagerImpl::start(const xml::Uuid& uuid, unsigned flags) {
  if ((flags & ~unsigned(VIR_DOMAIN_START_PAUSED | VIR_DOMAIN_START_FORCE_BOOT)) != 0)
    return unsupported_flags("start", flags);
  AMBER_TRY_ASSIGN(auto entry, get(uuid));
  std::lock_guard op(entry->op);
  xml::Domain domain;
  {
    std::lock_guard lock(mutex_);
    if (entry->removed)
      return Error(ErrorKind::kNotFound,
                   "Domain not found: no domain with matching uuid '" + uuid.to_string() + "'");
    if (entry->vm) return Error(ErrorKind::kLocked, "domain is already running");
    if (!entry->config) return Error(ErrorKind::kInternal, "a transient domain without a process");
    domain = *entry->config;
  }
  AMBER_TRY(start_locked(entry, domain, flags));
  std::lock_guard lock(mutex_);
  return ref_of(*entry);
}

Result<DomainRef> ManagerImpl::create_transient(std::string_view text, unsigned flags) {
  if ((flags & ~unsigned(VIR_DOMAIN_START_PAUSED | VIR_DOMAIN_START_VALIDATE)) != 0)
    return unsupported_flags("create", flags);
  AMBER_TRY_ASSIGN(
      xml::Domain domain,
      parse_definition(
          text, (flags & VIR_DOMAIN_START_VALIDATE) ? unsigned(VIR_DOMAIN_DEFINE_VALIDATE) : 0U));
  std::shared_ptr<Entry> entry;
  {
    std::lock_guard lock(mutex_);
    bool created = false;
    AMBER_TRY_ASSIGN(entry, claim(domain, created));
    if (created) {
      by_uuid_[entry->uuid.to_string()] = entry;
      by_name_[entry->name] = entry;
    }
  }
  std::lock_guard op(entry->op);
  {
    std::lock_guard lock(mutex_);
    if (entry->vm)
      return Error(ErrorKind::kLocked, "domain '" + domain.name + "' is already active");
    if (entry->removed)
      return Error(ErrorKind::kLocked, "domain '" + domain.name + "' was removed");
  }
  auto started = start_locked(entry, domain, flags & VIR_DOMAIN_START_PAUSED);
  std::lock_guard lock(mutex_);
  if (!started.ok()) {
    if (!entry->config && !entry->vm) erase(entry);
    return std::move(started).error();
  }
  return ref_of(*entry);
}

Result<void> ManagerImpl::destroy_locked(const std::shared_ptr<Entry>& entry, int reason,
                                         int event_detail, unsigned flags) {
  std::shared_ptr<RunningVm> vm;
  {
    std::lock_guard lock(mutex_);
    if (!entry->vm) return not_running();
    vm = entry->vm;
    vm->stopping = true;
  }
  const int pidfd = vm->process.pidfd.get();
  send_signal(pidfd, SIGTERM);
  if (!wait_exit(pidfd, kTermTimeout)) {
    if (flags & VIR_DOMAIN_DESTROY_GRACEFUL) {
      std::lock_guard lock(mutex_);
      vm->stopping = false;
      return Error(ErrorKind::kInternal, "failed to terminate process " +
                                             std::to_string(vm->process.pid) + " with SIGTERM");
    }
    send_signal(pidfd, SIGKILL);
    if (!wait_exit(pidfd, kKillTimeout))
      return Error(ErrorKind::kInternal,
                   "process " + std::to_string(vm->process.pid) + " survived SIGKILL");
  }
  reap_keeper(vm->process.keeper, kMarkerTimeout);
  std::lock_guard lock(mutex_);
  const DomainRef ref = ref_of(*entry);
  if (entry->vm == vm) finish_stopped(entry, reason);
  publish(LifecycleEvent{ref, VIR_DOMAIN_EVENT_STOPPED, event_detail});
  return ok();
}

Result<void> ManagerImpl::destroy(const xml::Uuid& uuid, unsigned flags) {
  if ((flags & ~unsigned(VIR_DOMAIN_DESTROY_GRACEFUL)) != 0)
    return unsupported_flags("destroy", flags);
  AMBER_TRY_ASSIGN(auto entry, get(uuid));
  std::lock_guard op(entry->op);
  return destroy_locked(entry, VIR_DOMAIN_SHUTOFF_DESTROYED, VIR_DOMAIN_EVENT_STOPPED_DESTROYED,
                        flags);
}

// Like libvirt's QEMU driver: the ACPI power button (flags 0 or
// ACPI_POWER_BTN); the guest agent mode is refused (amber-vmm has no agent
// channel) unless ACPI is also allowed, which is then used; initctl,
// signal and paravirt are flags the driver does not take. The call returns
// once the button is pressed: the guest decides, and its S5 later stops the
// domain (SHUTDOWN guest-shutdown: shut off, reason shutdown).
Result<void> ManagerImpl::shutdown(const xml::Uuid& uuid, unsigned flags) {
  constexpr unsigned kAcpi = VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN;
  constexpr unsigned kAgent = VIR_DOMAIN_SHUTDOWN_GUEST_AGENT;
  if ((flags & ~(kAcpi | kAgent)) != 0) return unsupported_flags("shutdown", flags);
  AMBER_TRY_ASSIGN(auto entry, get(uuid));
  std::lock_guard op(entry->op);
  AMBER_TRY_ASSIGN(auto vm, running(entry));
  if ((flags & kAgent) != 0 && (flags & kAcpi) == 0)
    return Error(ErrorKind::kUnsupported, "guest agent is not configured");
  AMBER_TRY(vm->monitor->call<vmmctl::SystemPowerdown>());
  return ok();
}

Result<void> ManagerImpl::reboot(const xml::Uuid& uuid, unsigned flags) {
  (void)flags;
  AMBER_TRY_ASSIGN(auto entry, get(uuid));
  AMBER_TRY(running(entry));
  return Error(ErrorKind::kUnsupported,
               "a guest reboot needs an ACPI power button, which amber-vmm lacks yet: use reset");
}

Result<void> ManagerImpl::reset(const xml::Uuid& uuid) {
  AMBER_TRY_ASSIGN(auto entry, get(uuid));
  std::lock_guard op(entry->op);
  AMBER_TRY_ASSIGN(auto vm, running(entry));
  AMBER_TRY(vm->monitor->call<vmmctl::SystemReset>());
  return ok();
}

// As libvirt's QEMU driver: every code translated first (nothing is sent
// when one fails), then one send-key with the hold time (0: amber-vmm's
// default, 100 ms, as QEMU's).
Result<void> ManagerImpl::send_key(const xml::Uuid& uuid, unsigned codeset, unsigned holdtime,
                                   const std::vector<unsigned>& keycodes, unsigned flags) {
  if (flags != 0) return unsupported_flags("send-key", flags);
  if (keycodes.empty() || keycodes.size() > vmmctl::kMaxSendKeys)
    return Error(ErrorKind::kInvalidArgument,
                 "nkeycodes must be between 1 and " + std::to_string(vmmctl::kMaxSendKeys));
  vmmctl::SendKeyArguments request;
  for (unsigned code : keycodes) {
    AMBER_TRY_ASSIGN(unsigned key, to_linux_keycode(codeset, code));
    request.keys.push_back(key);
  }
  if (holdtime > vmmctl::kMaxHoldTimeMs)
    return Error(ErrorKind::kInvalidArgument, "holdtime " + std::to_string(holdtime) +
                                                  " ms is longer than " +
                                                  std::to_string(vmmctl::kMaxHoldTimeMs) + " ms");
  request.hold_time_ms = holdtime == 0 ? vmmctl::kDefaultHoldTimeMs : holdtime;
  AMBER_TRY_ASSIGN(auto entry, get(uuid));
  std::lock_guard op(entry->op);
  AMBER_TRY_ASSIGN(auto vm, running(entry));
  AMBER_TRY(vm->monitor->call<vmmctl::SendKey>(request));
  return ok();
}

Result<void> ManagerImpl::suspend(const xml::Uuid& uuid) {
  AMBER_TRY_ASSIGN(auto entry, get(uuid));
  std::lock_guard op(entry->op);
  AMBER_TRY_ASSIGN(auto vm, running(entry));
  {
    std::lock_guard lock(mutex_);
    if (entry->state == VIR_DOMAIN_PAUSED) return ok();
  }
  AMBER_TRY(vm->monitor->call<vmmctl::Pause>());
  std::lock_guard lock(mutex_);
  if (entry->vm != vm) return not_running();
  entry->state = VIR_DOMAIN_PAUSED;
  entry->reason = VIR_DOMAIN_PAUSED_USER;
  save_status(*entry);
  publish(LifecycleEvent{ref_of(*entry), VIR_DOMAIN_EVENT_SUSPENDED,
                         VIR_DOMAIN_EVENT_SUSPENDED_PAUSED});
  return ok();
}

Result<void> ManagerImpl::resume(const xml::Uuid& uuid) {
  AMBER_TRY_ASSIGN(auto entry, get(uuid));
  std::lock_guard op(entry->op);
  AMBER_TRY_ASSIGN(auto vm, running(entry));
  {
    std::lock_guard lock(mutex_);
    if (entry->state != VIR_DOMAIN_PAUSED) return Error(ErrorKind::kLocked, "domain is not paused");
    if (entry->reason == VIR_DOMAIN_PAUSED_CRASHED)
      return Error(ErrorKind::kLocked, "resuming after a crash is not supported");
  }
  AMBER_TRY(vm->monitor->call<vmmctl::Resume>());
  std::lock_guard lock(mutex_);
  if (entry->vm != vm) return not_running();
  entry->state = VIR_DOMAIN_RUNNING;
  entry->reason = VIR_DOMAIN_RUNNING_UNPAUSED;
  entry->disk_errors.clear();
  save_status(*entry);
  publish(
      LifecycleEvent{ref_of(*entry), VIR_DOMAIN_EVENT_RESUMED, VIR_DOMAIN_EVENT_RESUMED_UNPAUSED});
  return ok();
}

}  // namespace amber::driver::vm
