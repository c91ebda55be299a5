// SPDX-License-Identifier: GPL-2.0-or-later
// Scatter/gather helpers for the qcow2 data path: sub-ranges of a
// request's iovec array without heap allocation for the common case.
//
// Thread-safety: IovSlice is a per-call value; the functions are pure.
#pragma once

#include <sys/uio.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace amber::block::qcow2 {

inline uint64_t iov_length(std::span<const iovec> iov) {
  uint64_t n = 0;
  for (const auto& v : iov) n += v.iov_len;
  return n;
}

// The iovecs covering bytes [offset, offset + length) of a request.
class IovSlice {
 public:
  std::span<const iovec> build(std::span<const iovec> iov, uint64_t offset, uint64_t length) {
    n_ = 0;
    heap_.clear();
    for (const auto& v : iov) {
      if (length == 0) break;
      if (offset >= v.iov_len) {
        offset -= v.iov_len;
        continue;
      }
      const uint64_t take = std::min<uint64_t>(v.iov_len - offset, length);
      push({static_cast<char*>(v.iov_base) + offset, take});
      offset = 0;
      length -= take;
    }
    return view();
  }
  std::span<const iovec> view() const {
    return heap_.empty() ? std::span<const iovec>(inline_.data(), n_)
                         : std::span<const iovec>(heap_.data(), heap_.size());
  }

 private:
  // Requests rarely carry more than 16 segments; more spill to the heap.
  static constexpr size_t kInline = 16;
  void push(iovec v) {
    if (heap_.empty() && n_ < kInline) {
      inline_[n_++] = v;
      return;
    }
    if (heap_.empty()) heap_.assign(inline_.begin(), inline_.begin() + n_);
    heap_.push_back(v);
  }
  std::array<iovec, kInline> inline_{};
  size_t n_ = 0;
  std::vector<iovec> heap_;
};

inline void zero_iov(std::span<const iovec> iov) {
  for (const auto& v : iov) std::memset(v.iov_base, 0, v.iov_len);
}
inline void copy_to_iov(std::span<const iovec> iov, const uint8_t* src) {
  for (const auto& v : iov) {
    std::memcpy(v.iov_base, src, v.iov_len);
    src += v.iov_len;
  }
}

}  // namespace amber::block::qcow2
