// rebuild_refcounts: recomputes every refcount from the image's tables and
// writes a fresh refcount table and blocks at the end of the file (QEMU's
// "Rebuilding refcount structure"), then points the header at them. Used to
// repair a dirty image (lazy refcounts) on read-write open, and by
// `check -r all`. The old refcount structures become free clusters.
//
// Thread-safety: needs the file to itself (no open Image writing it).
#pragma once

#include <cstdint>

#include "block/io/file.h"
#include "block/qcow2/header.h"
#include "common/result.h"

namespace amber::block::qcow2 {

struct RebuildStats {
  uint64_t clusters = 0;          // host clusters covered by the new refcounts
  uint64_t referenced = 0;        // clusters with a nonzero refcount
  uint64_t refcount_table_offset = 0;
  uint32_t refcount_table_clusters = 0;
  uint64_t refcount_blocks = 0;
};

// Rewrites the refcount structure; updates `header` (refcount table fields)
// and writes the header. Flushes before and after the header update.
Result<RebuildStats> rebuild_refcounts(io::File& file, Header& header);

}  // namespace amber::block::qcow2
