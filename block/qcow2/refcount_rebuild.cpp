// SPDX-License-Identifier: GPL-2.0-or-later
#include "block/qcow2/refcount_rebuild.h"

#include <algorithm>

#include "block/qcow2/format.h"
#include "block/qcow2/metadata_walk.h"
#include "block/qcow2/refcount.h"

namespace amber::block::qcow2 {
namespace {

// Host clusters a rebuild may count in memory (4 bytes each: 256 MiB, i.e.
// 4 TiB of host file at 64 KiB clusters); bounds memory for hostile files.
constexpr uint64_t kMaxRebuildClusters = uint64_t{1} << 26;

class StructureWriter {
 public:
  StructureWriter(io::File& file, const Header& header, std::vector<uint32_t>& refs)
      : file_(file),
        header_(header),
        refs_(refs),
        cs_(header.cluster_size()),
        block_entries_(cs_ * 8 >> header.refcount_order) {}

  // QEMU's alloc_clusters_imrt: the first run of `count` free clusters at
  // or after `*first_free` (the array grows at the end when none), which
  // then get refcount 1; `*first_free` moves to the first free cluster seen.
  Result<uint64_t> allocate(uint64_t count, uint64_t* first_free) {
    uint64_t cluster = *first_free;
    uint64_t run = 0;
    bool first_gap = true;
    for (; cluster < refs_.size() && run < count; ++cluster) {
      if (refs_[cluster] == 0) {
        if (first_gap) *first_free = cluster;
        first_gap = false;
        ++run;
      } else {
        run = 0;
      }
    }
    if (run < count) {
      const uint64_t end = cluster + count - run;
      if (end > kMaxRebuildClusters)
        return Error(ErrorKind::kNoSpace, "refcount rebuild: no room for the refcount structure");
      refs_.resize(end, 0);
      cluster = end;
      run = count;
    }
    const uint64_t start = cluster - run;
    for (uint64_t c = start; c < start + count; ++c) refs_[c] = 1;
    return start;
  }

  // QEMU's rebuild_refcounts_write_refblocks over clusters [first, end):
  // gives every refcount block covering an in-use cluster a place and
  // writes it; true when the table needed more entries.
  Result<bool> write_blocks(uint64_t first, uint64_t end) {
    bool grown = false;
    uint64_t first_free = 0;
    for (uint64_t cluster = first; cluster < end; ++cluster) {
      if (cluster >= refs_.size() || refs_[cluster] == 0) continue;
      const uint64_t index = cluster / block_entries_;
      const uint64_t block_start = index * block_entries_;
      if (index >= table_.size() || table_[index] == 0) {
        first_free = std::max(first_free, block_start);
        AMBER_TRY_ASSIGN(uint64_t block, allocate(1, &first_free));
        if (block >= end) end = block + 1;  // its own refcount must be written too
        if (index >= table_.size()) {
          table_.resize(align_up((index + 1) * 8, cs_) / 8, 0);
          grown = true;
        }
        table_[index] = block * cs_;
      }
      AMBER_TRY(write_block(index));
      cluster = block_start + block_entries_ - 1;
    }
    return grown;
  }

  Result<RebuildStats> run(Header& header) {
    AMBER_TRY(write_blocks(0, refs_.size()));
    uint64_t table_cluster = 0;
    uint64_t table_clusters = 0;
    for (bool grown = true; grown;) {
      table_clusters = table_.size() * 8 / cs_;
      if (table_clusters * cs_ > kMaxRefcountTableBytes)
        return Error(ErrorKind::kNoSpace, "refcount rebuild: table would exceed 8 MiB");
      uint64_t first_free = 0;
      AMBER_TRY_ASSIGN(table_cluster, allocate(table_clusters, &first_free));
      AMBER_TRY_ASSIGN(grown, write_blocks(table_cluster, table_cluster + table_clusters));
    }
    std::vector<uint64_t> be(table_.size());
    for (size_t i = 0; i < table_.size(); ++i) be[i] = __builtin_bswap64(table_[i]);
    AMBER_TRY(io::write_exact(file_, table_cluster * cs_, be.data(), be.size() * 8));
    AMBER_TRY(file_.flush());
    header.refcount_table_offset = table_cluster * cs_;
    header.refcount_table_clusters = static_cast<uint32_t>(table_clusters);
    Header copy = header;
    AMBER_TRY_ASSIGN(std::vector<uint8_t> bytes, serialize_header(copy));
    AMBER_TRY(io::write_exact(file_, 0, bytes.data(), bytes.size()));
    AMBER_TRY(file_.flush());
    RebuildStats stats;
    stats.clusters = refs_.size();
    stats.referenced = static_cast<uint64_t>(
        std::count_if(refs_.begin(), refs_.end(), [](uint32_t r) { return r != 0; }));
    stats.refcount_table_offset = header.refcount_table_offset;
    stats.refcount_table_clusters = header.refcount_table_clusters;
    stats.refcount_blocks = static_cast<uint64_t>(
        std::count_if(table_.begin(), table_.end(), [](uint64_t e) { return e != 0; }));
    return stats;
  }

 private:
  Result<void> write_block(uint64_t index) {
    std::vector<uint8_t> block(cs_, 0);
    const uint64_t max = header_.refcount_order == 6
                             ? UINT64_MAX
                             : (uint64_t{1} << (1u << header_.refcount_order)) - 1;
    for (uint64_t i = 0; i < block_entries_; ++i) {
      const uint64_t c = index * block_entries_ + i;
      if (c >= refs_.size()) break;
      // The counter saturates at the widest refcount (check reports an
      // overflow); a narrower refcount_bits stores its maximum.
      set_refcount_entry(block.data(), i, header_.refcount_order,
                         std::min<uint64_t>(refs_[c], max));
    }
    return io::write_exact(file_, table_[index], block.data(), cs_);
  }

  io::File& file_;
  const Header& header_;
  std::vector<uint32_t>& refs_;
  uint64_t cs_;
  uint64_t block_entries_;
  std::vector<uint64_t> table_;  // host-endian
};

}  // namespace

Result<RebuildStats> write_refcount_structure(io::File& file, Header& header,
                                              std::vector<uint32_t>& refcounts) {
  StructureWriter writer(file, header, refcounts);
  return writer.run(header);
}

Result<RebuildStats> rebuild_refcounts(io::File& file, Header& header) {
  const uint64_t cs = header.cluster_size();
  AMBER_TRY_ASSIGN(uint64_t file_size, file.size());
  const uint64_t file_clusters = div_round_up(file_size, cs);
  if (file_clusters > kMaxRebuildClusters)
    return Error(ErrorKind::kUnsupported, "refcount rebuild: file too large (" +
                                              std::to_string(file_clusters) + " clusters)");
  std::vector<uint32_t> refs(file_clusters, 0);
  // The counters are 32-bit; wider refcounts are capped there.
  const uint64_t max_ref = std::min<uint64_t>(
      UINT32_MAX,
      header.refcount_order >= 5 ? UINT32_MAX : (uint64_t{1} << (1u << header.refcount_order)) - 1);
  auto add = [&](const Reference& r) -> Result<void> {
    const uint64_t first = r.offset / cs;
    const uint64_t last = (r.offset + r.bytes - 1) / cs;
    if (last >= kMaxRebuildClusters)
      return Error(ErrorKind::kCorrupt, "refcount rebuild: reference to " + to_hex(r.offset) +
                                            " is beyond the rebuild limit");
    if (last >= refs.size()) refs.resize(last + 1, 0);
    for (uint64_t c = first; c <= last; ++c) {
      if (refs[c] >= max_ref)
        return Error(ErrorKind::kCorrupt, "refcount rebuild: cluster " + std::to_string(c) +
                                              " has more references than refcount_bits allow");
      ++refs[c];
    }
    return ok();
  };
  AMBER_TRY(walk_references(file, header, RefcountStructures::kSkip, add));
  return write_refcount_structure(file, header, refs);
}

}  // namespace amber::block::qcow2
