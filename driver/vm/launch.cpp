// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/vm/launch.h"

#include <algorithm>
#include <utility>

#include "driver/vm/pci_addresses.h"

namespace amber::driver::vm {
namespace {

std::string quoted(const std::string& value) {
  return "'" + value + "'";
}

// amber-vmm maps RAM in whole MiB and backs it with 2 MiB hugepages only.
constexpr uint64_t kHugePageKib = 2048;

Result<void> plan_memory(const xml::Domain& domain, vmmctl::LaunchSettings& settings) {
  const xml::MemoryConfig& memory = domain.memory;
  if (memory.memory_kib > vmmctl::kMaxMemory / 1024)
    return refuse("/domain/memory", "more than amber-vmm's 1 TiB limit");
  const uint64_t bytes = memory.memory_kib * 1024;
  if (bytes % vmmctl::kMemoryGranule != 0)
    return refuse("/domain/memory", "guest RAM must be a whole number of MiB");
  if (bytes < vmmctl::kMinMemory)
    return refuse("/domain/memory", "guest RAM below 16 MiB does not fit SeaBIOS");
  if (memory.current_memory_kib != 0 && memory.current_memory_kib != memory.memory_kib)
    return refuse("/domain/currentMemory", "there is no balloon: currentMemory must equal memory");
  settings.memory = bytes;
  for (const xml::HugePage& page : memory.pages) {
    if (page.size_kib != kHugePageKib)
      return refuse(
          "/domain/memoryBacking/hugepages/page/@size='" + std::to_string(page.size_kib) + "'",
          "only 2048 KiB hugepages are supported");
  }
  if (memory.hugepages) settings.hugepages = vmmctl::Hugepages::kOn;
  return ok();
}

Result<void> plan_cpus(const xml::Domain& domain, vmmctl::LaunchSettings& settings) {
  const xml::CpuConfig& cpu = domain.cpu;
  if (cpu.vcpus == 0 || cpu.vcpus > vmmctl::kMaxCpus)
    return refuse("/domain/vcpu", "amber-vmm runs 1 to 64 vCPUs");
  if (cpu.current_vcpus && *cpu.current_vcpus != cpu.vcpus)
    return refuse("/domain/vcpu/@current", "vCPU hotplug is not supported");
  if (cpu.placement == xml::VcpuPlacement::kAuto)
    return refuse("/domain/vcpu/@placement='auto'", "automatic NUMA placement is not supported");
  if (cpu.iothreads)
    return refuse("/domain/iothreads", "amber-vmm runs one iothread per disk queue by itself");
  if (cpu.mode == xml::CpuMode::kHostModel)
    return refuse("/domain/cpu/@mode='host-model'",
                  "amber-vmm shows the guest the host CPU: use host-passthrough");
  if (!cpu.disabled_features.empty())
    return refuse("/domain/cpu/feature[@name='" + cpu.disabled_features.front().name + "']",
                  "CPU features cannot be disabled yet");
  // amber-vmm's CPUID: one package, one die, one thread per core.
  const auto is = [](const std::optional<uint64_t>& value, uint64_t want) {
    return !value || *value == want;
  };
  if (!is(cpu.sockets, 1) || !is(cpu.dies, 1) || !is(cpu.threads, 1) || !is(cpu.cores, cpu.vcpus))
    return refuse("/domain/cpu/topology",
                  "amber-vmm shows one socket with one core per vCPU and one thread per core");
  settings.cpus = static_cast<unsigned>(cpu.vcpus);
  return ok();
}

Result<void> plan_os(const xml::Domain& domain, const LaunchContext& context,
                     vmmctl::LaunchSettings& settings) {
  const xml::OsConfig& os = domain.os;
  if (os.bootmenu.value_or(false))
    return refuse("/domain/os/bootmenu/@enable='yes'", "the boot menu is not supported");
  if (os.bootmenu_timeout_ms)
    return refuse("/domain/os/bootmenu/@timeout", "the boot menu is not supported");
  if (os.loader_readonly && !*os.loader_readonly)
    return refuse("/domain/os/loader/@readonly='no'", "the BIOS ROM is always read-only");
  settings.machine = os.machine;
  settings.uuid = domain.uuid.to_string();  // SMBIOS type 1, as libvirt passes -uuid
  AMBER_TRY(plan_smbios(domain, settings.smbios));
  if (os.kernel) {
    if (os.loader) return refuse("/domain/os/loader", "a <loader> cannot be used with <kernel>");
    settings.kernel = *os.kernel;
    settings.initrd = os.initrd.value_or("");
    settings.cmdline = os.cmdline.value_or("");
  } else {
    if (os.initrd) return refuse("/domain/os/initrd", "an initrd needs a <kernel>");
    if (os.cmdline) return refuse("/domain/os/cmdline", "a command line needs a <kernel>");
    settings.firmware = os.loader.value_or(context.default_firmware);
  }
  return ok();
}

// <features><hyperv> as libvirt's QEMU driver maps it onto -cpu hv-*:
// amber-vmm refuses at start what the host's KVM does not implement.
Result<void> plan_hyperv(const xml::Features& features, vmmctl::HyperVSettings& hyperv) {
  using vmmctl::HyperVFeature;
  const std::string base = "/domain/features/hyperv";
  if (features.hyperv_mode == "passthrough")
    return refuse(base + "/@mode='passthrough'",
                  "host pass-through of Hyper-V features is not supported (name them in "
                  "mode='custom')");
  if (features.relaxed.value_or(false)) hyperv.add(HyperVFeature::kRelaxed);
  if (features.spinlocks.value_or(false)) {
    if (!features.spinlock_retries)
      return refuse(base + "/spinlocks/@retries", "missing Hyper-V spinlock retry count");
    if (*features.spinlock_retries < vmmctl::kMinSpinlockRetries ||
        *features.spinlock_retries > 0xFFFFFFFFu)
      return refuse(
          base + "/spinlocks/@retries='" + std::to_string(*features.spinlock_retries) + "'",
          "the Hyper-V spinlock retry count must be at least 4095");
    hyperv.add(HyperVFeature::kSpinlocks);
    hyperv.spinlock_retries = static_cast<uint32_t>(*features.spinlock_retries);
  }
  for (const xml::HyperVFeature& feature : features.hyperv_other) {
    if (!feature.on) continue;
    const std::string path = base + "/" + feature.name + "/@state='on'";
    if (feature.name == "vendor_id") {
      if (!feature.value || feature.value->empty() ||
          feature.value->size() > vmmctl::kMaxHyperVVendorId)
        return refuse(base + "/vendor_id/@value",
                      "the Hyper-V vendor_id value is 1 to 12 characters");
      hyperv.vendor_id = *feature.value;
      continue;
    }
    // "time" is the hypervclock timer's, not a <hyperv> child.
    const std::optional<HyperVFeature> f = vmmctl::hyperv_feature(feature.name);
    if (!f || *f == HyperVFeature::kTime)
      return refuse(path, "the Hyper-V enlightenment '" + feature.name + "' is not supported");
    hyperv.add(*f);
  }
  return ok();
}

Result<void> plan_platform(const xml::Domain& domain, vmmctl::LaunchSettings& settings) {
  const xml::Features& features = domain.features;
  // A domain without <acpi/> asks for a machine without ACPI (QEMU's
  // -no-acpi): amber-vmm then hands SeaBIOS no ACPI tables, as QEMU does
  // (SeaBIOS builds its own). <apic/> is the default.
  settings.acpi = features.acpi;
  if (features.hyperv) AMBER_TRY(plan_hyperv(features, settings.hyperv));
  settings.rtc_localtime = domain.clock.offset == xml::ClockOffset::kLocaltime;
  // Timers as libvirt's QEMU driver maps them (-rtc driftfix=,
  // kvm-pit.lost_tick_policy=, -machine hpet=), refusing what it refuses.
  for (const xml::Timer& timer : domain.clock.timers) {
    const std::string path = "/domain/clock/timer[@name='" + timer.name + "']";
    const std::optional<std::string>& tick = timer.tickpolicy;
    const bool present = timer.present.value_or(true);
    if (timer.name == "rtc" || timer.name == "pit") {
      if (!present)
        return refuse(path + "/@present='no'", "the PC platform always has an RTC and a PIT");
      if (timer.name == "rtc") {
        if (tick && *tick != "delay" && *tick != "catchup")
          return refuse(path + "/@tickpolicy=" + quoted(*tick),
                        "the RTC's tick policy is delay or catchup");
        settings.rtc_catchup = tick == "catchup";
      } else {
        if (tick && *tick != "delay" && *tick != "discard")
          return refuse(path + "/@tickpolicy=" + quoted(*tick),
                        "the PIT's tick policy is delay or discard");
        settings.pit_discard = tick == "discard";
      }
    } else if (timer.name == "hpet") {
      if (tick)
        return refuse(path + "/@tickpolicy=" + quoted(*tick),
                      "the HPET has no tick policy (its periodic timers skip the periods "
                      "they missed)");
      settings.hpet = present;
    } else if (present) {  // hypervclock, kvmclock, tsc
      if (timer.name == "hypervclock") {
        // QEMU's hv-time: the reference counter and TSC page (checked
        // against the host's KVM by amber-vmm at start).
        settings.hyperv.add(vmmctl::HyperVFeature::kTime);
        continue;
      }
      return refuse(path, "amber-vmm has no " + timer.name + " clock to offer");
    }
  }
  return ok();
}

Result<void> plan_lifecycle(const xml::Domain& domain, vmmctl::LaunchSettings& settings) {
  // on_poweroff and on_crash are the daemon's to honour (it restarts the
  // domain when the process ends); on_reboot='destroy' needs amber-vmm to
  // end instead of resetting.
  settings.on_reboot = domain.lifecycle.on_reboot == xml::LifecycleAction::kDestroy
                           ? vmmctl::RebootAction::kExit
                           : vmmctl::RebootAction::kReset;
  return ok();
}

// The <driver> type and cache of a disk, as every bus maps them. libvirt
// never probes a format (a guest could write a qcow2 header into a raw
// disk): absent means raw.
Result<void> plan_format_and_cache(const xml::Disk& disk, const std::string& path,
                                   std::optional<block::ImageFormat>& format,
                                   block::io::CacheMode& cache) {
  const std::string name = disk.format.value_or("raw");
  auto parsed_format = block::parse_format(name);
  if (!parsed_format.ok())
    return refuse(path + "/driver/@type=" + quoted(name), "only qcow2 and raw are supported");
  format = *parsed_format;
  if (disk.cache) {
    auto parsed_cache = block::io::parse_cache_mode(*disk.cache);
    if (!parsed_cache.ok())
      return refuse(path + "/driver/@cache=" + quoted(*disk.cache), "unknown cache mode");
    cache = *parsed_cache;
  }
  return ok();
}

// <driver discard>: unmap or ignore on every bus that can discard.
Result<void> plan_discard(const xml::Disk& disk, const std::string& path,
                          block::DiscardMode& discard) {
  if (!disk.discard) return ok();
  if (*disk.discard == "unmap")
    discard = block::DiscardMode::kUnmap;
  else if (*disk.discard != "ignore")
    return refuse(path + "/driver/@discard=" + quoted(*disk.discard), "unknown discard mode");
  return ok();
}

// <serial>, at most 20 characters on every bus (WHAT names the field).
Result<void> plan_serial(const xml::Disk& disk, const std::string& path, const char* what,
                         std::string& serial) {
  if (!disk.serial) return ok();
  if (disk.serial->size() > vmmctl::kMaxDiskSerial)
    return refuse(path + "/serial", std::string(what) + " has at most 20 characters");
  serial = *disk.serial;
  return ok();
}

// libvirt's error_policy / rerror_policy become werror= / rerror= as
// libvirt's QEMU driver writes them: "enospace" is QEMU's "enospc" (for
// writes only), and without rerror_policy reads follow error_policy
// (except for enospace). Absent: amber-vmm's defaults, enospc / report.
// The same for virtio-blk, IDE and SCSI disks.
Result<void> plan_error_policy(const xml::Disk& disk, const std::string& path,
                               vmmctl::DiskErrorPolicy& write_error,
                               vmmctl::DiskErrorPolicy& read_error) {
  if (disk.error_policy) {
    const std::string& name = *disk.error_policy;
    auto policy = vmmctl::parse_write_error_policy(name == "enospace" ? "enospc" : name);
    if (!policy.ok() || name == "enospc")
      return refuse(path + "/driver/@error_policy=" + quoted(name), "unknown error policy");
    write_error = *policy;
    if (*policy != vmmctl::DiskErrorPolicy::kEnospc) read_error = *policy;
  }
  if (disk.rerror_policy) {
    auto policy = vmmctl::parse_read_error_policy(*disk.rerror_policy);
    if (!policy.ok())
      return refuse(path + "/driver/@rerror_policy=" + quoted(*disk.rerror_policy),
                    "unknown read error policy");
    read_error = *policy;
  }
  return ok();
}

Result<vmmctl::DiskSettings> plan_disk(const xml::Disk& disk, const std::string& path) {
  vmmctl::DiskSettings out;
  if (!disk.source || disk.source->empty())
    return refuse(path + "/source", "a disk needs a source file or device");
  out.path = *disk.source;
  AMBER_TRY(plan_format_and_cache(disk, path, out.format, out.cache));
  if (disk.io) {
    auto aio = block::io::parse_aio_backend(*disk.io);
    if (!aio.ok()) return refuse(path + "/driver/@io=" + quoted(*disk.io), "unknown io mode");
    out.aio = *aio;
  }
  AMBER_TRY(plan_discard(disk, path, out.discard));
  if (disk.queues) {
    if (*disk.queues == 0 || *disk.queues > vmmctl::kMaxDiskQueues)
      return refuse(path + "/driver/@queues", "amber-vmm runs 1 to 64 queues per disk");
    out.queues = static_cast<unsigned>(*disk.queues);
  }
  if (disk.iothread)
    return refuse(path + "/driver/@iothread", "disks cannot be bound to an <iothread> yet");
  AMBER_TRY(plan_error_policy(disk, path, out.write_error, out.read_error));
  AMBER_TRY(plan_serial(disk, path, "a virtio-blk serial", out.serial));
  out.access = disk.readonly ? vmmctl::DiskAccess::kReadOnly : vmmctl::DiskAccess::kReadWrite;
  return out;
}

// An IDE drive: amber-vmm's --ide takes a path, format, cache, readonly,
// serial and the error policies; what else the XML asks of the disk is
// refused.
Result<vmmctl::IdeDriveSettings> plan_ide(const xml::Disk& disk, const std::string& path) {
  vmmctl::IdeDriveSettings out;
  const xml::DriveAddress address = disk.drive_address.value_or(xml::DriveAddress{});
  out.bus = static_cast<unsigned>(address.bus);
  out.unit = static_cast<unsigned>(address.unit);
  out.media =
      disk.device == xml::DiskDevice::kCdrom ? vmmctl::IdeMedia::kCdrom : vmmctl::IdeMedia::kDisk;
  if (disk.source && !disk.source->empty()) {
    out.path = *disk.source;
  } else if (out.media == vmmctl::IdeMedia::kDisk) {
    return refuse(path + "/source", "a disk needs a source file or device");
  }
  AMBER_TRY(plan_format_and_cache(disk, path, out.format, out.cache));
  const char* ide_cannot = "amber-vmm's IDE drives do not take this setting";
  if (disk.io) return refuse(path + "/driver/@io=" + quoted(*disk.io), ide_cannot);
  if (disk.discard) return refuse(path + "/driver/@discard=" + quoted(*disk.discard), ide_cannot);
  if (disk.queues) return refuse(path + "/driver/@queues", ide_cannot);
  if (disk.iothread) return refuse(path + "/driver/@iothread", ide_cannot);
  AMBER_TRY(plan_error_policy(disk, path, out.write_error, out.read_error));
  if (disk.encryption)
    return refuse(path + "/encryption", "encrypted IDE disks are not supported yet");
  AMBER_TRY(plan_serial(disk, path, "amber-vmm's IDE serial", out.serial));
  out.access = disk.readonly || out.media == vmmctl::IdeMedia::kCdrom
                   ? vmmctl::DiskAccess::kReadOnly
                   : vmmctl::DiskAccess::kReadWrite;
  return out;
}

// A disk on the virtio-scsi controller: amber-vmm's --scsi takes a path,
// format, cache, discard, target, LUN, readonly, serial and the error
// policies.
Result<vmmctl::ScsiDiskSettings> plan_scsi(const xml::Disk& disk, const std::string& path) {
  vmmctl::ScsiDiskSettings out;
  if (!disk.source || disk.source->empty())
    return refuse(path + "/source", "a disk needs a source file or device");
  out.path = *disk.source;
  const xml::DriveAddress address = disk.drive_address.value_or(xml::DriveAddress{});
  out.target = static_cast<unsigned>(address.target);
  out.lun = static_cast<unsigned>(address.unit);
  AMBER_TRY(plan_format_and_cache(disk, path, out.format, out.cache));
  AMBER_TRY(plan_discard(disk, path, out.discard));
  const char* scsi_cannot = "amber-vmm's SCSI disks do not take this setting";
  if (disk.io) return refuse(path + "/driver/@io=" + quoted(*disk.io), scsi_cannot);
  if (disk.queues)
    return refuse(path + "/driver/@queues",
                  "queues belong to the SCSI controller (<controller type='scsi'><driver "
                  "queues>), not to a SCSI disk");
  if (disk.iothread) return refuse(path + "/driver/@iothread", scsi_cannot);
  AMBER_TRY(plan_error_policy(disk, path, out.write_error, out.read_error));
  if (disk.encryption)
    return refuse(path + "/encryption", "encrypted SCSI disks are not supported yet");
  AMBER_TRY(plan_serial(disk, path, "a SCSI serial (VPD page 0x80)", out.serial));
  out.access = disk.readonly ? vmmctl::DiskAccess::kReadOnly : vmmctl::DiskAccess::kReadWrite;
  return out;
}

// The rank of an IDE drive under <os><boot dev=...>: the position of its
// class (hd, cdrom) in the list; drives of unlisted classes last.
size_t boot_class_rank(const xml::Domain& domain, const xml::Disk& disk) {
  const xml::BootDevice mine =
      disk.device == xml::DiskDevice::kCdrom ? xml::BootDevice::kCdrom : xml::BootDevice::kHd;
  for (size_t i = 0; i < domain.os.boot.size(); ++i)
    if (domain.os.boot[i] == mine) return i;
  return domain.os.boot.size();
}

// The virtio-scsi controller amber-vmm adds with the first --scsi disk, on
// the XML controller's slot (--scsi-controller addr=), else the first free
// one after the virtio-blk disks.
Result<void> plan_scsi_controller(const xml::Domain& domain, size_t scsi_disks,
                                  vmmctl::LaunchSettings& settings) {
  for (const xml::Controller& controller : domain.devices.controllers) {
    if (controller.type != "scsi") continue;
    const std::string path = "/domain/devices/controller[@type='scsi']";
    if (scsi_disks == 0)
      return refuse(path, "amber-vmm adds the virtio-scsi controller only with a SCSI disk");
    if (controller.queues) {
      if (*controller.queues == 0 || *controller.queues > vmmctl::kMaxScsiQueues)
        return refuse(path + "/driver/@queues",
                      "amber-vmm's virtio-scsi controller runs 1 to 62 request queues");
      settings.scsi_queues = static_cast<unsigned>(*controller.queues);
    }
    AMBER_TRY_ASSIGN(settings.scsi_addr, plan_pci_address(controller.address, path));
  }
  return ok();
}

Result<void> plan_disks(const xml::Domain& domain, LaunchPlan& plan) {
  const std::vector<xml::Disk>& disks = domain.devices.disks;
  std::vector<size_t> virtio, ide, scsi;
  for (size_t i = 0; i < disks.size(); ++i) {
    const xml::DiskBus bus = disks[i].bus;
    (bus == xml::DiskBus::kIde ? ide : bus == xml::DiskBus::kScsi ? scsi : virtio).push_back(i);
  }
  if (virtio.size() > vmmctl::kMaxDisks)
    return refuse("/domain/devices/disk[" + std::to_string(virtio[vmmctl::kMaxDisks] + 1) + "]",
                  "amber-vmm has 16 disk slots");
  if (scsi.size() > vmmctl::kMaxScsiDisks)
    return refuse("/domain/devices/disk[" + std::to_string(scsi[vmmctl::kMaxScsiDisks] + 1) + "]",
                  "amber-vmm's virtio-scsi controller takes 16 disks");
  AMBER_TRY(plan_scsi_controller(domain, scsi.size(), plan.settings));
  bool any_order = false;
  for (const xml::Disk& disk : disks) any_order = any_order || disk.boot_order.has_value();
  if (any_order && !domain.os.boot.empty())
    return refuse("/domain/os/boot",
                  "per-device boot elements cannot be used together with general boot elements");
  for (size_t index = 0; index < disks.size(); ++index) {
    for (size_t other = 0; other < index; ++other) {
      if (disks[other].target_dev == disks[index].target_dev)
        return refuse("/domain/devices/disk[" + std::to_string(index + 1) +
                          "]/target/@dev=" + quoted(disks[index].target_dev),
                      "two disks have the same target");
    }
  }
  // Drives with a boot order first (by order), then the rest as written;
  // under <os><boot dev=...>, by the rank of their class (hd, cdrom).
  const auto rank = [&](size_t index) -> uint64_t {
    if (any_order) return disks[index].boot_order.value_or(UINT64_MAX);
    if (!domain.os.boot.empty()) return boot_class_rank(domain, disks[index]);
    return 0;
  };
  const auto by_rank = [&](size_t a, size_t b) { return rank(a) < rank(b); };
  std::stable_sort(virtio.begin(), virtio.end(), by_rank);
  std::stable_sort(ide.begin(), ide.end(), by_rank);
  std::stable_sort(scsi.begin(), scsi.end(), by_rank);
  // amber-vmm's bootorder lists every IDE drive, then the virtio disks,
  // then the SCSI disks: the XML's order must fit that. An empty CD-ROM
  // drive boots nothing, so where it stands does not matter.
  uint64_t highest = 0;
  const char* before = nullptr;
  for (const auto& [group, name] :
       {std::pair{&ide, "the IDE drives"}, std::pair{&virtio, "the virtio disks"},
        std::pair{&scsi, "the SCSI disks"}}) {
    uint64_t group_highest = highest;
    for (const size_t index : *group) {
      if (disks[index].device == xml::DiskDevice::kCdrom && !disks[index].source) continue;
      if (rank(index) < highest && before != nullptr)
        return refuse("/domain/devices/disk[" + std::to_string(index + 1) + "]/boot",
                      std::string("amber-vmm's firmware tries ") + before + " before " + name);
      group_highest = std::max(group_highest, rank(index));
    }
    if (group_highest > highest || (!group->empty() && before == nullptr)) before = name;
    highest = group_highest;
  }
  for (const size_t index : virtio) {
    const xml::Disk& disk = disks[index];
    const std::string path = "/domain/devices/disk[" + std::to_string(index + 1) + "]";
    AMBER_TRY_ASSIGN(auto settings, plan_disk(disk, path));
    AMBER_TRY_ASSIGN(settings.addr, plan_pci_address(disk.address, path));
    plan.settings.disks.push_back(std::move(settings));
    plan.disk_index.push_back(index);
  }
  for (const size_t index : ide) {
    AMBER_TRY_ASSIGN(auto settings, plan_ide(disks[index], "/domain/devices/disk[" +
                                                               std::to_string(index + 1) + "]"));
    plan.settings.ide.push_back(std::move(settings));
    plan.ide_index.push_back(index);
  }
  for (const size_t index : scsi) {
    AMBER_TRY_ASSIGN(auto settings, plan_scsi(disks[index], "/domain/devices/disk[" +
                                                                std::to_string(index + 1) + "]"));
    plan.settings.scsi.push_back(std::move(settings));
    plan.scsi_index.push_back(index);
  }
  return ok();
}

Result<void> plan_chardevs(const xml::Domain& domain, const LaunchContext& context,
                           vmmctl::LaunchSettings& settings) {
  const xml::Devices& devices = domain.devices;
  if (devices.serials.size() > 1)
    return refuse("/domain/devices/serial[2]", "there is one serial port (COM1)");
  if (devices.consoles.size() > 1)
    return refuse("/domain/devices/console[2]", "there is one console, on the serial port");
  const auto check = [](const xml::CharDevice& device, const std::string& path) -> Result<void> {
    if (device.log) return refuse(path + "/log", "console logs are not supported yet");
    if (device.port && *device.port != 0)
      return refuse(path + "/target/@port", "the serial port is port 0 (COM1)");
    return ok();
  };
  for (const xml::CharDevice& serial : devices.serials) {
    AMBER_TRY(check(serial, "/domain/devices/serial"));
    if (serial.target_type && *serial.target_type != "isa-serial")
      return refuse("/domain/devices/serial/target/@type=" + quoted(*serial.target_type),
                    "the serial port is an isa-serial");
  }
  for (const xml::CharDevice& console : devices.consoles) {
    AMBER_TRY(check(console, "/domain/devices/console"));
    if (console.target_type && *console.target_type != "serial")
      return refuse("/domain/devices/console/target/@type=" + quoted(*console.target_type),
                    "the console is the serial port");
  }
  if (devices.serials.empty() && devices.consoles.empty()) return ok();
  settings.serial.kind = context.serial;
  settings.serial.path = context.serial_path;
  return ok();
}

}  // namespace

Error refuse(const std::string& path, const std::string& reason) {
  return Error(ErrorKind::kUnsupported, xml::Refusal{path, reason}.message());
}

Result<std::optional<vmmctl::PciSlot>> plan_pci_address(
    const std::optional<xml::PciAddress>& address, const std::string& path) {
  if (!address) return std::optional<vmmctl::PciSlot>();
  const xml::PciAddress& a = *address;
  if (a.domain != 0)
    return refuse(path + "/address/@domain", "amber-vmm has one PCI domain, 0x0000");
  if (a.bus != 0)
    return refuse(path + "/address/@bus", "amber-vmm has one PCI bus, 0x00 (no PCI bridges)");
  if (a.function != 0)
    return refuse(path + "/address/@function",
                  "the device has one function, 0x0 (amber-vmm has no multifunction slots)");
  if (a.slot < vmmctl::kFirstFreePciSlot || a.slot > vmmctl::kMaxPciSlot)
    return refuse(path + "/address/@slot",
                  "slots 0x00 and 0x01 are the host bridge and the PIIX3; devices take 0x02 to "
                  "0x1f");
  return std::optional<vmmctl::PciSlot>(
      vmmctl::PciSlot{static_cast<unsigned>(a.slot), static_cast<unsigned>(a.function)});
}

Result<LaunchPlan> plan_launch(const xml::Domain& domain, const LaunchContext& context) {
  LaunchPlan plan;
  vmmctl::LaunchSettings& settings = plan.settings;
  if (domain.name.empty()) return refuse("/domain/name", "a domain needs a name");
  settings.name = domain.name;
  if (domain.devices.emulator && *domain.devices.emulator != context.emulator)
    return refuse("/domain/devices/emulator",
                  "the emulator is amber-vmm (" +
                      (context.emulator.empty() ? std::string("none") : context.emulator) + ")");
  // Two devices on one PCI address (define refuses them too; a domain
  // may come from elsewhere, e.g. a snapshot).
  {
    xml::Domain assigned = domain;
    if (auto clash = assign_pci_addresses(assigned); !clash.ok())
      return Error(ErrorKind::kUnsupported, clash.error().message());
  }
  AMBER_TRY(plan_memory(domain, settings));
  AMBER_TRY(plan_cpus(domain, settings));
  AMBER_TRY(plan_os(domain, context, settings));
  AMBER_TRY(plan_platform(domain, settings));
  AMBER_TRY(plan_lifecycle(domain, settings));
  AMBER_TRY(plan_disks(domain, plan));
  AMBER_TRY(plan_chardevs(domain, context, settings));
  AMBER_TRY(plan_desktop(domain, context, settings));
  settings.control = context.control_socket;
  if (auto valid = vmmctl::validate(settings); !valid.ok())
    return Error(ErrorKind::kUnsupported,
                 "unsupported configuration: " + std::move(valid).error().message());
  return plan;
}

}  // namespace amber::driver::vm
