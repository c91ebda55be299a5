// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/display/vnc_frame.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace amber::hv::display {
namespace {

// Appends rows [first, last] to `out`, merging with the previous range
// when they overlap or touch.
void add_rows(std::vector<RowRange>& out, unsigned first, unsigned last) {
  if (!out.empty()) {
    RowRange& back = out.back();
    const unsigned back_end = back.first + back.count;  // one past
    if (first <= back_end) {
      back.count = std::max(back_end, last + 1) - back.first;
      return;
    }
  }
  out.push_back({first, last - first + 1});
}

}  // namespace

std::vector<RowRange> dirty_rows(std::span<const uint64_t> bitmap, uint64_t page_size,
                                 const LinearGeometry& geometry) {
  std::vector<RowRange> out;
  if (geometry.height == 0 || geometry.line_bytes == 0 || page_size == 0) return out;
  const uint64_t line_offset = geometry.line_offset ? geometry.line_offset : geometry.line_bytes;
  const uint64_t start = geometry.start;
  for (size_t word = 0; word < bitmap.size(); ++word) {
    uint64_t bits = bitmap[word];
    while (bits != 0) {
      const unsigned bit = static_cast<unsigned>(std::countr_zero(bits));
      bits &= bits - 1;
      const uint64_t page = word * 64 + bit;
      const uint64_t begin = page * page_size, end = begin + page_size;
      if (end <= start) continue;
      // The last row that starts before the page ends, and the first row
      // that ends after the page begins.
      const uint64_t last = (end - 1 - start) / line_offset;
      const uint64_t first = begin < start + geometry.line_bytes
                                 ? 0
                                 : (begin - start - geometry.line_bytes) / line_offset + 1;
      if (first >= geometry.height) continue;
      const uint64_t clamped_last = std::min<uint64_t>(last, geometry.height - 1);
      if (first > clamped_last) continue;
      // Both below height (an unsigned), so the casts keep their values.
      add_rows(out, static_cast<unsigned>(first), static_cast<unsigned>(clamped_last));
    }
  }
  return out;
}

std::vector<Rect> merge_rows(std::span<uint8_t> frame, unsigned width, unsigned height,
                             RowRange range, const uint8_t* rows) {
  std::vector<Rect> out;
  const size_t row_bytes = size_t{width} * kFrameBytesPerPixel;
  if (width == 0 || frame.size() < row_bytes * height || range.first >= height) return out;
  const unsigned count = std::min(range.count, height - range.first);
  bool open = false;
  Rect current;
  unsigned current_right = 0;  // one past the widest changed column of the run
  for (unsigned i = 0; i < count; ++i) {
    const unsigned y = range.first + i;
    uint8_t* old_row = frame.data() + size_t{y} * row_bytes;
    const uint8_t* new_row = rows + size_t{i} * row_bytes;
    if (std::memcmp(old_row, new_row, row_bytes) == 0) {
      if (open) {
        current.width = current_right - current.x;
        out.push_back(current);
        open = false;
      }
      continue;
    }
    unsigned left = 0, right = width;
    while (std::memcmp(old_row + size_t{left} * kFrameBytesPerPixel,
                       new_row + size_t{left} * kFrameBytesPerPixel, kFrameBytesPerPixel) == 0)
      ++left;
    while (std::memcmp(old_row + size_t{right - 1} * kFrameBytesPerPixel,
                       new_row + size_t{right - 1} * kFrameBytesPerPixel, kFrameBytesPerPixel) == 0)
      --right;
    std::memcpy(old_row, new_row, row_bytes);
    if (!open) {
      current = Rect{left, y, 0, 1};
      current_right = right;
      open = true;
    } else {
      current.x = std::min(current.x, left);
      current_right = std::max(current_right, right);
      current.height = y - current.y + 1;
    }
  }
  if (open) {
    current.width = current_right - current.x;
    out.push_back(current);
  }
  return out;
}

}  // namespace amber::hv::display
