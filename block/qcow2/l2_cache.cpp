// SPDX-License-Identifier: GPL-2.0-or-later
#include "block/qcow2/l2_cache.h"

#include <algorithm>

#include "block/qcow2/format.h"

namespace amber::block::qcow2 {

L2Cache::L2Cache(io::File& file, uint64_t slice_bytes, uint64_t capacity_slices)
    : file_(file), slice_bytes_(slice_bytes), capacity_(std::max<uint64_t>(capacity_slices, 2)) {
  map_.reserve(capacity_ * 2);
}

L2Cache::Slice* L2Cache::insert(uint64_t offset) {
  auto slice = std::make_unique<Slice>();
  slice->offset = offset;
  slice->words.assign(slice_bytes_ / 8, 0);
  lru_.push_front(slice.get());
  slice->lru = lru_.begin();
  Slice* raw = slice.get();
  map_.emplace(offset, std::move(slice));
  return raw;
}

void L2Cache::evict_clean(size_t room) {
  // Walk from the back; a referenced slice gets a second chance (moved to
  // the front, flag cleared) at most once per call.
  size_t budget = lru_.size();
  auto it = lru_.end();
  while (map_.size() + room > capacity_ && it != lru_.begin() && budget-- > 0) {
    --it;
    Slice* s = *it;
    if (s->dirty) continue;
    if (s->referenced.load(std::memory_order_relaxed)) {
      s->referenced.store(false, std::memory_order_relaxed);
      auto next = std::next(it);
      lru_.splice(lru_.begin(), lru_, it);
      it = next;
      continue;
    }
    it = lru_.erase(it);
    map_.erase(s->offset);
  }
  // Everything was referenced: evict clean ones from the back regardless.
  it = lru_.end();
  while (map_.size() + room > capacity_ && it != lru_.begin()) {
    --it;
    Slice* s = *it;
    if (s->dirty) continue;
    it = lru_.erase(it);
    map_.erase(s->offset);
  }
}

Result<L2Cache::Slice*> L2Cache::get(uint64_t offset) {
  if (Slice* hit = find(offset)) return hit;
  evict_clean(1);
  Slice* s = insert(offset);
  auto r = io::read_exact(file_, offset, s->words.data(), slice_bytes_);
  if (!r.ok()) {
    lru_.erase(s->lru);
    map_.erase(offset);
    return std::move(r).error();
  }
  for (auto& w : s->words) w = __builtin_bswap64(w);
  return s;
}

Result<void> L2Cache::write_back() {
  std::vector<uint64_t> offsets;
  {
    std::shared_lock lock(mutex_);
    if (dirty_ == 0) return ok();
    offsets.reserve(dirty_);
    for (auto& [offset, s] : map_) {
      if (s->dirty) offsets.push_back(offset);
    }
  }
  std::sort(offsets.begin(), offsets.end());
  std::vector<uint64_t> buf(slice_bytes_ / 8);
  std::vector<std::pair<uint64_t, uint64_t>> written;  // offset, changes when copied
  written.reserve(offsets.size());
  Result<void> result = ok();
  for (uint64_t offset : offsets) {
    uint64_t changes;
    {
      std::shared_lock lock(mutex_);
      auto found = map_.find(offset);
      if (found == map_.end() || !found->second->dirty) continue;  // dropped meanwhile
      const Slice& s = *found->second;
      for (size_t i = 0; i < buf.size(); ++i) buf[i] = __builtin_bswap64(s.words[i]);
      changes = s.changes;
    }
    result = io::write_exact(file_, offset, buf.data(), slice_bytes_);
    if (!result.ok()) break;
    written.emplace_back(offset, changes);
  }
  std::lock_guard lock(mutex_);
  for (auto [offset, changes] : written) {
    auto found = map_.find(offset);
    if (found == map_.end()) continue;
    Slice& s = *found->second;
    if (s.dirty && s.changes == changes) {
      s.dirty = false;
      --dirty_;
    }
  }
  evict_clean(0);
  return result;
}

void L2Cache::drop(uint64_t offset, uint64_t bytes) {
  for (uint64_t o = offset; o < offset + bytes; o += slice_bytes_) {
    auto found = map_.find(o);
    if (found == map_.end()) continue;
    if (found->second->dirty) --dirty_;
    lru_.erase(found->second->lru);
    map_.erase(found);
  }
}

void L2Cache::clear() {
  map_.clear();
  lru_.clear();
  dirty_ = 0;
}

}  // namespace amber::block::qcow2
