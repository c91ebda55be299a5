// SPDX-License-Identifier: GPL-2.0-or-later
// The one decoder of qcow2 L2 entries (standard and extended, QEMU's
// cluster types). The read path (Qcow2Image::classify), walk_references
// (refcount rebuilds, test consistency checks) and `check` all decode
// entries here, so they agree on what an entry is and which host bytes it
// references.
//
// Thread-safety: values and pure functions only.
#pragma once

#include <cstdint>

namespace amber::block::qcow2 {

// QEMU's QCow2ClusterType.
enum class L2EntryKind {
  kUnallocated,    // no host offset (with subclusters: maybe zero subclusters)
  kZeroPlain,      // zero flag, no host offset (standard L2 only)
  kZeroAllocated,  // zero flag with a host offset (standard L2 only)
  kNormal,         // a host offset (with subclusters: any allocation bitmap)
  kCompressed,
};

struct L2Entry {
  L2EntryKind kind = L2EntryKind::kUnallocated;
  uint64_t word = 0;    // the descriptor (first 64-bit word)
  uint64_t bitmap = 0;  // extended L2: the subcluster bitmap word; else 0
  // kNormal / kZeroAllocated: the offset field, possibly unaligned (that
  // is a corruption the caller reports). kCompressed: the byte offset of
  // the compressed data (at most 61 bits; may exceed the 56-bit space).
  uint64_t host_offset = 0;
  // kCompressed: bytes from host_offset to the end of the last 512-byte
  // sector (QEMU's csize); the clusters they touch are referenced.
  uint64_t compressed_bytes = 0;
  bool copied = false;         // OFLAG_COPIED
  bool reserved_bits = false;  // standard reserved bits set (never for compressed)

  bool has_host_cluster() const {
    return kind == L2EntryKind::kNormal || kind == L2EntryKind::kZeroAllocated;
  }
  uint32_t allocated_subclusters() const { return static_cast<uint32_t>(bitmap); }
  uint32_t zero_subclusters() const { return static_cast<uint32_t>(bitmap >> 32); }
  // Extended L2: a subcluster both allocated and zero (QEMU: invalid).
  bool bitmap_conflict() const { return (allocated_subclusters() & zero_subclusters()) != 0; }
  // Whether the entry holds guest data: an allocated subcluster, or (standard
  // L2) a normal cluster. False for a preallocated zero cluster.
  bool contains_data(bool extended) const {
    if (kind == L2EntryKind::kCompressed) return true;
    if (!has_host_cluster()) return false;
    return extended ? allocated_subclusters() != 0 : kind == L2EntryKind::kNormal;
  }
};

// Decodes one entry; `bitmap` is ignored (taken as 0) without extended L2.
L2Entry decode_l2_entry(uint64_t word, uint64_t bitmap, uint32_t cluster_bits, bool extended);

// The host byte range an entry makes the image reference (what refcounts
// count): a whole cluster from host_offset, the compressed bytes, or none.
struct HostRange {
  uint64_t offset = 0;
  uint64_t bytes = 0;
};
HostRange referenced_range(const L2Entry& entry, uint32_t cluster_bits);

}  // namespace amber::block::qcow2
