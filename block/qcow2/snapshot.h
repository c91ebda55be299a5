// Internal snapshot table: parse and validate (read-only; creating,
// applying and deleting snapshots is not implemented).
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
};

struct SnapshotTable {
  std::vector<Snapshot> snapshots;
  uint64_t bytes = 0;  // size of the table on disk (for refcounts)
};

// Reads `count` entries at `offset`; validates lengths, snapshot L1 tables
// (aligned, inside the file, <= 32 MiB) and v3's extra data minimum.
Result<SnapshotTable> read_snapshot_table(io::File& file, uint64_t offset, uint32_t count,
                                          unsigned version, uint32_t cluster_bits);

}  // namespace amber::block::qcow2
