// SPDX-License-Identifier: GPL-2.0-or-later
#include "block/qcow2/metadata_walk.h"

#include <vector>

#include "block/qcow2/format.h"
#include "block/qcow2/l2_entry.h"
#include "block/qcow2/snapshot.h"

namespace amber::block::qcow2 {
namespace {

struct Walker {
  io::File& file;
  const Header& h;
  const ReferenceVisitor& visit;
  uint64_t cs;
  uint64_t file_end;
  bool extended;

  Result<void> emit(uint64_t offset, uint64_t bytes, ClusterUse use, bool copied, bool active) {
    Reference r;
    r.offset = offset;
    r.bytes = bytes;
    r.use = use;
    r.copied = copied;
    r.active = active;
    return visit(r);
  }

  Result<void> walk_l2(uint64_t table, bool active) {
    std::vector<uint64_t> words(cs / 8);
    AMBER_TRY(io::read_exact(file, table, words.data(), cs));
    const uint64_t step = extended ? 2 : 1;
    for (uint64_t i = 0; i < words.size(); i += step) {
      const L2Entry e =
          decode_l2_entry(__builtin_bswap64(words[i]),
                          extended ? __builtin_bswap64(words[i + 1]) : 0, h.cluster_bits, extended);
      auto where = [&] {
        return "L2 entry " + std::to_string(i / step) + " of table " + to_hex(table);
      };
      if (e.kind == L2EntryKind::kCompressed) {
        if (e.host_offset >= file_end)
          return Error(ErrorKind::kCorrupt,
                       "compressed " + where() + " points beyond the end of the file");
        const HostRange range = referenced_range(e, h.cluster_bits);
        AMBER_TRY(emit(range.offset, range.bytes, ClusterUse::kCompressed, false, active));
        continue;
      }
      if (e.reserved_bits) return Error(ErrorKind::kCorrupt, where() + " has reserved bits set");
      if (!e.has_host_cluster()) continue;
      // Clusters of an external data file are not in this file.
      if (h.incompatible_features & kIncompatDataFile) continue;
      if (e.host_offset % cs != 0)
        return Error(ErrorKind::kCorrupt, where() + " points to " + to_hex(e.host_offset) +
                                              ", which is not cluster aligned");
      if (e.host_offset + cs > file_end)
        return Error(ErrorKind::kCorrupt, where() + " points to " + to_hex(e.host_offset) +
                                              ", beyond the end of the file");
      AMBER_TRY(emit(e.host_offset, cs, ClusterUse::kData, e.copied, active));
    }
    return ok();
  }

  Result<void> walk_l1(uint64_t offset, uint32_t size, bool active) {
    if (size == 0) return ok();
    AMBER_TRY(emit(offset, align_up(uint64_t{size} * 8, cs),
                   active ? ClusterUse::kL1Table : ClusterUse::kSnapshotL1Table, false, active));
    std::vector<uint64_t> l1(size);
    AMBER_TRY(io::read_exact(file, offset, l1.data(), l1.size() * 8));
    for (uint32_t i = 0; i < size; ++i) {
      const uint64_t e = __builtin_bswap64(l1[i]);
      const uint64_t table = e & kL1OffsetMask;
      if (table == 0) continue;
      if ((e & kL1ReservedMask) != 0 || table + cs > file_end)
        return Error(ErrorKind::kCorrupt, "L1 entry " + std::to_string(i) + " (" + to_hex(e) +
                                              ") has reserved bits set or points beyond the file");
      AMBER_TRY(emit(table, cs, ClusterUse::kL2Table, (e & kOflagCopied) != 0, active));
      AMBER_TRY(walk_l2(table, active));
    }
    return ok();
  }
};

}  // namespace

Result<void> walk_references(io::File& file, const Header& header, RefcountStructures refcounts,
                             const ReferenceVisitor& visit) {
  AMBER_TRY_ASSIGN(uint64_t file_size, file.size());
  Walker w{file,
           header,
           visit,
           header.cluster_size(),
           align_up(file_size, header.cluster_size()),
           header.extended_l2()};
  AMBER_TRY(w.emit(0, w.cs, ClusterUse::kHeader, false, true));
  // QEMU counts the LUKS area as one reference (its crypto_header).
  if (auto area = crypto_area(header); area && area->length != 0 && area->length <= w.file_end)
    AMBER_TRY(
        w.emit(area->offset, align_up(area->length, w.cs), ClusterUse::kCryptoHeader, false, true));
  AMBER_TRY(w.walk_l1(header.l1_table_offset, header.l1_size, true));
  AMBER_TRY_ASSIGN(SnapshotTable snaps,
                   read_snapshot_table(file, header.snapshots_offset, header.nb_snapshots,
                                       header.version, header.cluster_bits));
  if (header.nb_snapshots != 0)
    AMBER_TRY(w.emit(header.snapshots_offset, align_up(snaps.bytes, w.cs),
                     ClusterUse::kSnapshotTable, false, false));
  for (const auto& s : snaps.snapshots) AMBER_TRY(w.walk_l1(s.l1_table_offset, s.l1_size, false));
  if (refcounts == RefcountStructures::kSkip) return ok();
  const uint64_t table_bytes = uint64_t{header.refcount_table_clusters} * w.cs;
  AMBER_TRY(
      w.emit(header.refcount_table_offset, table_bytes, ClusterUse::kRefcountTable, false, true));
  std::vector<uint64_t> table(table_bytes / 8);
  AMBER_TRY(io::read_exact(file, header.refcount_table_offset, table.data(), table_bytes));
  for (size_t i = 0; i < table.size(); ++i) {
    const uint64_t e = __builtin_bswap64(table[i]);
    if (e == 0) continue;
    if ((e & (w.cs - 1)) != 0 || e + w.cs > w.file_end)
      return Error(ErrorKind::kCorrupt, "refcount table entry " + std::to_string(i) + " (" +
                                            to_hex(e) + ") is unaligned or beyond the file");
    AMBER_TRY(w.emit(e, w.cs, ClusterUse::kRefcountBlock, false, true));
  }
  return ok();
}

}  // namespace amber::block::qcow2
