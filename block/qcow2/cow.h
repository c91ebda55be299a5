// SPDX-License-Identifier: GPL-2.0-or-later
// Copy-on-write helpers for the qcow2 allocating-write path: a per-thread,
// page-aligned scratch cluster (so COW reads and writes need no heap
// allocation and no O_DIRECT bounce buffer once warm), and the iovec list
// of one merged write: head COW bytes, the guest's data, tail COW bytes.
//
// Thread-safety: CowScratch::get() returns the calling thread's buffer; it
// stays valid until the same thread calls get() again. CowIov is a per-call
// value.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

namespace amber::block::qcow2 {

class CowScratch {
 public:
  // At least `bytes` bytes, 4 KiB aligned (enough for any O_DIRECT logical
  // block size Linux reports); nullptr if memory is exhausted.
  static uint8_t* get(uint64_t bytes) {
    thread_local CowScratch scratch;
    if (scratch.bytes_ < bytes) {
      void* p = nullptr;
      if (posix_memalign(&p, kAlignment, bytes) != 0) return nullptr;
      std::free(scratch.data_);
      scratch.data_ = static_cast<uint8_t*>(p);
      scratch.bytes_ = bytes;
    }
    return scratch.data_;
  }

 private:
  static constexpr size_t kAlignment = 4096;
  CowScratch() = default;
  ~CowScratch() { std::free(data_); }
  uint8_t* data_ = nullptr;
  uint64_t bytes_ = 0;
};

// The iovecs of [head, data..., tail]; empty pieces are left out.
class CowIov {
 public:
  std::span<const iovec> build(const uint8_t* head, uint64_t head_bytes,
                               std::span<const iovec> data, const uint8_t* tail,
                               uint64_t tail_bytes) {
    n_ = 0;
    heap_.clear();
    if (head_bytes != 0) push({const_cast<uint8_t*>(head), head_bytes});
    for (const auto& v : data) push(v);
    if (tail_bytes != 0) push({const_cast<uint8_t*>(tail), tail_bytes});
    return heap_.empty() ? std::span<const iovec>(inline_, n_)
                         : std::span<const iovec>(heap_.data(), heap_.size());
  }

 private:
  // A guest request of up to 16 segments plus the two COW pieces stays on
  // the stack; longer lists spill to the heap.
  static constexpr size_t kInline = 18;
  void push(iovec v) {
    if (heap_.empty() && n_ < kInline) {
      inline_[n_++] = v;
      return;
    }
    if (heap_.empty()) heap_.assign(inline_, inline_ + n_);
    heap_.push_back(v);
  }
  iovec inline_[kInline]{};
  size_t n_ = 0;
  std::vector<iovec> heap_;
};

}  // namespace amber::block::qcow2
