#include "block/qcow2/refcount_rebuild.h"

#include <algorithm>
#include <vector>

#include "block/qcow2/format.h"
#include "block/qcow2/metadata_walk.h"
#include "block/qcow2/refcount.h"

namespace amber::block::qcow2 {
namespace {

// Host clusters a rebuild may count in memory (4 bytes each: 256 MiB, i.e.
// 4 TiB of host file at 64 KiB clusters); bounds memory for hostile files.
constexpr uint64_t kMaxRebuildClusters = uint64_t{1} << 26;

}  // namespace

Result<RebuildStats> rebuild_refcounts(io::File& file, Header& header) {
  const uint64_t cs = header.cluster_size();
  AMBER_TRY_ASSIGN(uint64_t file_size, file.size());
  const uint64_t file_clusters = div_round_up(file_size, cs);
  if (file_clusters > kMaxRebuildClusters)
    return Error(ErrorKind::kUnsupported, "refcount rebuild: file too large (" +
                                              std::to_string(file_clusters) + " clusters)");
  std::vector<uint32_t> refs(file_clusters, 0);
  auto add = [&](uint64_t offset, uint64_t bytes) -> Result<void> {
    const uint64_t first = offset / cs;
    const uint64_t last = (offset + bytes - 1) / cs;
    if (last >= kMaxRebuildClusters)
      return Error(ErrorKind::kCorrupt, "refcount rebuild: reference to " + to_hex(offset) +
                                            " is beyond the rebuild limit");
    if (last >= refs.size()) refs.resize(last + 1, 0);
    for (uint64_t c = first; c <= last; ++c)
      if (refs[c] != UINT32_MAX) ++refs[c];
    return ok();
  };
  AMBER_TRY(walk_references(file, header, false,
                            [&](const Reference& r) { return add(r.offset, r.bytes); }));

  // Lay out new refcount blocks and table after everything in use.
  const uint64_t block_entries = cs * 8 >> header.refcount_order;
  const uint64_t start = refs.size();
  uint64_t blocks = 0, table_clusters = 0;
  for (;;) {
    const uint64_t total = start + blocks + table_clusters;
    const uint64_t nb = div_round_up(total, block_entries);
    const uint64_t tc = div_round_up(nb * 8, cs);
    if (nb == blocks && tc == table_clusters) break;
    blocks = nb;
    table_clusters = tc;
  }
  if (table_clusters * cs > kMaxRefcountTableBytes)
    return Error(ErrorKind::kNoSpace, "refcount rebuild: table would exceed 8 MiB");
  refs.resize(start + blocks + table_clusters, 1);
  const uint64_t max_ref =
      header.refcount_order == 6 ? UINT64_MAX : (uint64_t{1} << (1u << header.refcount_order)) - 1;
  RebuildStats stats;
  for (uint64_t c = 0; c < refs.size(); ++c) {
    if (refs[c] > max_ref)
      return Error(ErrorKind::kCorrupt, "refcount rebuild: cluster " + std::to_string(c) +
                                            " has " + std::to_string(refs[c]) +
                                            " references, more than refcount_bits allow");
    if (refs[c] != 0) ++stats.referenced;
  }
  std::vector<uint8_t> block(cs);
  std::vector<uint64_t> table(table_clusters * cs / 8, 0);
  for (uint64_t b = 0; b < blocks; ++b) {
    std::fill(block.begin(), block.end(), 0);
    for (uint64_t i = 0; i < block_entries; ++i) {
      const uint64_t c = b * block_entries + i;
      if (c >= refs.size()) break;
      set_refcount_entry(block.data(), i, header.refcount_order, refs[c]);
    }
    const uint64_t offset = (start + b) * cs;
    AMBER_TRY(io::write_exact(file, offset, block.data(), cs));
    table[b] = __builtin_bswap64(offset);
  }
  const uint64_t table_offset = (start + blocks) * cs;
  AMBER_TRY(io::write_exact(file, table_offset, table.data(), table.size() * 8));
  AMBER_TRY(file.flush());
  header.refcount_table_offset = table_offset;
  header.refcount_table_clusters = static_cast<uint32_t>(table_clusters);
  Header copy = header;
  AMBER_TRY_ASSIGN(std::vector<uint8_t> bytes, serialize_header(copy));
  AMBER_TRY(io::write_exact(file, 0, bytes.data(), bytes.size()));
  AMBER_TRY(file.flush());
  stats.clusters = refs.size();
  stats.refcount_table_offset = table_offset;
  stats.refcount_table_clusters = static_cast<uint32_t>(table_clusters);
  stats.refcount_blocks = blocks;
  return stats;
}

}  // namespace amber::block::qcow2
