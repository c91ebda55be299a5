// SPDX-License-Identifier: GPL-2.0-or-later
// libvirt's domain snapshot XML (<domainsnapshot>) to and from a plain
// struct, as libvirt's snapshot_conf.c reads and writes it: name,
// description, state, parent, creationTime, memory, disks and the embedded
// <domain> that libvirt stores with each snapshot, in libvirt's order.
//
// Two readings, as libvirt's VIR_DOMAIN_SNAPSHOT_PARSE_REDEFINE:
// kCreate (virsh snapshot-create's XML): state, parent, creationTime,
// <domain> and <active> are the daemon's to decide and are skipped unread;
// kStored (the daemon's own metadata file): all of them are read, and the
// <domain> goes through the domain parser.
//
// Errors: kCorrupt "XML error: ..." (malformed document, a bad name, a
// bad snapshot mode, a disk without a name) -> VIR_ERR_XML_ERROR;
// kUnsupported "unsupported configuration: ..." (an element or attribute
// libvirt's schema does not have) -> VIR_ERR_CONFIG_UNSUPPORTED.
//
// Thread-safety: pure functions on values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "xml/domain/domain.h"

namespace amber::xml {

// virDomainSnapshotLocation: <memory snapshot=> and <disk snapshot=>.
enum class SnapshotLocation { kDefault, kNo, kInternal, kExternal, kManual };

// "" for kDefault, else "no", "internal", "external", "manual".
std::string_view to_string(SnapshotLocation location);

struct SnapshotDisk {
  std::string name;  // target dev ("vda") or source path
  SnapshotLocation snapshot = SnapshotLocation::kDefault;
  std::optional<std::string> source_file;  // external snapshots only
  std::optional<std::string> driver_type;  // external snapshots only
};

struct DomainSnapshot {
  std::string name;  // empty when the caller left it to the daemon
  std::optional<std::string> description;
  std::optional<std::string> state;  // virDomainSnapshotState spelled: "shutoff"
  std::optional<std::string> parent;
  std::optional<int64_t> creation_time;  // seconds since the epoch
  SnapshotLocation memory = SnapshotLocation::kDefault;
  std::optional<std::string> memory_file;
  std::vector<SnapshotDisk> disks;
  std::optional<Domain> domain;  // the domain's inactive definition then
  // Whether the domain was running (libvirt's internal <active>).
  std::optional<bool> active;
};

enum class SnapshotParse { kCreate, kStored };

// Snapshot names become file names (NAME.xml) and qcow2 snapshot names:
// at most this many bytes.
inline constexpr size_t kMaxSnapshotNameLength = 200;

// kCorrupt naming what is wrong: empty, over the limit, '/', a leading
// '.', or a control character.
Result<void> check_snapshot_name(std::string_view name);

Result<DomainSnapshot> parse_snapshot(std::string_view xml, SnapshotParse mode);
std::string format_snapshot(const DomainSnapshot& snapshot);

// libvirt's schema check (domainsnapshot.rng): kCorrupt with the schema's
// messages, kNotFound when the schema is not installed.
inline constexpr const char* kSnapshotSchemaPath = "/usr/share/libvirt/schemas/domainsnapshot.rng";
Result<void> validate_snapshot(std::string_view xml,
                               const std::string& schema_path = kSnapshotSchemaPath);

}  // namespace amber::xml
