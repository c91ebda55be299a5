// SPDX-License-Identifier: GPL-2.0-or-later
// Internal snapshot table: parse and validate, and serialise (for `check
// -r all`, which rewrites a table with incomplete entries as qemu-img
// does). Creating, applying and deleting snapshots is not implemented.
//
// Thread-safety: pure functions over a File.
#pragma once

#include <cstdint>
#include <string>
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

}  // namespace amber::block::qcow2
