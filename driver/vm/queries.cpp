// SPDX-License-Identifier: GPL-2.0-or-later
// Queries: live XML, info, stats, metadata, vCPUs, console.
#include <fcntl.h>
#include <libvirt/libvirt.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>

#include "block/image.h"
#include "driver/vm/manager_impl.h"
#include "driver/vm/metadata.h"

namespace amber::driver::vm {
namespace {

constexpr unsigned kXmlFlags = VIR_DOMAIN_XML_SECURE | VIR_DOMAIN_XML_INACTIVE |
                               VIR_DOMAIN_XML_UPDATE_CPU | VIR_DOMAIN_XML_MIGRATABLE;
constexpr unsigned kAffectFlags = VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG;

Error not_running() {
  return Error(ErrorKind::kLocked, "domain is not running");
}

block::OpenOptions inspect_options() {
  block::OpenOptions options;
  options.access = block::io::Access::kReadOnly;
  options.locking = block::Locking::kOff;  // the running VMM holds the locks
  options.sharing = block::Sharing::kForceShare;
  return options;
}

// Index of the disk named by a target dev or a source path, or nullopt.
std::optional<size_t> find_disk(const xml::Domain& domain, std::string_view name) {
  for (size_t i = 0; i < domain.devices.disks.size(); ++i) {
    const xml::Disk& disk = domain.devices.disks[i];
    if (disk.target_dev == name || (disk.source && *disk.source == name)) return i;
  }
  return std::nullopt;
}

Error unknown_disk(std::string_view name) {
  return Error(ErrorKind::kInvalidArgument,
               "invalid path: " + std::string(name) + " not assigned to domain");
}

// Which of LIVE and CONFIG the VIR_DOMAIN_AFFECT_* flags mean for a domain.
struct Affect {
  bool live = false;
  bool config = false;
};

Result<Affect> resolve_affect(unsigned flags, bool running, bool persistent) {
  Affect affect{(flags & VIR_DOMAIN_AFFECT_LIVE) != 0, (flags & VIR_DOMAIN_AFFECT_CONFIG) != 0};
  if (!affect.live && !affect.config) {
    affect.live = running;
    affect.config = !running;
  }
  if (affect.live && !running) return not_running();
  if (affect.config && !persistent)
    return Error(ErrorKind::kLocked, "transient domains do not have any persistent config");
  return affect;
}

}  // namespace

void resolve_backing_chains(xml::Domain& domain) {
  for (xml::Disk& disk : domain.devices.disks) {
    if (!disk.source) continue;
    disk.backing.clear();
    disk.backing_terminated = false;
    block::OpenOptions options = inspect_options();
    if (disk.format) {
      auto format = block::parse_format(*disk.format);
      if (format.ok()) options.format = *format;
    }
    auto image = block::open_image(*disk.source, options);
    if (!image.ok()) continue;  // the VMM has it open; the chain is just not shown
    disk.source_index = 1;
    uint64_t index = 2;
    for (block::Image* layer = (*image)->backing(); layer != nullptr; layer = layer->backing()) {
      xml::BackingLayer backing;
      backing.format = std::string(block::to_string(layer->format()));
      backing.path = layer->filename();
      backing.index = index++;
      disk.backing.push_back(std::move(backing));
    }
    disk.backing_terminated = true;
  }
}

xml::Domain ManagerImpl::live_view(const Entry& entry) const {
  if (!entry.vm) return entry.config.value_or(xml::Domain{});
  xml::Domain domain = entry.vm->live;
  domain.id = entry.vm->id;
  for (size_t i = 0; i < domain.devices.disks.size(); ++i)
    domain.devices.disks[i].alias = disk_alias(domain.devices.disks[i], i);
  // libvirt's aliases: net0.., input0.., video0.
  for (size_t i = 0; i < domain.devices.interfaces.size(); ++i)
    domain.devices.interfaces[i].alias = "net" + std::to_string(i);
  for (size_t i = 0; i < domain.devices.inputs.size(); ++i)
    domain.devices.inputs[i].alias = "input" + std::to_string(i);
  for (size_t i = 0; i < domain.devices.videos.size(); ++i)
    domain.devices.videos[i].alias = "video" + std::to_string(i);
  for (xml::CharDevice& serial : domain.devices.serials) {
    if (!entry.vm->pty.empty()) serial.source_path = entry.vm->pty;
    serial.alias = "serial0";
  }
  for (xml::CharDevice& console : domain.devices.consoles) {
    if (!entry.vm->pty.empty()) {
      console.source_path = entry.vm->pty;
      console.tty = entry.vm->pty;
    }
    console.alias = "serial0";
  }
  return domain;
}

Result<std::string> ManagerImpl::xml_desc(const xml::Uuid& uuid, unsigned flags) {
  if ((flags & ~kXmlFlags) != 0) return unsupported_flags("xml_desc", flags);
  AMBER_TRY_ASSIGN(auto entry, get(uuid));
  std::lock_guard lock(mutex_);
  // VIR_DOMAIN_XML_SECURE shows the VNC password (libvirt lets only
  // read-write connections ask; the dispatcher checks that).
  const xml::FormatFlags secure =
      (flags & VIR_DOMAIN_XML_SECURE) ? xml::FormatFlags::kSecure : xml::FormatFlags::kNone;
  if (!entry->vm || (flags & VIR_DOMAIN_XML_INACTIVE)) {
    const xml::Domain& domain = entry->config ? *entry->config : entry->vm->live;
    return xml::format_domain(domain, xml::FormatFlags::kInactive | secure);
  }
  return xml::format_domain(live_view(*entry), secure);
}

Result<DomainInfo> ManagerImpl::info(const xml::Uuid& uuid) {
  AMBER_TRY_ASSIGN(auto entry, get(uuid));
  DomainInfo info;
  pid_t pid = 0;
  {
    std::lock_guard lock(mutex_);
    const xml::Domain domain = live_view(*entry);
    info.state = entry->state;
    info.max_mem_kib = domain.memory.memory_kib;
    info.memory_kib = domain.memory.current_memory_kib != 0 ? domain.memory.current_memory_kib
                                                            : domain.memory.memory_kib;
    info.vcpus = static_cast<uint32_t>(domain.cpu.current_vcpus.value_or(domain.cpu.vcpus));
    if (entry->vm) pid = entry->vm->process.pid;
  }
  if (pid > 0) {
    // utime and stime, fields 14 and 15 of /proc/PID/stat (after the
    // parenthesised command, which may hold spaces).
    auto stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    if (stat.ok()) {
      const size_t paren = stat->rfind(')');
      unsigned long long utime = 0, stime = 0;
      if (paren != std::string::npos &&
          std::sscanf(stat->c_str() + paren + 1,
                      " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                      &stime) == 2) {
        const long ticks = ::sysconf(_SC_CLK_TCK);
        if (ticks > 0)
          info.cpu_time_ns = (utime + stime) * (1000000000ULL / static_cast<uint64_t>(ticks));
      }
    }
  }
  return info;
}

Result<std::pair<int, int>> ManagerImpl::state(const xml::Uuid& uuid) {
  AMBER_TRY_ASSIGN(auto entry, get(uuid));
  std::lock_guard lock(mutex_);
  return std::pair<int, int>(entry->state, entry->reason);
}

Result<int> ManagerImpl::vcpus_flags(const xml::Uuid& uuid, unsigned flags) {
  if ((flags & ~unsigned(kAffectFlags | VIR_DOMAIN_VCPU_MAXIMUM | VIR_DOMAIN_VCPU_GUEST)) != 0)
    return unsupported_flags("vcpus_flags", flags);
  if ((flags & kAffectFlags) == kAffectFlags)
    return Error(ErrorKind::kInvalidArgument,
                 "Flags 'VIR_DOMAIN_AFFECT_LIVE' and 'VIR_DOMAIN_AFFECT_CONFIG' are mutually "
                 "exclusive");
  if (flags & VIR_DOMAIN_VCPU_GUEST)
    return Error(ErrorKind::kUnsupported, "there is no guest agent to ask for its vCPUs");
  AMBER_TRY_ASSIGN(auto entry, get(uuid));
  std::lock_guard lock(mutex_);
  AMBER_TRY_ASSIGN(Affect affect,
                   resolve_affect(flags, entry->vm != nullptr, entry->config.has_value()));
  const xml::Domain& domain = affect.live ? entry->vm->live : *entry->config;
  if (flags & VIR_DOMAIN_VCPU_MAXIMUM) return static_cast<int>(domain.cpu.vcpus);
  return static_cast<int>(domain.cpu.current_vcpus.value_or(domain.cpu.vcpus));
}

Result<BlockStats> ManagerImpl::block_stats(const xml::Uuid& uuid, std::string_view disk) {
  AMBER_TRY_ASSIGN(auto entry, get(uuid));
  AMBER_TRY_ASSIGN(auto vm, running(entry));
  auto index = find_disk(vm->live, disk);
  if (!index) return unknown_disk(disk);
  // amber-vmm names a virtio disk by its slot (diskN), an IDE or SCSI
  // disk by libvirt's alias of it (ide0-B-U, scsi0-0-T-L).
  const xml::Disk& target = vm->live.devices.disks[*index];
  std::string device =
      target.bus == xml::DiskBus::kVirtio ? std::string() : disk_alias(target, *index);
  for (size_t slot = 0; slot < vm->disk_index.size(); ++slot)
    if (target.bus == xml::DiskBus::kVirtio && vm->disk_index[slot] == *index)
      device = "disk" + std::to_string(slot);
  AMBER_TRY_ASSIGN(auto disks, vm->monitor->call<vmmctl::QueryBlock>());
  for (const vmmctl::BlockInfo& info : disks) {
    if (info.device != device) continue;
    BlockStats stats;
    const auto as = [](uint64_t value) { return static_cast<int64_t>(value); };
    stats.rd_req = as(info.read.operations);
    stats.rd_bytes = as(info.read.bytes);
    stats.wr_req = as(info.write.operations);
    stats.wr_bytes = as(info.write.bytes);
    stats.errs = as(info.read.failed + info.write.failed + info.flush.failed + info.discard.failed);
    stats.flush_req = as(info.flush.operations);
    stats.rd_total_times = as(info.read.total_time_ns);
    stats.wr_total_times = as(info.write.total_time_ns);
    stats.flush_total_times = as(info.flush.total_time_ns);
    return stats;
  }
  return Error(ErrorKind::kInternal, "amber-vmm does not report " + device);
}

Result<BlockInfo> ManagerImpl::block_info(const xml::Uuid& uuid, std::string_view disk) {
  AMBER_TRY_ASSIGN(auto entry, get(uuid));
  xml::Disk target;
  {
    std::lock_guard lock(mutex_);
    const xml::Domain& domain = entry->vm ? entry->vm->live : *entry->config;
    auto index = find_disk(domain, disk);
    if (!index) return unknown_disk(disk);
    target = domain.devices.disks[*index];
  }
  if (!target.source) {
    if (target.device == xml::DiskDevice::kCdrom) return BlockInfo{};  // empty tray: all 0
    return unknown_disk(disk);
  }
  block::OpenOptions options = inspect_options();
  options.backing = block::BackingMode::kNone;
  if (target.format) {
    auto format = block::parse_format(*target.format);
    if (format.ok()) options.format = *format;
  }
  AMBER_TRY_ASSIGN(auto image, block::open_image(*target.source, options));
  struct stat st {};
  if (::stat(target.source->c_str(), &st) != 0)
    return Error::from_errno(errno, "stat " + *target.source);
  BlockInfo info;
  info.capacity = image->size();
  if (S_ISBLK(st.st_mode)) {
    info.physical = info.capacity;
    info.allocation = info.capacity;
  } else {
    info.physical = static_cast<uint64_t>(st.st_size);
    info.allocation = static_cast<uint64_t>(st.st_blocks) * 512;
  }
  return info;
}

Result<std::vector<DiskError>> ManagerImpl::disk_errors(const xml::Uuid& uuid) {
  AMBER_TRY_ASSIGN(auto entry, get(uuid));
  std::lock_guard lock(mutex_);
  if (!entry->vm) return not_running();
  return entry->disk_errors;
}

// --- metadata ---

Result<std::string> ManagerImpl::metadata(const xml::Uuid& uuid, int type, const std::string& uri,
                                          unsigned flags) {
  if ((flags & ~kAffectFlags) != 0) return unsupported_flags("metadata", flags);
  if ((flags & kAffectFlags) == kAffectFlags)
    return Error(ErrorKind::kInvalidArgument,
                 "Flags 'VIR_DOMAIN_AFFECT_LIVE' and 'VIR_DOMAIN_AFFECT_CONFIG' are mutually "
                 "exclusive");
  AMBER_TRY_ASSIGN(auto entry, get(uuid));
  std::lock_guard lock(mutex_);
  AMBER_TRY_ASSIGN(Affect affect,
                   resolve_affect(flags, entry->vm != nullptr, entry->config.has_value()));
  const xml::Domain& domain = affect.live ? entry->vm->live : *entry->config;
  const Error absent(ErrorKind::kNotFound,
                     "metadata not found: Requested metadata element is not present");
  switch (type) {
    case VIR_DOMAIN_METADATA_DESCRIPTION:
      if (!domain.description) return absent;
      return *domain.description;
    case VIR_DOMAIN_METADATA_TITLE:
      if (!domain.title) return absent;
      return *domain.title;
    case VIR_DOMAIN_METADATA_ELEMENT: {
      if (uri.empty()) return Error(ErrorKind::kInvalidArgument, "a namespace uri is required");
      auto element = find_metadata(domain.metadata.value_or(""), uri);
      if (!element) return absent;
      return *element;
    }
    default:
      return Error(ErrorKind::kInvalidArgument, "unknown metadata type " + std::to_string(type));
  }
}

Result<void> ManagerImpl::set_metadata(const xml::Uuid& uuid, int type,
                                       const std::optional<std::string>& value,
                                       const std::string& key, const std::string& uri,
                                       unsigned flags) {
  if ((flags & ~kAffectFlags) != 0) return unsupported_flags("set_metadata", flags);
  std::optional<std::string> element;
  if (type == VIR_DOMAIN_METADATA_ELEMENT) {
    if (uri.empty()) return Error(ErrorKind::kInvalidArgument, "a namespace uri is required");
    if (value && !value->empty()) {
      AMBER_TRY_ASSIGN(element, make_metadata_element(*value, key, uri));
    }
  } else if (type == VIR_DOMAIN_METADATA_TITLE) {
    if (value && value->find('\n') != std::string::npos)
      return Error(ErrorKind::kInvalidArgument, "title can't contain newlines");
  } else if (type != VIR_DOMAIN_METADATA_DESCRIPTION) {
    return Error(ErrorKind::kInvalidArgument, "unknown metadata type " + std::to_string(type));
  }
  const auto apply = [&](xml::Domain& domain) {
    const std::optional<std::string> text =
        value && !value->empty() ? value : std::optional<std::string>();
    if (type == VIR_DOMAIN_METADATA_DESCRIPTION) domain.description = text;
    if (type == VIR_DOMAIN_METADATA_TITLE) domain.title = text;
    if (type == VIR_DOMAIN_METADATA_ELEMENT) {
      std::string rest = remove_metadata(domain.metadata.value_or(""), uri);
      if (element) rest += (rest.empty() ? "" : "\n") + *element;
      domain.metadata = rest.empty() ? std::optional<std::string>() : rest;
    }
  };
  // What is kept must read back: a domain whose file does not parse would
  // be skipped at the next start of the daemon.
  const auto reads_back = [](const xml::Domain& domain) -> Result<void> {
    auto again = xml::parse_domain(
        xml::format_domain(domain, xml::FormatFlags::kInactive | xml::FormatFlags::kSecure));
    if (!again.ok())
      return Error(ErrorKind::kInvalidArgument,
                   "metadata would not read back: " + again.error().message());
    return ok();
  };
  std::lock_guard define_lock(define_mutex_);
  AMBER_TRY_ASSIGN(auto entry, get(uuid));
  std::lock_guard op(entry->op);
  std::optional<xml::Domain> config;
  {
    std::lock_guard lock(mutex_);
    AMBER_TRY_ASSIGN(Affect affect,
                     resolve_affect(flags, entry->vm != nullptr, entry->config.has_value()));
    if (affect.config) {
      config = *entry->config;
      apply(*config);
      AMBER_TRY(reads_back(*config));
    }
    if (affect.live) {
      xml::Domain live = entry->vm->live;
      apply(live);
      AMBER_TRY(reads_back(live));
      entry->vm->live = std::move(live);
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

// --- console ---

Result<UniqueFd> ManagerImpl::open_console(const xml::Uuid& uuid, bool force,
                                           std::function<void()> on_revoked) {
  AMBER_TRY_ASSIGN(auto entry, get(uuid));
  std::string pty;
  std::function<void()> revoked;
  UniqueFd fd;
  {
    std::lock_guard lock(mutex_);
    if (!entry->vm) return not_running();
    pty = entry->vm->pty;
    if (pty.empty())
      return Error(ErrorKind::kInternal, "cannot find character device <null>: no serial pty");
    if (entry->console && !force)
      return Error(ErrorKind::kLocked, "Active console session exists for this domain");
    fd = UniqueFd(::open(pty.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!fd) return Error::from_errno(errno, "opening console " + pty);
    // Raw, like libvirt's console: the guest's bytes unchanged, no echo.
    termios mode{};
    if (::tcgetattr(fd.get(), &mode) == 0) {
      ::cfmakeraw(&mode);
      ::tcsetattr(fd.get(), TCSANOW, &mode);
    }
    if (entry->console) revoked = std::move(entry->console->on_revoked);
    entry->console = ConsoleHolder{next_console_token_++, std::move(on_revoked)};
  }
  if (revoked) revoked();
  return fd;
}

void ManagerImpl::release_console(const xml::Uuid& uuid) {
  std::lock_guard lock(mutex_);
  auto entry = find(uuid);
  if (entry) entry->console.reset();
}

}  // namespace amber::driver::vm
