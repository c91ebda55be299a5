// SPDX-License-Identifier: GPL-2.0-or-later
#include "block/qcow2/refcount.h"

#include <algorithm>

#include "block/qcow2/format.h"

namespace amber::block::qcow2 {
namespace {

// Refcount blocks kept in memory at once: bounded independently of the
// image (64 blocks = 4 MiB at 64 KiB clusters); allocation walks them
// mostly sequentially, as QEMU's 4-cluster refcount cache assumes.
constexpr size_t kMaxCachedBlocks = 64;
// Nested refcount-block creation (a block whose own cluster lands in a
// region that has no block yet) settles in one or two steps; more means a
// broken image.
constexpr int kMaxEnsureDepth = 8;

}  // namespace

uint64_t get_refcount_entry(const uint8_t* block, uint64_t index, uint32_t order) {
  switch (order) {
    case 0:
      return (block[index / 8] >> (index % 8)) & 1;
    case 1:
      return (block[index / 4] >> (2 * (index % 4))) & 3;
    case 2:
      return (block[index / 2] >> (4 * (index % 2))) & 15;
    case 3:
      return block[index];
    case 4:
      return load_be16(block + 2 * index);
    case 5:
      return load_be32(block + 4 * index);
    default:
      return load_be64(block + 8 * index);
  }
}

void set_refcount_entry(uint8_t* block, uint64_t index, uint32_t order, uint64_t value) {
  auto set_bits = [&](uint64_t per_byte, unsigned width) {
    uint8_t& b = block[index / per_byte];
    const unsigned shift = static_cast<unsigned>(width * (index % per_byte));
    const uint8_t mask = static_cast<uint8_t>(((1u << width) - 1) << shift);
    b = static_cast<uint8_t>((b & ~mask) | ((value << shift) & mask));
  };
  switch (order) {
    case 0:
      set_bits(8, 1);
      break;
    case 1:
      set_bits(4, 2);
      break;
    case 2:
      set_bits(2, 4);
      break;
    case 3:
      block[index] = static_cast<uint8_t>(value);
      break;
    case 4:
      store_be16(block + 2 * index, static_cast<uint16_t>(value));
      break;
    case 5:
      store_be32(block + 4 * index, static_cast<uint32_t>(value));
      break;
    default:
      store_be64(block + 8 * index, value);
      break;
  }
}

Refcounts::Refcounts(io::File& file, uint32_t cluster_bits, uint32_t refcount_order)
    : file_(file),
      cluster_bits_(cluster_bits),
      cluster_size_(uint64_t{1} << cluster_bits),
      order_(refcount_order),
      max_refcount_(refcount_order == 6 ? ~uint64_t{0}
                                        : (uint64_t{1} << (1u << refcount_order)) - 1),
      block_entries_((uint64_t{1} << cluster_bits) * 8 >> refcount_order) {}

void Refcounts::load_later(uint64_t table_offset, uint32_t table_clusters) {
  table_offset_ = table_offset;
  table_clusters_ = table_clusters;
  load_pending_ = true;
}

Result<void> Refcounts::load(uint64_t table_offset, uint32_t table_clusters) {
  load_pending_ = false;
  table_offset_ = table_offset;
  table_clusters_ = table_clusters;
  // Bounded by the header check (refcount table <= 8 MiB).
  table_.assign(uint64_t{table_clusters} * cluster_size_ / 8, 0);
  AMBER_TRY(io::read_exact(file_, table_offset, table_.data(), table_.size() * 8));
  for (size_t i = 0; i < table_.size(); ++i) {
    uint64_t e = __builtin_bswap64(table_[i]);
    if ((e & kRefTableReservedMask) != 0 || (e & (cluster_size_ - 1)) != 0 || e > kMaxHostOffset)
      return Error(ErrorKind::kCorrupt, "refcount table entry " + std::to_string(i) + " (" +
                                            to_hex(e) +
                                            ") is not cluster aligned or has reserved bits set");
    table_[i] = e;
  }
  blocks_.clear();
  lru_.clear();
  block_offsets_.clear();
  for (uint64_t e : table_)
    if (e != 0) block_offsets_.insert(e >> cluster_bits_);
  dirty_blocks_ = 0;
  table_dirty_ = false;
  free_hint_ = 0;
  file_clusters_ = 0;
  return ok();
}

Result<void> Refcounts::evict() {
  while (blocks_.size() >= kMaxCachedBlocks) {
    const uint64_t victim = lru_.back();
    Block& b = blocks_.at(victim);
    if (b.dirty) {
      AMBER_TRY(io::write_exact(file_, b.offset, b.bytes.data(), b.bytes.size()));
      --dirty_blocks_;
    }
    lru_.pop_back();
    blocks_.erase(victim);
  }
  return ok();
}

Result<Refcounts::Block*> Refcounts::block_for(uint64_t table_index, BlockSource source) {
  auto found = blocks_.find(table_index);
  if (found != blocks_.end()) {
    lru_.splice(lru_.begin(), lru_, found->second.lru);
    return &found->second;
  }
  AMBER_TRY(evict());
  const uint64_t offset = table_[table_index];
  Block b;
  b.offset = offset;
  b.bytes.assign(cluster_size_, 0);
  if (source == BlockSource::kNewZeroed) {
    b.dirty = true;
    ++dirty_blocks_;
  } else {
    AMBER_TRY_ASSIGN(uint64_t file_size, file_.size());
    if (offset + cluster_size_ > align_up(file_size, cluster_size_))
      return Error(ErrorKind::kCorrupt, "refcount block " + std::to_string(table_index) + " at " +
                                            to_hex(offset) + " is beyond the end of the file");
    AMBER_TRY(io::read_exact(file_, offset, b.bytes.data(), b.bytes.size()));
  }
  lru_.push_front(table_index);
  b.lru = lru_.begin();
  auto [it, inserted] = blocks_.emplace(table_index, std::move(b));
  return &it->second;
}

Result<uint64_t> Refcounts::get(uint64_t cluster) {
  if (load_pending_) AMBER_TRY(load(table_offset_, table_clusters_));
  const uint64_t ti = cluster / block_entries_;
  if (ti >= table_.size() || table_[ti] == 0) return uint64_t{0};
  AMBER_TRY_ASSIGN(Block * b, block_for(ti, BlockSource::kFile));
  return get_refcount_entry(b->bytes.data(), cluster % block_entries_, order_);
}

Result<void> Refcounts::ensure_block(uint64_t table_index, int depth, uint64_t search_from) {
  if (depth > kMaxEnsureDepth)
    return Error(ErrorKind::kInternal, "refcount block allocation does not settle");
  for (;;) {
    if (table_index >= table_.size()) AMBER_TRY(grow_table(table_index + 1, search_from));
    if (table_[table_index] != 0) return ok();
    AMBER_TRY_ASSIGN(uint64_t free_cluster, find_free_run(1, std::max(free_hint_, search_from)));
    const uint64_t bi = free_cluster / block_entries_;
    if (bi == table_index) {
      // Self-describing: the block counts its own cluster.
      table_[table_index] = free_cluster << cluster_bits_;
      block_offsets_.insert(free_cluster);
      table_dirty_ = true;
      AMBER_TRY_ASSIGN(Block * b, block_for(table_index, BlockSource::kNewZeroed));
      set_refcount_entry(b->bytes.data(), free_cluster % block_entries_, order_, 1);
      return ok();
    }
    if (bi >= table_.size() || table_[bi] == 0) {
      AMBER_TRY(ensure_block(bi, depth + 1, search_from));
      continue;
    }
    AMBER_TRY(update(free_cluster, 1));
    table_[table_index] = free_cluster << cluster_bits_;
    block_offsets_.insert(free_cluster);
    table_dirty_ = true;
    AMBER_TRY(block_for(table_index, BlockSource::kNewZeroed));
    return ok();
  }
}

Result<void> Refcounts::update(uint64_t cluster, int64_t delta) {
  const uint64_t ti = cluster / block_entries_;
  if (delta > 0) {
    AMBER_TRY(ensure_block(ti, 0, 0));
  } else if (ti >= table_.size() || table_[ti] == 0) {
    return Error(ErrorKind::kCorrupt, "refcount underflow for cluster " + std::to_string(cluster) +
                                          " (no refcount block)");
  }
  AMBER_TRY_ASSIGN(Block * b, block_for(ti, BlockSource::kFile));
  const uint64_t index = cluster % block_entries_;
  const uint64_t old = get_refcount_entry(b->bytes.data(), index, order_);
  uint64_t value;
  if (delta >= 0) {
    if (static_cast<uint64_t>(delta) > max_refcount_ - old)
      return Error(ErrorKind::kNoSpace, "refcount overflow for cluster " + std::to_string(cluster) +
                                            " (refcount_bits " + std::to_string(1u << order_) +
                                            ")");
    value = old + static_cast<uint64_t>(delta);
  } else {
    const uint64_t minus = static_cast<uint64_t>(-delta);
    if (minus > old)
      return Error(ErrorKind::kCorrupt,
                   "refcount underflow for cluster " + std::to_string(cluster));
    value = old - minus;
  }
  set_refcount_entry(b->bytes.data(), index, order_, value);
  if (!b->dirty) {
    b->dirty = true;
    ++dirty_blocks_;
  }
  if (value == 0) {
    hint_free(cluster);
    ++frees_;
  }
  return ok();
}

Result<void> Refcounts::update_range(uint64_t host_offset, uint64_t bytes, int64_t delta) {
  if (bytes == 0) return ok();
  const uint64_t first = host_offset >> cluster_bits_;
  const uint64_t last = (host_offset + bytes - 1) >> cluster_bits_;
  for (uint64_t c = first; c <= last; ++c) AMBER_TRY(update(c, delta));
  return ok();
}

Result<uint64_t> Refcounts::find_free_run(uint64_t count, uint64_t start) {
  const uint64_t limit = kMaxHostOffset >> cluster_bits_;
  // Past the end of the file every cluster should be free; a hostile image
  // whose refcounts claim otherwise must not make us scan 2^56 bytes.
  // The file size is cached (one fstat per allocation showed up in
  // profiles); a scan that runs out refreshes it and retries once.
  if (file_clusters_ == 0) {
    AMBER_TRY_ASSIGN(uint64_t file_size, file_.size());
    file_clusters_ = file_size >> cluster_bits_;
  }
  const uint64_t known_end = std::max({file_clusters_, allocated_end_, start});
  const uint64_t scan_end = std::min(
      limit, known_end + count + 2 * block_entries_ + kMaxRefcountTableBytes / cluster_size_ + 64);
  uint64_t run_start = start;
  // Only a scan from the hint may move the hint.
  bool first_free_seen = start > free_hint_;
  for (uint64_t c = start; c < scan_end; ++c) {
    bool used = block_offsets_.count(c) != 0 || (is_reserved && is_reserved(c));
    if (!used) {
      AMBER_TRY_ASSIGN(uint64_t rc, get(c));
      used = rc != 0;
    }
    if (used) {
      run_start = c + 1;
      if (!first_free_seen) free_hint_ = c + 1;
      continue;
    }
    first_free_seen = true;
    if (c + 1 - run_start == count) {
      allocated_end_ = std::max(allocated_end_, run_start + count);
      return run_start;
    }
  }
  if (scan_end == limit)
    return Error(ErrorKind::kNoSpace, "qcow2 image is full (no free clusters below 2^56)");
  AMBER_TRY_ASSIGN(uint64_t file_size, file_.size());
  if ((file_size >> cluster_bits_) > file_clusters_) {
    file_clusters_ = file_size >> cluster_bits_;
    return find_free_run(count, start);
  }
  return Error(ErrorKind::kCorrupt,
               "refcounts mark clusters far beyond the end of the file as "
               "used; refusing to allocate (repair with 'check -r all')");
}

Result<uint64_t> Refcounts::allocate(uint64_t count, uint64_t search_from) {
  for (;;) {
    AMBER_TRY_ASSIGN(uint64_t start, find_free_run(count, std::max(free_hint_, search_from)));
    bool missing = false;
    const uint64_t last_ti = (start + count - 1) / block_entries_;
    for (uint64_t ti = start / block_entries_; ti <= last_ti; ++ti) {
      if (ti >= table_.size() || table_[ti] == 0) {
        // Place the new blocks after the run, as QEMU does.
        AMBER_TRY(ensure_block(ti, 0, start + count));
        missing = true;
      }
    }
    if (missing) continue;  // the new blocks may have taken part of the run
    for (uint64_t c = start; c < start + count; ++c) AMBER_TRY(update(c, 1));
    if (free_hint_ == start) free_hint_ = start + count;
    return start << cluster_bits_;
  }
}

Result<void> Refcounts::grow_table(uint64_t min_entries, uint64_t search_from) {
  if (growing_) return Error(ErrorKind::kInternal, "refcount table growth recursed");
  const uint64_t per_cluster = cluster_size_ / 8;
  // Room for what is needed now plus the blocks the move itself needs.
  const uint64_t want = std::max<uint64_t>(min_entries + 2, table_.size() + 1);
  const uint64_t clusters = div_round_up(want, per_cluster);
  if (clusters * cluster_size_ > kMaxRefcountTableBytes)
    return Error(ErrorKind::kNoSpace, "refcount table would exceed QEMU's 8 MiB limit");
  const uint64_t old_offset = table_offset_;
  const uint64_t old_clusters = table_clusters_;
  const size_t old_entries = table_.size();
  // The entries past the old table describe only blocks placed for the new
  // table; they stay in memory until the new table is on disk, and go again
  // if the growth fails (the table on disk and in memory stay the same).
  table_.resize(clusters * per_cluster, 0);
  growing_ = true;
  auto placed = allocate(clusters, search_from);
  growing_ = false;
  if (!placed.ok()) {
    abandon_growth(old_entries);
    return std::move(placed).error();
  }
  // The blocks, then the new table where nothing points yet.
  auto written = write_dirty_blocks();
  Result<void> stored = written.ok() ? file_.flush() : Result<void>(std::move(written).error());
  if (stored.ok()) stored = write_table(*placed);
  if (stored.ok()) stored = file_.flush();
  if (!stored.ok()) {
    abandon_growth(old_entries);
    return stored;
  }
  table_offset_ = *placed;
  table_clusters_ = static_cast<uint32_t>(clusters);
  table_dirty_ = false;
  if (on_table_moved) {
    // On failure the header may name either table; both describe what is
    // durable, and the image rewrites its header before any table that
    // depends on the new one. The old table is then leaked, not freed.
    AMBER_TRY(on_table_moved(table_offset_, table_clusters_));
  }
  return update_range(old_offset, old_clusters * cluster_size_, -1);
}

Result<uint64_t> Refcounts::relocate_table(uint64_t start, uint64_t additional) {
  const uint64_t per_cluster = cluster_size_ / 8;
  // The area holds the missing blocks and the table; both depend on how
  // far the blocks must reach, which includes the area: iterate to the
  // fixed point (it only grows, so it ends).
  std::vector<uint64_t> missing;  // table indices that get a new block
  uint64_t table_clusters = 0;
  for (;;) {
    const uint64_t end = start + missing.size() + table_clusters + additional;
    const uint64_t indices = div_round_up(end, block_entries_);
    std::vector<uint64_t> want;
    for (uint64_t ti = start / block_entries_; ti < indices; ++ti)
      if (ti >= table_.size() || table_[ti] == 0) want.push_back(ti);
    const uint64_t clusters = div_round_up(std::max<uint64_t>(table_.size(), indices), per_cluster);
    if (clusters * cluster_size_ > kMaxRefcountTableBytes)
      return Error(ErrorKind::kNoSpace, "refcount table would exceed QEMU's 8 MiB limit");
    if (want.size() == missing.size() && clusters == table_clusters) break;
    missing = std::move(want);
    table_clusters = clusters;
  }
  const uint64_t table_start = start + missing.size();
  const uint64_t area_end = table_start + table_clusters;
  const uint64_t old_offset = table_offset_;
  const uint64_t old_clusters = table_clusters_;
  const size_t old_entries = table_.size();
  auto abandon = [&] {
    for (uint64_t ti : missing) {
      if (ti >= old_entries) continue;  // abandon_growth drops those
      block_offsets_.erase(table_[ti] >> cluster_bits_);
      auto found = blocks_.find(ti);
      if (found != blocks_.end()) {
        if (found->second.dirty) --dirty_blocks_;
        lru_.erase(found->second.lru);
        blocks_.erase(found);
      }
      table_[ti] = 0;
    }
    abandon_growth(old_entries);
  };
  table_.resize(std::max<size_t>(table_.size(), table_clusters * per_cluster), 0);
  Result<void> placed = ok();
  for (size_t k = 0; k < missing.size() && placed.ok(); ++k) {
    table_[missing[k]] = (start + k) << cluster_bits_;
    block_offsets_.insert(start + k);
    auto block = block_for(missing[k], BlockSource::kNewZeroed);
    if (!block.ok()) placed = std::move(block).error();
  }
  for (uint64_t c = start; c < area_end && placed.ok(); ++c) placed = update(c, 1);
  if (placed.ok()) {
    auto written = write_dirty_blocks();
    placed = written.ok() ? file_.flush() : Result<void>(std::move(written).error());
  }
  if (placed.ok()) placed = write_table(table_start << cluster_bits_);
  if (placed.ok()) placed = file_.flush();
  if (!placed.ok()) {
    abandon();
    return std::move(placed).error();
  }
  table_offset_ = table_start << cluster_bits_;
  table_clusters_ = static_cast<uint32_t>(table_clusters);
  table_dirty_ = false;
  allocated_end_ = std::max(allocated_end_, area_end);
  if (on_table_moved) AMBER_TRY(on_table_moved(table_offset_, table_clusters_));
  AMBER_TRY(update_range(old_offset, old_clusters * cluster_size_, -1));
  return area_end;
}

Result<void> Refcounts::allocate_at(uint64_t start, uint64_t count) {
  for (uint64_t c = start; c < start + count; ++c) {
    AMBER_TRY_ASSIGN(uint64_t rc, get(c));
    if (rc != 0 || block_offsets_.count(c) != 0 || (is_reserved && is_reserved(c)))
      return Error(ErrorKind::kInternal,
                   "cluster " + std::to_string(c) + " is not free for preallocation");
  }
  for (uint64_t c = start; c < start + count; ++c) AMBER_TRY(update(c, 1));
  allocated_end_ = std::max(allocated_end_, start + count);
  return ok();
}

void Refcounts::abandon_growth(size_t old_entries) {
  for (size_t index = old_entries; index < table_.size(); ++index) {
    if (table_[index] == 0) continue;
    block_offsets_.erase(table_[index] >> cluster_bits_);
    auto found = blocks_.find(index);
    if (found == blocks_.end()) continue;
    if (found->second.dirty) --dirty_blocks_;
    lru_.erase(found->second.lru);
    blocks_.erase(found);
  }
  table_.resize(old_entries);
  // Blocks placed inside the old table during the growth are real ones.
  table_dirty_ = true;
}

Result<bool> Refcounts::write_dirty_blocks() {
  if (dirty_blocks_ == 0) return false;
  std::vector<Block*> dirty;
  for (auto& [ti, b] : blocks_) {
    if (b.dirty) dirty.push_back(&b);
  }
  std::sort(dirty.begin(), dirty.end(), [](Block* a, Block* b) { return a->offset < b->offset; });
  for (Block* b : dirty) {
    AMBER_TRY(io::write_exact(file_, b->offset, b->bytes.data(), b->bytes.size()));
    b->dirty = false;
    --dirty_blocks_;
  }
  return true;
}

Result<void> Refcounts::write_table(uint64_t offset) {
  std::vector<uint64_t> be(table_.size());
  for (size_t i = 0; i < be.size(); ++i) be[i] = __builtin_bswap64(table_[i]);
  return io::write_exact(file_, offset, be.data(), be.size() * 8);
}

Result<void> Refcounts::write_back(WriteBackOrder order) {
  AMBER_TRY_ASSIGN(bool wrote, write_dirty_blocks());
  if (!table_dirty_) return ok();
  if (wrote && order == WriteBackOrder::kFlushBeforeTable) AMBER_TRY(file_.flush());
  AMBER_TRY(write_table(table_offset_));
  table_dirty_ = false;
  return ok();
}

Result<void> Refcounts::release_unused_blocks() {
  std::vector<uint64_t> counted_elsewhere;  // freed blocks another block counts
  for (uint64_t index = table_.size(); index-- > 0;) {
    if (table_[index] == 0) continue;
    const uint64_t self = table_[index] >> cluster_bits_;
    const uint64_t first = index * block_entries_;
    bool unused = true;
    for (uint64_t c = first; c < first + block_entries_ && unused; ++c) {
      AMBER_TRY_ASSIGN(uint64_t count, get(c));
      unused = count == 0 || (c == self && count == 1);
    }
    if (!unused) continue;
    if (auto found = blocks_.find(index); found != blocks_.end()) {
      if (found->second.dirty) --dirty_blocks_;
      lru_.erase(found->second.lru);
      blocks_.erase(found);
    }
    block_offsets_.erase(self);
    table_[index] = 0;
    table_dirty_ = true;
    if (self < first || self >= first + block_entries_) counted_elsewhere.push_back(self);
    hint_free(self);
    ++frees_;
  }
  if (!table_dirty_) return ok();
  AMBER_TRY(write_table(table_offset_));
  AMBER_TRY(file_.flush());
  table_dirty_ = false;
  for (uint64_t cluster : counted_elsewhere) AMBER_TRY(update(cluster, -1));
  return ok();
}

}  // namespace amber::block::qcow2
