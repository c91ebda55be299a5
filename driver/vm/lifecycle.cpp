// SPDX-License-Identifier: GPL-2.0-or-later
// Starting and stopping amber-vmm processes, their events, re-attaching.
#include <libvirt/libvirt.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "driver/vm/manager_impl.h"

namespace amber::driver::vm {

namespace {

// amber-vmm builds the VM (RAM, vCPUs, disks) before it listens; on this
// software KVM that takes a few seconds at most.
constexpr std::chrono::milliseconds kSocketTimeout{30000};
// SIGTERM is a clean quit in amber-vmm; a VMM that ignores it this long
// is killed (unless VIR_DOMAIN_DESTROY_GRACEFUL).
constexpr std::chrono::milliseconds kTermTimeout{10000};
constexpr std::chrono::milliseconds kKillTimeout{5000};
// The keeper writes the exit marker right after amber-vmm ends.
constexpr std::chrono::milliseconds kMarkerTimeout{2000};

Error not_running() {
  return Error(ErrorKind::kLocked, "domain is not running");
}

bool send_signal(int pidfd, int signal_number) {
  return ::syscall(SYS_pidfd_send_signal, pidfd, signal_number, nullptr, 0U) == 0;
}

bool wait_exit(int pidfd, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!has_exited(pidfd)) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
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
  status.domain_xml = xml::format_domain(live_view(entry));
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
  if (entry->console) {
    auto revoked = std::move(entry->console->on_revoked);
    entry->console.reset();
    if (revoked) post(std::move(revoked));
  }
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

Result<void> ManagerImpl::start_locked(const std::shared_ptr<Entry>& entry,
                                       const xml::Domain& domain, unsigned flags) {
  if (vmm_binary_.empty())
    return Error(ErrorKind::kInternal, "amber-vmm was not found; the daemon cannot start domains");
  const std::string control = options_.run_dir + "/" + domain.uuid.to_string() + ".sock";
  AMBER_TRY_ASSIGN(LaunchPlan plan, plan_launch(domain, launch_context(domain, control)));
  AMBER_TRY_ASSIGN(auto args, vmmctl::to_argv(plan.settings));
  AMBER_TRY(remove_file(control));
  AMBER_TRY_ASSIGN(Process process, spawn_vmm({vmm_binary_, args, store_.log_path(domain.name),
                                               store_.exit_path(domain.name)}));
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
  vm->live = domain;
  resolve_backing_chains(vm->live);
  vm->disk_index = plan.disk_index;
  {
    std::lock_guard lock(mutex_);
    vm->id = next_id_++;
    vm->live.id = vm->id;
    entry->vm = vm;
    entry->state = VIR_DOMAIN_RUNNING;
    entry->reason = VIR_DOMAIN_RUNNING_BOOTED;
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

Result<void> ManagerImpl::shutdown(const xml::Uuid& uuid, unsigned flags) {
  if ((flags & ~unsigned(VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN)) != 0)
    return unsupported_flags("shutdown", flags);
  AMBER_TRY_ASSIGN(auto entry, get(uuid));
  std::lock_guard op(entry->op);
  AMBER_TRY_ASSIGN(auto vm, running(entry));
  auto done = vm->monitor->call<vmmctl::SystemPowerdown>();
  if (!done.ok() && done.error().kind() == ErrorKind::kUnsupported)
    return Error(ErrorKind::kUnsupported, "amber-vmm has no ACPI power button yet: use destroy");
  if (!done.ok()) return std::move(done).error();
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

// --- what the monitor reports ---

void ManagerImpl::restart_later(const std::shared_ptr<Entry>& entry) {
  std::weak_ptr<Entry> weak = entry;
  post([this, weak] {
    auto target = weak.lock();
    if (!target) return;
    {
      std::lock_guard lock(worker_mutex_);
      if (stopping_) return;
    }
    std::lock_guard op(target->op);
    xml::Domain domain;
    {
      std::lock_guard lock(mutex_);
      if (target->vm || target->removed || !target->config) return;
      domain = *target->config;
    }
    if (auto started = start_locked(target, domain, 0); !started.ok())
      std::fprintf(stderr, "virtamberd: %s: restart failed: %s\n", domain.name.c_str(),
                   started.error().message().c_str());
  });
}

void ManagerImpl::on_vm_exit(const std::weak_ptr<Entry>& weak, RunningVm* vm) {
  reap_keeper(vm->process.keeper, kMarkerTimeout);
  auto entry = weak.lock();
  if (!entry) return;
  std::optional<ExitRecord> record;
  if (!vm->shutdown) {
    const auto deadline = std::chrono::steady_clock::now() + kMarkerTimeout;
    while (!(record = store_.exit_record(entry->name)) &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::lock_guard lock(mutex_);
  if (entry->vm.get() != vm || vm->stopping) return;
  bool clean = false;
  if (vm->shutdown) {
    clean = *vm->shutdown != vmmctl::ShutdownReason::kGuestPanic;
  } else {
    clean = record && !record->signaled && record->code == 0 && !vm->crashed;
  }
  const DomainRef ref = ref_of(*entry);
  const xml::Lifecycle lifecycle = vm->live.lifecycle;
  const bool guest_reset = vm->shutdown == vmmctl::ShutdownReason::kGuestReset;
  const bool persistent = entry->config.has_value();
  finish_stopped(entry, clean ? VIR_DOMAIN_SHUTOFF_SHUTDOWN : VIR_DOMAIN_SHUTOFF_CRASHED);
  publish(
      LifecycleEvent{ref, VIR_DOMAIN_EVENT_STOPPED,
                     clean ? VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN : VIR_DOMAIN_EVENT_STOPPED_CRASHED});
  const xml::LifecycleAction action = clean ? lifecycle.on_poweroff : lifecycle.on_crash;
  if (persistent && !guest_reset && action == xml::LifecycleAction::kRestart) restart_later(entry);
}

namespace {

// libvirt's alias index: vda -> 0, vdz -> 25, vdaa -> 26.
std::optional<size_t> target_index(const std::string& dev) {
  if (dev.size() < 3) return std::nullopt;
  size_t index = 0;
  for (size_t i = 2; i < dev.size(); ++i) {
    if (dev[i] < 'a' || dev[i] > 'z' || i > 6) return std::nullopt;  // 5 letters fit size_t
    index = (index + (i == 2 ? 0 : 1)) * 26 + static_cast<size_t>(dev[i] - 'a');
  }
  return index;
}

}  // namespace

std::string disk_alias(const xml::Disk& disk, size_t position) {
  auto index = target_index(disk.target_dev);
  return "virtio-disk" + std::to_string(index.value_or(position));
}

void ManagerImpl::on_vm_event(const std::weak_ptr<Entry>& weak, RunningVm* vm,
                              const vmmctl::Event& event) {
  auto entry = weak.lock();
  if (!entry) return;
  std::lock_guard lock(mutex_);
  if (const auto* shutdown = std::get_if<vmmctl::ShutdownEvent>(&event)) {
    vm->shutdown = shutdown->reason;
    if (entry->vm.get() != vm || vm->stopping) return;
    const bool host = shutdown->reason == vmmctl::ShutdownReason::kHostQuit;
    if (shutdown->reason != vmmctl::ShutdownReason::kGuestPanic)
      publish(
          LifecycleEvent{ref_of(*entry), VIR_DOMAIN_EVENT_SHUTDOWN,
                         host ? VIR_DOMAIN_EVENT_SHUTDOWN_HOST : VIR_DOMAIN_EVENT_SHUTDOWN_GUEST});
    return;
  }
  if (entry->vm.get() != vm || vm->stopping) return;
  const DomainRef ref = ref_of(*entry);
  if (std::holds_alternative<vmmctl::ResetEvent>(event)) {
    publish(RebootEvent{ref});
    return;
  }
  if (std::holds_alternative<vmmctl::DeviceFailedEvent>(event)) {
    // A fatal vCPU exit: amber-vmm paused the VM. Like a QEMU guest panic:
    // crashed/panicked, then on_crash (destroy or restart).
    vm->crashed = true;
    entry->state = VIR_DOMAIN_PAUSED;
    entry->reason = VIR_DOMAIN_PAUSED_CRASHED;
    save_status(*entry);
    publish(LifecycleEvent{ref, VIR_DOMAIN_EVENT_CRASHED, VIR_DOMAIN_EVENT_CRASHED_PANICKED});
    std::weak_ptr<Entry> weak_entry = entry;
    const bool restart = vm->live.lifecycle.on_crash == xml::LifecycleAction::kRestart;
    post([this, weak_entry, vm = entry->vm, restart] {
      auto target = weak_entry.lock();
      if (!target) return;
      {
        std::lock_guard op(target->op);
        {
          std::lock_guard inner(mutex_);
          if (target->vm != vm) return;
        }
        (void)destroy_locked(target, VIR_DOMAIN_SHUTOFF_CRASHED, VIR_DOMAIN_EVENT_STOPPED_CRASHED,
                             0);
      }
      if (restart) restart_later(target);
    });
    return;
  }
  if (const auto* error = std::get_if<vmmctl::BlockIoErrorEvent>(&event)) {
    IoErrorEvent out;
    out.domain = ref;
    out.reason = error->nospace ? "enospc" : "";
    const xml::Disk* disk = nullptr;
    size_t position = 0;
    if (error->device.rfind("disk", 0) == 0) {
      const size_t slot = std::strtoul(error->device.c_str() + 4, nullptr, 10);
      if (slot < vm->disk_index.size()) {
        position = vm->disk_index[slot];
        disk = &vm->live.devices.disks[position];
      }
    }
    if (disk != nullptr) {
      out.src_path = disk->source.value_or("");
      out.dev_alias = disk_alias(*disk, position);
    } else {
      out.dev_alias = error->device;
    }
    if (error->action == "stop") {
      out.action = VIR_DOMAIN_EVENT_IO_ERROR_PAUSE;
    } else if (error->action == "ignore") {
      out.action = VIR_DOMAIN_EVENT_IO_ERROR_NONE;
    } else {
      out.action = VIR_DOMAIN_EVENT_IO_ERROR_REPORT;
    }
    publish(out);
    if (error->action == "stop") {
      const std::string dev = disk != nullptr ? disk->target_dev : error->device;
      bool known = false;
      for (const DiskError& e : entry->disk_errors) known = known || e.disk == dev;
      if (!known)
        entry->disk_errors.push_back(
            {dev, error->nospace ? VIR_DOMAIN_DISK_ERROR_NO_SPACE : VIR_DOMAIN_DISK_ERROR_UNSPEC});
      if (entry->state != VIR_DOMAIN_PAUSED) {
        entry->state = VIR_DOMAIN_PAUSED;
        entry->reason = VIR_DOMAIN_PAUSED_IOERROR;
        publish(
            LifecycleEvent{ref, VIR_DOMAIN_EVENT_SUSPENDED, VIR_DOMAIN_EVENT_SUSPENDED_IOERROR});
      }
      save_status(*entry);
    }
  }
}

// --- re-attach and autostart ---

void ManagerImpl::reattach(const std::string& name) {
  auto status = store_.load_status(name);
  if (!status.ok()) {
    std::fprintf(stderr, "virtamberd: skipping live status of '%s': %s\n", name.c_str(),
                 status.error().message().c_str());
    (void)store_.remove_status(name);
    return;
  }
  auto parsed = xml::parse_domain(status->domain_xml);
  if (!parsed.ok() || parsed->name != name) {
    std::fprintf(stderr, "virtamberd: skipping live status of '%s': %s\n", name.c_str(),
                 parsed.ok() ? "another name inside" : parsed.error().message().c_str());
    (void)store_.remove_status(name);
    return;
  }
  xml::Domain live = std::move(parsed).value();
  std::optional<Process> process;
  const auto pid = static_cast<pid_t>(status->pid);
  if (auto pidfd = open_pidfd(pid);
      pidfd.ok() && !has_exited(pidfd->get()) && is_our_vmm(pid, status->control)) {
    process = Process{pid, 0, std::move(pidfd).value()};
  }
  std::shared_ptr<Entry> entry;
  {
    std::lock_guard lock(mutex_);
    entry = find(live.uuid);
    if (!entry && process) {
      entry = std::make_shared<Entry>();  // a transient domain
      entry->name = name;
      entry->uuid = live.uuid;
      if (by_name_.count(name) == 0) {
        by_uuid_[entry->uuid.to_string()] = entry;
        by_name_[name] = entry;
      }
    }
    next_id_ = std::max(next_id_, status->id + 1);
  }
  auto vm = std::make_shared<RunningVm>();
  bool attached = false;
  if (process && entry) {
    vm->process = std::move(*process);
    vm->id = status->id;
    vm->control = status->control;
    vm->pty = status->pty;
    vm->live = live;
    vm->live.id = status->id;
    // The argv order again (a pure function of the same XML).
    auto plan = plan_launch(live, launch_context(live, status->control));
    if (plan.ok()) {
      vm->disk_index = plan->disk_index;
    } else {
      for (size_t i = 0; i < live.devices.disks.size(); ++i) vm->disk_index.push_back(i);
    }
    auto monitored = start_monitor(entry, vm);
    if (monitored.ok()) {
      auto run_state = vm->monitor->call<vmmctl::QueryStatus>();
      if (run_state.ok()) {
        std::lock_guard lock(mutex_);
        entry->vm = vm;
        if (run_state->status == vmmctl::RunState::kRunning) {
          entry->state = VIR_DOMAIN_RUNNING;
          entry->reason =
              status->state == VIR_DOMAIN_RUNNING ? status->reason : VIR_DOMAIN_RUNNING_UNPAUSED;
        } else {
          entry->state = VIR_DOMAIN_PAUSED;
          entry->reason =
              status->state == VIR_DOMAIN_PAUSED ? status->reason : VIR_DOMAIN_PAUSED_UNKNOWN;
        }
        save_status(*entry);
        attached = true;
      }
    }
    if (!attached) {
      std::fprintf(stderr, "virtamberd: '%s' (pid %d) does not answer on %s: killing it\n",
                   name.c_str(), static_cast<int>(pid), status->control.c_str());
      vm->stopping = true;
      send_signal(vm->process.pidfd.get(), SIGKILL);
      wait_exit(vm->process.pidfd.get(), kKillTimeout);
      vm->monitor.reset();
    }
  }
  if (attached) return;
  // It ended while the daemon was away: the keeper's marker says how.
  const auto record = store_.exit_record(name);
  const bool clean = record && !record->signaled && record->code == 0;
  std::lock_guard lock(mutex_);
  if (entry) {
    entry->state = VIR_DOMAIN_SHUTOFF;
    entry->reason = clean ? VIR_DOMAIN_SHUTOFF_SHUTDOWN : VIR_DOMAIN_SHUTOFF_CRASHED;
    if (!entry->config) erase(entry);
  }
  (void)store_.remove_status(name);
}

void ManagerImpl::start_autostart() {
  std::vector<xml::Uuid> wanted;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [uuid, entry] : by_uuid_)
      if (entry->autostart && entry->config && !entry->vm) wanted.push_back(entry->uuid);
  }
  for (const xml::Uuid& uuid : wanted) {
    if (auto started = start(uuid, 0); !started.ok())
      std::fprintf(stderr, "virtamberd: autostart of %s failed: %s\n", uuid.to_string().c_str(),
                   started.error().message().c_str());
  }
}

}  // namespace amber::driver::vm
