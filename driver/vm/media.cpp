// SPDX-License-Identifier: GPL-2.0-or-later
// Media changes of a domain's IDE CD-ROMs (virsh change-media, update-device,
// attach-disk --type cdrom onto an existing target): the device XML names a
// cdrom by its target dev; a new <source> is amber-vmm's
// blockdev-change-medium, none is its eject, as libvirt's qemu driver does
// (qemuDomainChangeEjectableMedia). Every other device change is refused.
//
// Thread-safety: ManagerImpl's rules (define_mutex_, the entry's op, then
// mutex_ for the maps; the monitor is called without mutex_).
#include <libvirt/libvirt.h>

#include "driver/vm/manager_impl.h"
#include "vmmctl/commands.h"

namespace amber::driver::vm {
namespace {

constexpr unsigned kUpdateFlags =
    VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG | VIR_DOMAIN_DEVICE_MODIFY_FORCE;

Error refused() {
  return Error(ErrorKind::kUnsupported,
               "amber-vmm cannot attach or update devices of a domain yet");
}

Error no_target(const std::string& dev) {
  return Error(ErrorKind::kInvalidArgument, "target " + dev + " doesn't exist.");
}

// The CD-ROM of DOMAIN with NEW's target, checked.
Result<xml::Disk*> find_cdrom(xml::Domain& domain, const xml::Disk& wanted) {
  for (xml::Disk& disk : domain.devices.disks) {
    if (disk.target_dev != wanted.target_dev) continue;
    if (disk.device != xml::DiskDevice::kCdrom || disk.bus != xml::DiskBus::kIde ||
        wanted.bus != xml::DiskBus::kIde)
      return refused();
    return &disk;
  }
  return no_target(wanted.target_dev);
}

void set_medium(xml::Disk& disk, const xml::Disk& wanted) {
  disk.type = wanted.type;
  disk.source = wanted.source && !wanted.source->empty() ? wanted.source : std::nullopt;
  if (wanted.format) disk.format = wanted.format;
  disk.source_index.reset();
  disk.backing.clear();
  disk.backing_terminated = false;
}

bool same_source(const xml::Disk& a, const xml::Disk& b) {
  const std::string left = a.source.value_or(""), right = b.source.value_or("");
  return left == right;
}

Error monitor_error(const char* command, const Error& error) {
  std::string message = error.message();
  // "eject: GenericError: Device ..." -> the description.
  const std::string prefix = std::string(command) + ": GenericError: ";
  if (message.starts_with(prefix)) message = message.substr(prefix.size());
  return Error(ErrorKind::kInternal,
               "unable to execute amber-vmm command '" + std::string(command) + "': " + message);
}

}  // namespace

Result<void> ManagerImpl::change_media(const xml::Uuid& uuid, std::string_view device_xml,
                                       unsigned flags, bool attach) {
  if ((flags & ~kUpdateFlags) != 0)
    return unsupported_flags(attach ? "attach_device" : "update_device", flags);
  auto parsed = xml::parse_disk_device(device_xml);
  if (!parsed.ok()) {
    if (device_xml.find("<disk") == std::string_view::npos) return refused();
    return std::move(parsed).error();
  }
  const xml::Disk wanted = std::move(parsed).value();
  if (wanted.device != xml::DiskDevice::kCdrom) return refused();
  const bool force = (flags & VIR_DOMAIN_DEVICE_MODIFY_FORCE) != 0;

  std::lock_guard define_lock(define_mutex_);
  AMBER_TRY_ASSIGN(auto entry, get(uuid));
  std::lock_guard op(entry->op);
  std::shared_ptr<RunningVm> vm;
  std::optional<xml::Domain> config;
  xml::Disk current;
  bool live = false;
  {
    std::lock_guard lock(mutex_);
    const bool running = entry->vm && !entry->vm->stopping;
    live = (flags & VIR_DOMAIN_AFFECT_LIVE) != 0;
    bool persistent = (flags & VIR_DOMAIN_AFFECT_CONFIG) != 0;
    if (!live && !persistent) {
      live = running;
      persistent = !running;
    }
    if (live && !running) return Error(ErrorKind::kLocked, "domain is not running");
    if (persistent && !entry->config)
      return Error(ErrorKind::kLocked, "transient domains do not have any persistent config");
    // attach-device only changes a medium that is there (libvirt: cdrom
    // hotplug is not supported; a persistent attach would add a device).
    if (attach && persistent) return refused();
    if (live) {
      vm = entry->vm;
      auto disk = find_cdrom(vm->live, wanted);
      // Attaching a new cdrom would be hotplug (libvirt refuses it too).
      if (!disk.ok()) return attach ? refused() : std::move(disk).error();
      current = **disk;
    }
    if (persistent) {
      config = *entry->config;
      AMBER_TRY_ASSIGN(xml::Disk * disk, find_cdrom(*config, wanted));
      set_medium(*disk, wanted);
      auto again = xml::parse_domain(
          xml::format_domain(*config, xml::FormatFlags::kInactive | xml::FormatFlags::kSecure));
      if (!again.ok())
        return Error(ErrorKind::kInvalidArgument,
                     "the definition would not read back: " + again.error().message());
    }
  }
  if (live) {
    const xml::DriveAddress address = current.drive_address.value_or(xml::DriveAddress{});
    const std::string id =
        "ide0-" + std::to_string(address.bus) + "-" + std::to_string(address.unit);
    const bool eject = !wanted.source || wanted.source->empty();
    if (eject) {
      if (current.source) {
        auto done = vm->monitor->call<vmmctl::Eject>({id, force});
        if (!done.ok()) return monitor_error("eject", done.error());
      }
    } else if (!same_source(current, wanted) || force) {
      if (force && current.source) {
        auto done = vm->monitor->call<vmmctl::Eject>({id, true});
        if (!done.ok()) return monitor_error("eject", done.error());
      }
      vmmctl::ChangeMediumRequest request;
      request.id = id;
      request.filename = *wanted.source;
      request.format = wanted.format.value_or(current.format.value_or("raw"));
      request.read_only_mode = "read-only";
      auto done = vm->monitor->call<vmmctl::BlockdevChangeMedium>(request);
      if (!done.ok()) return monitor_error("blockdev-change-medium", done.error());
    }
    std::lock_guard lock(mutex_);
    if (entry->vm == vm) {
      auto disk = find_cdrom(vm->live, wanted);
      if (disk.ok()) {
        set_medium(**disk, wanted);
        if (!(*disk)->format) (*disk)->format = current.format;
      }
      save_status(*entry);
    }
  }
  if (!config) return ok();
  AMBER_TRY(store_.save_config(
      config->name,
      xml::format_domain(*config, xml::FormatFlags::kInactive | xml::FormatFlags::kSecure)));
  std::lock_guard lock(mutex_);
  entry->config = std::move(config);
  return ok();
}

Result<void> ManagerImpl::update_device(const xml::Uuid& uuid, std::string_view device_xml,
                                        unsigned flags) {
  return change_media(uuid, device_xml, flags, false);
}

Result<void> ManagerImpl::attach_device(const xml::Uuid& uuid, std::string_view device_xml,
                                        unsigned flags) {
  return change_media(uuid, device_xml, flags, true);
}

}  // namespace amber::driver::vm
