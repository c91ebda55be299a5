// SPDX-License-Identifier: GPL-2.0-or-later
// L2Cache: an LRU cache of L2 table *slices* (4 KiB or one cluster if
// smaller), keyed by the slice's host offset, entries kept host-endian.
//
// Dirty slices are only written by write_back(), which the image calls
// after it has made the refcounts they depend on durable (QEMU's order:
// data -> refcounts -> L2 -> L1). Lookups never write: when every slice is
// dirty the cache may run over its capacity until the next write-back.
//
// Eviction is CLOCK-like (second chance): a hit only sets the slice's
// `referenced` flag, so hits can run under a shared lock.
//
// Thread-safety: find(), dirty_count(), over_capacity() and size() need
// mutex() held shared or exclusive; write_back() takes it itself and must
// be called without it; every other method needs it exclusive. A Slice* is
// valid only while it is held. Lock order: image metadata mutex, then this
// mutex.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

#include "block/io/file.h"
#include "common/result.h"

namespace amber::block::qcow2 {

class L2Cache {
 public:
  struct Slice {
    uint64_t offset = 0;          // host offset of the slice
    std::vector<uint64_t> words;  // host-endian 64-bit words
    bool dirty = false;
    uint64_t changes = 0;  // bumped by every mark_dirty()
    std::atomic<bool> referenced{false};
    std::list<Slice*>::iterator lru;
  };

  L2Cache(io::File& file, uint64_t slice_bytes, uint64_t capacity_slices);

  std::shared_mutex& mutex() { return mutex_; }
  uint64_t slice_bytes() const { return slice_bytes_; }
  uint64_t capacity() const { return capacity_; }

  // The cached slice at `offset` or nullptr; marks it referenced. Shared
  // lock suffices.
  Slice* find(uint64_t offset) {
    auto found = map_.find(offset);
    if (found == map_.end()) return nullptr;
    Slice* s = found->second.get();
    if (!s->referenced.load(std::memory_order_relaxed))
      s->referenced.store(true, std::memory_order_relaxed);
    return s;
  }
  // The slice at `offset` (loaded from the file on a miss). Evicts clean
  // least-recently-used slices beyond capacity.
  Result<Slice*> get(uint64_t offset);
  // After every change to `slice->words`.
  void mark_dirty(Slice* slice) {
    ++slice->changes;
    if (!slice->dirty) {
      slice->dirty = true;
      ++dirty_;
    }
  }

  size_t dirty_count() const { return dirty_; }
  bool over_capacity() const { return map_.size() > capacity_; }
  // Writes every dirty slice (ascending offsets) and marks it clean. Holds
  // mutex() shared only while it copies a slice and exclusively only to
  // mark slices clean, never across the file I/O, so lookups go on while
  // it writes. A slice changed meanwhile stays dirty. The image calls it
  // with its metadata mutex held (the only holder that changes slices).
  Result<void> write_back();
  // Drops the slices of [offset, offset+bytes) (a freed or moved table),
  // dirty or not.
  void drop(uint64_t offset, uint64_t bytes);
  // Drops every slice (a snapshot operation replaced the active tables);
  // call it with nothing dirty.
  void clear();
  size_t size() const { return map_.size(); }

 private:
  // Evicts clean LRU slices until `room` more fit in the capacity.
  void evict_clean(size_t room);
  Slice* insert(uint64_t offset);

  io::File& file_;
  uint64_t slice_bytes_;
  uint64_t capacity_;
  std::shared_mutex mutex_;
  std::unordered_map<uint64_t, std::unique_ptr<Slice>> map_;
  std::list<Slice*> lru_;  // front = most recently inserted or given a second chance
  size_t dirty_ = 0;
};

}  // namespace amber::block::qcow2
