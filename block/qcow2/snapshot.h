// SPDX-License-Identifier: GPL-2.0-or-later
// Internal snapshot table: parse and validate, serialise (for `check -r
// all` and for the snapshot operations), and QEMU's lookups and id choice.
//
// Creating, applying and deleting snapshots are Qcow2Image members
// (snapshot_ops.cpp, reached through qcow2.h's create_snapshot /
// apply_snapshot / delete_snapshot). They need exclusive use of the open
// image (they take its locks exclusively, as resize does) and leave it
// open and usable: the L2 cache is emptied and the L1 table, header and
// snapshot list in memory are replaced, so no reopen is needed.
//
// Each is one switch of the header's first sector (L1 offset and size,
// disk size, nb_snapshots, snapshots_offset, written at once): new tables
// go to free clusters and are flushed, refcount increments are flushed,
// the header is written and flushed, and only then are refcounts lowered
// and old tables freed. A crash therefore leaves the old or the new state
// plus leaked clusters. Create and apply give the image a new active L1
// (create: the old one becomes the snapshot's, as it is; apply: a copy
// of the snapshot's) whose L2 tables are shared when none of their
// entries has COPIED and copied without COPIED otherwise; delete rewrites
// only the active tables whose COPIED flags change. One window remains,
// as in QEMU (whose window is wider): while create's raised refcounts are
// durable and the header is not yet switched (one flush), and likewise
// while delete's lowered refcounts are not yet written after its switch,
// `check` reports an OFLAG_COPIED mismatch over a leaked cluster; `check
// -r leaks` ends it. Closing it needs the refcount blocks written as new
// copies and switched with the header (not done).
//
// Thread-safety: pure functions over a File.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "block/image.h"
#include "block/io/file.h"
#include "common/result.h"

namespace amber::block::qcow2 {

struct Snapshot {
  uint64_t l1_table_offset = 0;
  uint32_t l1_size = 0;
  SnapshotInfo info;
  uint32_t extra_data_size = 0;  // as stored
  // Extra data past the 24 bytes QEMU 7.2 knows (kept by a rewrite).
  std::vector<uint8_t> unknown_extra;
};

struct SnapshotTable {
  std::vector<Snapshot> snapshots;
  uint64_t bytes = 0;  // size of the table on disk (for refcounts)
};

enum class SnapshotValidation {
  kFull,       // opening an image: entries and their L1 tables must be valid
  kStructure,  // `check`: only what is needed to walk the table; the checker
               // reports bad L1 tables and incomplete entries itself
};

// Reads `count` entries at `offset`. kFull validates lengths, snapshot L1
// tables (aligned, inside the file, <= 32 MiB). An entry with less extra
// data than v3's minimum is accepted (its disk_size stays 0; the caller
// knows the image size QEMU takes for it).
Result<SnapshotTable> read_snapshot_table(
    io::File& file, uint64_t offset, uint32_t count, unsigned version, uint32_t cluster_bits,
    SnapshotValidation validation = SnapshotValidation::kFull);

// Bytes of extra data v3 requires (vm_state_size_large and disk_size).
inline constexpr uint32_t kMinV3SnapshotExtraData = 16;

// The table as QEMU 7.2 writes it: each entry with at least 24 bytes of
// extra data (vm_state_size_large, disk_size, icount), then unknown extra
// data, id and name; entries start 8-byte aligned.
std::vector<uint8_t> serialize_snapshot_table(const std::vector<Snapshot>& snapshots);

// QEMU's find_snapshot_by_id_or_name (what `snapshot -a` looks up): the
// first entry whose id is `key`, else the first whose name is.
std::optional<size_t> find_snapshot_by_id_or_name(const std::vector<Snapshot>& snapshots,
                                                  std::string_view key);
// qemu-img's bdrv_snapshot_find (what `snapshot -d` looks up): the first
// entry whose name is `name`; ids are not matched.
std::optional<size_t> find_snapshot_by_name(const std::vector<Snapshot>& snapshots,
                                            std::string_view name);
// QEMU's find_new_snapshot_id: one more than the largest id read as a
// decimal number (strtoul: leading digits, anything else 0).
std::string next_snapshot_id(const std::vector<Snapshot>& snapshots);

}  // namespace amber::block::qcow2
