// SPDX-License-Identifier: GPL-2.0-or-later
// The VNC server's change tracking, as pure functions over plain buffers
// (unit-tested with synthetic data):
//  - dirty_rows: the vram pages KVM's dirty log says the guest wrote ->
//    the scan lines of a linear mode those pages cover;
//  - merge_rows: freshly drawn scan lines against the frame the clients
//    last saw -> the rectangles that really changed (the frame is updated
//    in place), so an update sends only those, not whole pages' worth.
// Frames are 4 bytes a pixel (B, G, R, 0xFF: little-endian 0xFFRRGGBB,
// the guest's own 32 bpp layout and QEMU's VNC server format; the fourth
// byte opaque), rows top down, no padding.
//
// Thread-safety: pure functions; the caller owns the buffers.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace amber::hv::display {

inline constexpr unsigned kFrameBytesPerPixel = 4;
inline constexpr uint8_t kFrameOpaque = 0xFF;

struct Rect {
  unsigned x = 0, y = 0, width = 0, height = 0;
  bool operator==(const Rect&) const = default;
};

struct RowRange {
  unsigned first = 0, count = 0;
  bool operator==(const RowRange&) const = default;
};

// Where a linear mode's scan lines lie in vram: row y is the line_bytes
// at start + y * line_offset, for y < height.
struct LinearGeometry {
  uint64_t start = 0;
  uint64_t line_offset = 0;
  uint64_t line_bytes = 0;
  unsigned height = 0;
};

// The rows (in order, merged where they touch) that the pages set in
// `bitmap` (bit p of word p / 64: the page at p * page_size) overlap.
// Pages past the screen are ignored; a zero line_offset counts as
// line_bytes.
std::vector<RowRange> dirty_rows(std::span<const uint64_t> bitmap, uint64_t page_size,
                                 const LinearGeometry& geometry);

// Copies `rows` (ranges.count rows of width pixels, for frame rows
// first..first+count-1) into `frame` (width * height pixels) and returns
// the rectangles of pixels that differed: one per run of changed rows,
// as wide as the changed columns of that run. Rows outside the frame are
// not copied.
std::vector<Rect> merge_rows(std::span<uint8_t> frame, unsigned width, unsigned height,
                             RowRange range, const uint8_t* rows);

}  // namespace amber::hv::display
