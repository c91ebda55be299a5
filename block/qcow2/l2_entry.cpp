// SPDX-License-Identifier: GPL-2.0-or-later
#include "block/qcow2/l2_entry.h"

#include "block/qcow2/format.h"

namespace amber::block::qcow2 {

L2Entry decode_l2_entry(uint64_t word, uint64_t bitmap, uint32_t cluster_bits, bool extended) {
  L2Entry e;
  e.word = word;
  e.bitmap = extended ? bitmap : 0;
  e.copied = (word & kOflagCopied) != 0;
  if (word & kOflagCompressed) {
    // Compressed descriptor: offset in bits 0..x-1, (sectors - 1) in bits
    // x..61, x = 62 - (cluster_bits - 8).
    const uint32_t shift = 62 - (cluster_bits - 8);
    const uint64_t sector_mask = (uint64_t{1} << (cluster_bits - 8)) - 1;
    e.kind = L2EntryKind::kCompressed;
    e.host_offset = word & ((uint64_t{1} << shift) - 1);
    const uint64_t sectors = ((word >> shift) & sector_mask) + 1;
    e.compressed_bytes =
        sectors * kCompressedSectorSize - (e.host_offset & (kCompressedSectorSize - 1));
    return e;
  }
  e.reserved_bits = (word & kL2StdReservedMask) != 0;
  e.host_offset = word & kL2OffsetMask;
  // The zero flag (bit 0) means "zero" only without subclusters.
  const bool zero = !extended && (word & kOflagZero) != 0;
  if (zero)
    e.kind = e.host_offset != 0 ? L2EntryKind::kZeroAllocated : L2EntryKind::kZeroPlain;
  else
    e.kind = e.host_offset != 0 ? L2EntryKind::kNormal : L2EntryKind::kUnallocated;
  return e;
}

HostRange referenced_range(const L2Entry& entry, uint32_t cluster_bits) {
  if (entry.kind == L2EntryKind::kCompressed) return {entry.host_offset, entry.compressed_bytes};
  if (entry.has_host_cluster()) return {entry.host_offset, uint64_t{1} << cluster_bits};
  return {};
}

}  // namespace amber::block::qcow2
