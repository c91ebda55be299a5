// SPDX-License-Identifier: GPL-2.0-or-later
// Refcount structure rebuilding (QEMU's "Rebuilding refcount structure").
// write_refcount_structure writes fresh refcount blocks and a fresh table
// for an in-memory count of every host cluster, placed as qemu-img 7.2
// places them (each block in the first free cluster, the table in the
// first free run, repeated until the table stops growing), then points the
// header at them; the old structure is left leaked for the caller's
// leak repair. rebuild_refcounts counts the references with
// walk_references first (a dirty image's read-write open); `check -r all`
// passes the counts it made itself.
//
// Thread-safety: needs the file to itself (no open Image writing it).
#pragma once

#include <cstdint>
#include <vector>

#include "block/io/file.h"
#include "block/qcow2/header.h"
#include "common/result.h"

namespace amber::block::qcow2 {

struct RebuildStats {
  uint64_t clusters = 0;    // host clusters covered by the new refcounts
  uint64_t referenced = 0;  // clusters with a nonzero refcount
  uint64_t refcount_table_offset = 0;
  uint32_t refcount_table_clusters = 0;
  uint64_t refcount_blocks = 0;
};

// `refcounts[c]` is cluster c's refcount; the new structure's own clusters
// are added to it. Updates `header` (refcount table fields) and writes the
// header. Flushes before and after the header update.
Result<RebuildStats> write_refcount_structure(io::File& file, Header& header,
                                              std::vector<uint32_t>& refcounts);

// Counts with walk_references (which stops at the first damaged entry)
// and writes the structure; the old structure's clusters end up free.
Result<RebuildStats> rebuild_refcounts(io::File& file, Header& header);

}  // namespace amber::block::qcow2
