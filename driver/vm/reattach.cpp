// SPDX-License-Identifier: GPL-2.0-or-later
// Re-attaching to VMs left running by an earlier manager, and autostart.
#include <libvirt/libvirt.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

#include "driver/vm/manager_impl.h"

namespace amber::driver::vm {

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
    auto plan = plan_launch(live, reattach_context(live, status->control));
    if (plan.ok()) {
      vm->disk_index = plan->disk_index;
    } else {
      for (size_t i = 0; i < live.devices.disks.size(); ++i) vm->disk_index.push_back(i);
    }
    auto monitored = start_monitor(entry, vm);
    if (monitored.ok()) {
      // The raw status name: "io-error" (paused on a disk error) is newer
      // than vmmctl's RunState.
      auto reply = vm->monitor->execute("query-status");
      const vmmctl::Json* member = reply.ok() ? vmmctl::find_member(*reply, "status") : nullptr;
      if (member != nullptr && member->is_string()) {
        const std::string run_state = member->get<std::string>();
        std::lock_guard lock(mutex_);
        entry->vm = vm;
        if (run_state == "running") {
          entry->state = VIR_DOMAIN_RUNNING;
          entry->reason =
              status->state == VIR_DOMAIN_RUNNING ? status->reason : VIR_DOMAIN_RUNNING_UNPAUSED;
        } else if (run_state == "io-error") {
          entry->state = VIR_DOMAIN_PAUSED;
          entry->reason = VIR_DOMAIN_PAUSED_IOERROR;
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
