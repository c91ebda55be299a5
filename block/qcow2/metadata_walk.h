// SPDX-License-Identifier: GPL-2.0-or-later
// walk_references: visits every host range that a qcow2 image's tables
// reference (header, L1 tables, L2 tables, data and compressed clusters,
// snapshot table, refcount table and blocks, LUKS area), validating every entry on the
// way. Each reference is visited once, so per-cluster visit counts are the
// refcounts QEMU expects (an L2 table reached from two L1 tables, and its
// data clusters, are visited twice). Entries are decoded by l2_entry.h, as
// in `check` (which counts references itself, tolerating and reporting
// damage, where this walk stops at the first bad entry; it never calls
// this walk, not even for `-r all`, which hands its own counts to
// write_refcount_structure). Used by rebuild_refcounts (a dirty image's
// read-write open) and the tests' consistency check.
//
// Thread-safety: reads `file` only; the caller must keep writers away.
#pragma once

#include <cstdint>
#include <functional>

#include "block/io/file.h"
#include "block/qcow2/header.h"
#include "common/result.h"

namespace amber::block::qcow2 {

enum class ClusterUse {
  kHeader,
  kL1Table,  // active L1
  kSnapshotL1Table,
  kL2Table,
  kData,        // standard or zero-allocated data cluster
  kCompressed,  // sector-aligned range of compressed data
  kSnapshotTable,
  kRefcountTable,
  kRefcountBlock,
  kCryptoHeader,  // the LUKS area of an encrypted image
};

struct Reference {
  uint64_t offset = 0;  // host byte offset
  uint64_t bytes = 0;   // length of the range (whole clusters except kCompressed)
  ClusterUse use = ClusterUse::kData;
  bool copied = false;  // the entry's COPIED flag (L1/L2 entries)
  bool active = false;  // reached from the active L1 table
};

using ReferenceVisitor = std::function<Result<void>(const Reference&)>;

// Whether the walk visits the refcount table and blocks (a rebuild skips
// them: it places new ones).
enum class RefcountStructures { kVisit, kSkip };

Result<void> walk_references(io::File& file, const Header& header, RefcountStructures refcounts,
                             const ReferenceVisitor& visit);

}  // namespace amber::block::qcow2
