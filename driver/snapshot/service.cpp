// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/snapshot/service.h"

#include <libvirt/libvirt.h>

#include <ctime>
#include <memory>
#include <utility>
#include <vector>

#include "block/image.h"
#include "block/qcow2/qcow2.h"

namespace amber::driver::snapshot {

namespace {

std::string hex(unsigned value) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%x", value);
  return text;
}

Error bad_flags(unsigned flags, std::string_view what) {
  return Error(ErrorKind::kInvalidArgument,
               "unsupported flags (" + hex(flags) + ") in " + std::string(what));
}

Error unsupported(std::string message) {
  return Error(ErrorKind::kUnsupported, "unsupported configuration: " + std::move(message));
}

// One qcow2 disk of a snapshot, opened read-write with its locks held.
struct OpenDisk {
  std::string dev;
  std::string path;
  std::unique_ptr<block::Image> image;
};

struct DiskPath {
  std::string dev;
  std::string path;
};

// Opens every disk before any changes: a disk in use (its image locks
// held by a running amber-vmm or a qemu-img) refuses the whole operation.
Result<std::vector<OpenDisk>> open_disks(const std::vector<DiskPath>& paths) {
  std::vector<OpenDisk> out;
  for (const DiskPath& p : paths) {
    block::OpenOptions o;
    o.format = block::ImageFormat::kQcow2;
    o.access = block::io::Access::kReadWrite;
    auto image = block::open_image(p.path, o);
    if (!image.ok()) {
      const Error& e = image.error();
      if (e.kind() == ErrorKind::kLocked) {
        return Error(ErrorKind::kLocked,
                     "disk '" + p.dev + "' (" + p.path + ") is in use: " + e.message());
      }
      return Error(e.kind(), "cannot open disk '" + p.dev + "' (" + p.path + "): " + e.message());
    }
    out.push_back({p.dev, p.path, std::move(*image)});
  }
  return out;
}

bool has_snapshot(block::Image& image, const std::string& name) {
  for (const block::SnapshotInfo& s : block::qcow2::list_snapshots(image)) {
    if (s.name == name) return true;
  }
  return false;
}

Result<void> close_all(std::vector<OpenDisk>& disks) {
  Result<void> result = ok();
  for (OpenDisk& d : disks) {
    auto closed = d.image->close();
    if (!closed.ok() && result.ok()) result = closed.error();
  }
  return result;
}

// The internal-snapshot disks of SNAPSHOT, with their paths from DOMAIN.
std::vector<DiskPath> internal_disks(const xml::DomainSnapshot& snapshot,
                                     const xml::Domain& domain) {
  std::vector<DiskPath> out;
  for (const xml::SnapshotDisk& sd : snapshot.disks) {
    if (sd.snapshot != xml::SnapshotLocation::kInternal) continue;
    for (const xml::Disk& disk : domain.devices.disks) {
      if (disk.target_dev == sd.name && disk.source) out.push_back({sd.name, *disk.source});
    }
  }
  return out;
}

// libvirt's virDomainSnapshotAlignDisks for an offline internal snapshot:
// every disk of the domain listed, internal unless asked otherwise or
// read-only; what cannot be done is refused by disk.
Result<std::vector<xml::SnapshotDisk>> align_disks(const xml::DomainSnapshot& request,
                                                   const xml::Domain& domain) {
  for (const xml::SnapshotDisk& sd : request.disks) {
    bool known = false;
    for (const xml::Disk& disk : domain.devices.disks) {
      known = known || disk.target_dev == sd.name || disk.source == sd.name;
    }
    if (!known) return unsupported("no disk named '" + sd.name + "'");
  }
  std::vector<xml::SnapshotDisk> out;
  for (const xml::Disk& disk : domain.devices.disks) {
    xml::SnapshotDisk sd;
    sd.name = disk.target_dev;
    sd.snapshot = disk.readonly ? xml::SnapshotLocation::kNo : xml::SnapshotLocation::kInternal;
    for (const xml::SnapshotDisk& asked : request.disks) {
      if (asked.name == disk.target_dev || disk.source == asked.name) {
        if (asked.snapshot != xml::SnapshotLocation::kDefault) sd.snapshot = asked.snapshot;
      }
    }
    // A cdrom is never part of a snapshot (libvirt forces snapshot='no').
    if (disk.device == xml::DiskDevice::kCdrom) sd.snapshot = xml::SnapshotLocation::kNo;
    if (sd.snapshot == xml::SnapshotLocation::kExternal ||
        sd.snapshot == xml::SnapshotLocation::kManual) {
      return unsupported(std::string(xml::to_string(sd.snapshot)) + " snapshot of disk '" +
                         sd.name + "' is not supported yet; only internal snapshots are");
    }
    if (sd.snapshot == xml::SnapshotLocation::kInternal) {
      if (disk.type == xml::DiskType::kVolume) {
        return unsupported("internal snapshot of disk '" + sd.name +
                           "' on a storage pool volume is not supported yet");
      }
      const std::string format = disk.format.value_or("raw");
      if (format != "qcow2") {
        return unsupported("internal snapshot for disk " + sd.name +
                           " unsupported for storage type " + format);
      }
      if (!disk.source) {
        return unsupported("disk '" + sd.name + "' has no source to snapshot");
      }
    }
    out.push_back(std::move(sd));
  }
  return out;
}

Result<xml::Domain> inactive_domain(vm::Manager& manager, const xml::Uuid& uuid) {
  AMBER_TRY_ASSIGN(std::string text,
                   manager.xml_desc(uuid, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE));
  return xml::parse_domain(text);
}

Result<void> refuse_running(vm::Manager& manager, const xml::Uuid& uuid, std::string_view what) {
  AMBER_TRY_ASSIGN(bool active, manager.is_active(uuid));
  if (active) {
    return Error(ErrorKind::kLocked, std::string(what) +
                                         " of a running domain is not supported yet (live "
                                         "snapshots need a memory state); shut it down first");
  }
  return ok();
}

}  // namespace

Result<std::string> Service::domain_name(const xml::Uuid& uuid) {
  AMBER_TRY_ASSIGN(vm::DomainRef ref, manager_.lookup_by_uuid(uuid));
  return ref.name;
}

Result<std::string> Service::create(const xml::Uuid& uuid, std::string_view text, unsigned flags) {
  constexpr unsigned kAllowed = VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA |
                                VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC |
                                VIR_DOMAIN_SNAPSHOT_CREATE_VALIDATE;
  if ((flags & VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE) != 0) {
    return unsupported("redefining snapshot metadata (--redefine) is not supported yet");
  }
  if ((flags & VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY) != 0) {
    return unsupported(
        "disk-only (external) snapshots are not supported yet; only internal "
        "snapshots of qcow2 disks are");
  }
  if ((flags & ~kAllowed) != 0) return bad_flags(flags & ~kAllowed, "DOMAIN_SNAPSHOT_CREATE_XML");
  if ((flags & VIR_DOMAIN_SNAPSHOT_CREATE_VALIDATE) != 0) {
    AMBER_TRY(xml::validate_snapshot(text));
  }
  AMBER_TRY_ASSIGN(xml::DomainSnapshot request,
                   xml::parse_snapshot(text, xml::SnapshotParse::kCreate));
  std::lock_guard lock(mutex_);
  AMBER_TRY_ASSIGN(std::string domain, domain_name(uuid));
  AMBER_TRY(refuse_running(manager_, uuid, "a snapshot"));
  if (request.memory == xml::SnapshotLocation::kInternal ||
      request.memory == xml::SnapshotLocation::kExternal) {
    return unsupported("memory state cannot be saved with offline or disk-only snapshot");
  }
  const int64_t now = ::time(nullptr);
  if (request.name.empty()) request.name = std::to_string(now);
  if (store_.find(domain, request.name).ok()) {
    return Error(ErrorKind::kLocked, "domain snapshot '" + request.name + "' already exists");
  }
  AMBER_TRY_ASSIGN(xml::Domain def, inactive_domain(manager_, uuid));
  xml::DomainSnapshot snapshot;
  snapshot.name = request.name;
  snapshot.description = request.description;
  snapshot.state = "shutoff";
  snapshot.parent = store_.current(domain);
  snapshot.creation_time = now;
  snapshot.memory = xml::SnapshotLocation::kNo;
  AMBER_TRY_ASSIGN(snapshot.disks, align_disks(request, def));
  snapshot.domain = def;

  AMBER_TRY_ASSIGN(std::vector<OpenDisk> disks, open_disks(internal_disks(snapshot, def)));
  for (OpenDisk& d : disks) {
    if (has_snapshot(*d.image, snapshot.name)) {
      return Error(ErrorKind::kLocked, "disk '" + d.dev + "' (" + d.path +
                                           ") already has an internal snapshot named '" +
                                           snapshot.name + "'");
    }
  }
  for (size_t i = 0; i < disks.size(); ++i) {
    auto made = block::qcow2::create_snapshot(*disks[i].image, snapshot.name,
                                              static_cast<uint32_t>(now), 0);
    if (!made.ok()) {
      for (size_t j = 0; j < i; ++j) {
        (void)block::qcow2::delete_snapshot(*disks[j].image, snapshot.name);
      }
      (void)close_all(disks);
      return Error(made.error().kind(), "creating internal snapshot '" + snapshot.name +
                                            "' of disk '" + disks[i].dev +
                                            "': " + made.error().message());
    }
  }
  AMBER_TRY(close_all(disks));
  if ((flags & VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA) == 0) {
    AMBER_TRY(store_.add(domain, snapshot, true));
  }
  return snapshot.name;
}

Result<void> Service::revert(const xml::Uuid& uuid, const std::string& name, unsigned flags) {
  constexpr unsigned kAllowed =
      VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING | VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED |
      VIR_DOMAIN_SNAPSHOT_REVERT_FORCE | VIR_DOMAIN_SNAPSHOT_REVERT_RESET_NVRAM;
  if ((flags & ~kAllowed) != 0) return bad_flags(flags & ~kAllowed, "DOMAIN_REVERT_TO_SNAPSHOT");
  std::lock_guard lock(mutex_);
  AMBER_TRY_ASSIGN(std::string domain, domain_name(uuid));
  AMBER_TRY_ASSIGN(xml::DomainSnapshot snapshot, store_.find(domain, name));
  AMBER_TRY(refuse_running(manager_, uuid, "reverting to a snapshot"));
  xml::Domain def;
  if (snapshot.domain) {
    def = *snapshot.domain;
  } else {
    AMBER_TRY_ASSIGN(def, inactive_domain(manager_, uuid));
  }
  AMBER_TRY_ASSIGN(std::vector<OpenDisk> disks, open_disks(internal_disks(snapshot, def)));
  for (OpenDisk& d : disks) {
    if (!has_snapshot(*d.image, name)) {
      (void)close_all(disks);
      return Error(ErrorKind::kLocked, "disk '" + d.dev + "' (" + d.path +
                                           ") has no internal snapshot named '" + name + "'");
    }
  }
  for (size_t i = 0; i < disks.size(); ++i) {
    auto applied = block::qcow2::apply_snapshot(*disks[i].image, name);
    if (!applied.ok()) {
      (void)close_all(disks);
      return Error(applied.error().kind(),
                   "reverting disk '" + disks[i].dev + "' to snapshot '" + name + "' failed (" +
                       std::to_string(i) + " of " + std::to_string(disks.size()) +
                       " disks were reverted): " + applied.error().message());
    }
  }
  AMBER_TRY(close_all(disks));
  // libvirt's offline revert also restores the definition saved with it.
  if (snapshot.domain) {
    AMBER_TRY(manager_.define(xml::format_domain(*snapshot.domain, xml::FormatFlags::kInactive |
                                                                       xml::FormatFlags::kSecure),
                              0));
  }
  AMBER_TRY(store_.set_current(domain, name));
  if ((flags & (VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING | VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED)) != 0) {
    const unsigned start = (flags & VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED) != 0
                               ? VIR_DOMAIN_START_PAUSED
                               : VIR_DOMAIN_NONE;
    AMBER_TRY(manager_.start(uuid, start));
  }
  return ok();
}

Result<void> Service::remove(const xml::Uuid& uuid, const std::string& name, unsigned flags) {
  constexpr unsigned kAllowed = VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN |
                                VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY |
                                VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY;
  if ((flags & ~kAllowed) != 0) return bad_flags(flags & ~kAllowed, "DOMAIN_SNAPSHOT_DELETE");
  const bool children = (flags & VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN) != 0;
  const bool children_only = (flags & VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY) != 0;
  if (children && children_only) {
    return Error(ErrorKind::kInvalidArgument,
                 "flags VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN and "
                 "VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY are mutually exclusive");
  }
  std::lock_guard lock(mutex_);
  AMBER_TRY_ASSIGN(std::string domain, domain_name(uuid));
  AMBER_TRY_ASSIGN(xml::DomainSnapshot target, store_.find(domain, name));
  // Leaves first, so that each removal reparents nothing that is going.
  std::vector<std::string> victims;
  if (children || children_only) victims = store_.children(domain, name, true);
  std::reverse(victims.begin(), victims.end());
  if (!children_only) victims.push_back(name);
  if ((flags & VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY) == 0 && !victims.empty()) {
    AMBER_TRY(refuse_running(manager_, uuid, "deleting the internal snapshots"));
    AMBER_TRY_ASSIGN(xml::Domain current_def, inactive_domain(manager_, uuid));
    for (const std::string& victim : victims) {
      AMBER_TRY_ASSIGN(xml::DomainSnapshot s, store_.find(domain, victim));
      const xml::Domain& def = s.domain ? *s.domain : current_def;
      AMBER_TRY_ASSIGN(std::vector<OpenDisk> disks, open_disks(internal_disks(s, def)));
      for (OpenDisk& d : disks) {
        if (!has_snapshot(*d.image, victim)) continue;  // gone already: nothing to free
        auto deleted = block::qcow2::delete_snapshot(*d.image, victim);
        if (!deleted.ok()) {
          (void)close_all(disks);
          return Error(deleted.error().kind(), "deleting internal snapshot '" + victim +
                                                   "' of disk '" + d.dev +
                                                   "': " + deleted.error().message());
        }
      }
      AMBER_TRY(close_all(disks));
      AMBER_TRY(store_.remove(domain, victim));
    }
    return ok();
  }
  for (const std::string& victim : victims) AMBER_TRY(store_.remove(domain, victim));
  return ok();
}

}  // namespace amber::driver::snapshot
