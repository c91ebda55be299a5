// SPDX-License-Identifier: GPL-2.0-or-later
// Refcounts: the refcount table (kept whole in memory, at most 8 MiB) and
// an LRU cache of refcount blocks, for every refcount_order 0..6. Finds
// free clusters, grows refcount blocks (self-describing, as QEMU places
// them) and the refcount table, and checks for overflow and underflow.
//
// Writes are deferred: changes stay in memory until write_back(), which
// writes dirty blocks, then (after a flush) the table. The image calls it
// before writing the L2 slices that depend on the new refcounts.
//
// Thread-safety: none of its own; the image calls it only with its
// metadata mutex held.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "block/io/file.h"
#include "common/result.h"

namespace amber::block::qcow2 {

// Reads / writes entry `index` of a refcount block with 2^order-bit entries.
uint64_t get_refcount_entry(const uint8_t* block, uint64_t index, uint32_t order);
void set_refcount_entry(uint8_t* block, uint64_t index, uint32_t order, uint64_t value);

// Whether write_back flushes between the blocks and the table (QEMU's
// order), or not (lazy refcounts: the dirty bit and a rebuild cover it).
enum class WriteBackOrder { kFlushBeforeTable, kNoFlush };

class Refcounts {
 public:
  Refcounts(io::File& file, uint32_t cluster_bits, uint32_t refcount_order);

  // Loads and validates the table.
  Result<void> load(uint64_t table_offset, uint32_t table_clusters);
  // Records where the table is and loads it on the first get() (a
  // read-only image: most never ask a refcount, and a pool refresh opens
  // hundreds of them). Only get() may be called before that load.
  void load_later(uint64_t table_offset, uint32_t table_clusters);

  uint64_t max_refcount() const { return max_refcount_; }
  uint64_t table_offset() const { return table_offset_; }
  uint32_t table_clusters() const { return table_clusters_; }
  const std::vector<uint64_t>& table() const { return table_; }
  uint64_t block_entries() const { return block_entries_; }

  Result<uint64_t> get(uint64_t cluster);
  // Adds `delta` (may be negative) to a cluster's refcount; an overflow past
  // max_refcount() or an underflow below 0 is an error and changes nothing.
  Result<void> update(uint64_t cluster, int64_t delta);
  Result<void> update_range(uint64_t host_offset, uint64_t bytes, int64_t delta);
  // Allocates `count` contiguous free clusters (refcount 0 -> 1); returns
  // the host offset of the first.
  Result<uint64_t> allocate(uint64_t count, uint64_t search_from = 0);

  // QEMU's refcount area for a falloc/full resize: moves the table to
  // cluster `start` (the file's end), with the refcount blocks it still
  // lacks placed before it, sized so that `additional` more clusters after
  // the area are covered without growing again. The new table is written
  // and flushed before it replaces the old one, which is then freed.
  // Returns the first cluster after the area.
  Result<uint64_t> relocate_table(uint64_t start, uint64_t additional);
  // Takes `count` clusters from cluster `start` on (refcount 0 -> 1); they
  // must be free and covered by refcount blocks (relocate_table).
  Result<void> allocate_at(uint64_t start, uint64_t count);

  // Frees every refcount block that counts no cluster but (maybe) its own,
  // as qemu-img's shrink does, so the file can be truncated past them. The
  // table without them is written and flushed before any block it no
  // longer names is freed elsewhere; call it with nothing dirty.
  Result<void> release_unused_blocks();

  // Writes dirty blocks, then the table if it got new entries.
  Result<void> write_back(WriteBackOrder order);
  bool dirty() const { return dirty_blocks_ != 0 || table_dirty_; }

  // Called after the table moved (its new place is durable): the image
  // rewrites the header fields and flushes.
  std::function<Result<void>(uint64_t offset, uint32_t clusters)> on_table_moved;
  // Clusters that must never be handed out (metadata the image knows of).
  std::function<bool(uint64_t cluster)> is_reserved;
  // How many times a refcount has dropped to 0 (a cluster was freed).
  uint64_t frees() const { return frees_; }
  // Lowest cluster that might be free.
  void hint_free(uint64_t cluster) {
    if (cluster < free_hint_) free_hint_ = cluster;
  }

 private:
  struct Block {
    uint64_t offset = 0;
    std::vector<uint8_t> bytes;
    bool dirty = false;
    std::list<uint64_t>::iterator lru;
  };
  // Where a block not in the cache comes from: the file, or (a block just
  // allocated, not yet on disk) all zeros, marked dirty.
  enum class BlockSource { kFile, kNewZeroed };
  Result<Block*> block_for(uint64_t table_index, BlockSource source);
  Result<void> ensure_block(uint64_t table_index, int depth, uint64_t search_from);
  // Moves the table to a larger place: the new table is written and
  // flushed before it replaces the old one in memory; a failure before
  // that leaves memory as the file (abandon_growth).
  Result<void> grow_table(uint64_t min_entries, uint64_t search_from);
  void abandon_growth(size_t old_entries);
  // Returns whether any block was dirty.
  Result<bool> write_dirty_blocks();
  Result<void> write_table(uint64_t offset);
  Result<uint64_t> find_free_run(uint64_t count, uint64_t start);
  Result<void> evict();

  io::File& file_;
  uint32_t cluster_bits_;
  uint64_t cluster_size_;
  uint32_t order_;
  uint64_t max_refcount_;
  uint64_t block_entries_;
  uint64_t table_offset_ = 0;
  uint32_t table_clusters_ = 0;
  std::vector<uint64_t> table_;  // host-endian
  bool table_dirty_ = false;
  std::unordered_map<uint64_t, Block> blocks_;  // by table index
  std::unordered_set<uint64_t> block_offsets_;  // clusters holding refcount blocks
  std::list<uint64_t> lru_;
  size_t dirty_blocks_ = 0;
  bool load_pending_ = false;
  uint64_t free_hint_ = 0;
  uint64_t frees_ = 0;
  bool growing_ = false;
  uint64_t allocated_end_ = 0;  // end (in clusters) of what we handed out
  uint64_t file_clusters_ = 0;  // cached file size in clusters; 0 = unknown
};

}  // namespace amber::block::qcow2
