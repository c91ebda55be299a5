// SPDX-License-Identifier: GPL-2.0-or-later
// What a running VM's monitor reports: events, process exit, restarts.
#include <libvirt/libvirt.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

#include "driver/vm/manager_impl.h"

namespace amber::driver::vm {

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
  if (disk.drive_address && disk.bus == xml::DiskBus::kScsi) {
    const xml::DriveAddress& a = *disk.drive_address;  // libvirt's scsiC-B-T-U
    return "scsi" + std::to_string(a.controller) + "-" + std::to_string(a.bus) + "-" +
           std::to_string(a.target) + "-" + std::to_string(a.unit);
  }
  if (disk.drive_address) {
    const xml::DriveAddress& a = *disk.drive_address;
    return "ide" + std::to_string(a.controller) + "-" + std::to_string(a.bus) + "-" +
           std::to_string(a.unit);
  }
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
    } else if (error->device.rfind("ide0-", 0) == 0 || error->device.rfind("scsi0-", 0) == 0) {
      // An IDE or SCSI disk: amber-vmm uses libvirt's alias (ide0-B-U, scsi0-0-T-L).
      for (size_t i = 0; i < vm->live.devices.disks.size() && disk == nullptr; ++i) {
        const xml::Disk& d = vm->live.devices.disks[i];
        if (d.bus != xml::DiskBus::kVirtio && disk_alias(d, i) == error->device) {
          disk = &d;
          position = i;
        }
      }
    } else if (error->device.rfind("ide", 0) == 0 && error->device.size() == 4) {
      // An older amber-vmm names the IDE channel (ide0, ide1): the drive
      // is known only when the channel has one writable disk.
      const uint64_t bus = static_cast<uint64_t>(error->device[3] - '0');
      const xml::Disk* only = nullptr;
      size_t count = 0;
      for (size_t i = 0; i < vm->live.devices.disks.size(); ++i) {
        const xml::Disk& d = vm->live.devices.disks[i];
        if (d.drive_address && d.drive_address->bus == bus && !d.readonly) {
          only = &d;
          position = i;
          ++count;
        }
      }
      if (count == 1) disk = only;
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

}  // namespace amber::driver::vm
