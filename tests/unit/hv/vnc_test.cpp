// SPDX-License-Identifier: GPL-2.0-or-later
// The VNC server's pure parts over synthetic data: keysym -> keycode (US
// layout, shifted keysyms on their unshifted key), dirty vram pages ->
// scan lines, row comparison -> changed rectangles, RFB pointer events
// -> PS/2 relative motion or the absolute pointer; and StdVga's frame
// interface (display_layout, render_rows, change_count) that the server
// drives. The server itself, with real clients, is tests/integration/hv/
// test_vnc.py.
//
// Thread-safety: single-threaded tests.
#include <gtest/gtest.h>
#include <linux/input-event-codes.h>

#include <cstring>
#include <random>
#include <vector>

#include "hv/devices/i8042.h"
#include "hv/devices/ps2_keymap.h"
#include "hv/devices/vga.h"
#include "hv/display/vnc_frame.h"
#include "hv/display/vnc_keymap.h"
#include "hv/display/vnc_pointer.h"

namespace amber::hv::display {
namespace {

TEST(VncKeymap, LettersDigitsAndShiftedSymbols) {
  EXPECT_EQ(keysym_to_keycode('a'), unsigned{KEY_A});
  EXPECT_EQ(keysym_to_keycode('A'), unsigned{KEY_A});
  EXPECT_EQ(keysym_to_keycode('z'), unsigned{KEY_Z});
  EXPECT_EQ(keysym_to_keycode('1'), unsigned{KEY_1});
  EXPECT_EQ(keysym_to_keycode('!'), unsigned{KEY_1});
  EXPECT_EQ(keysym_to_keycode('0'), unsigned{KEY_0});
  EXPECT_EQ(keysym_to_keycode(')'), unsigned{KEY_0});
  EXPECT_EQ(keysym_to_keycode('{'), unsigned{KEY_LEFTBRACE});
  EXPECT_EQ(keysym_to_keycode('|'), unsigned{KEY_BACKSLASH});
  EXPECT_EQ(keysym_to_keycode('"'), unsigned{KEY_APOSTROPHE});
  EXPECT_EQ(keysym_to_keycode('~'), unsigned{KEY_GRAVE});
  EXPECT_EQ(keysym_to_keycode('?'), unsigned{KEY_SLASH});
  EXPECT_EQ(keysym_to_keycode(' '), unsigned{KEY_SPACE});
  // Every printable ASCII character has a key on the US keyboard.
  for (uint32_t c = 0x20; c < 0x7F; ++c) EXPECT_NE(keysym_to_keycode(c), 0u) << c;
}

TEST(VncKeymap, FunctionKeypadAndModifiers) {
  EXPECT_EQ(keysym_to_keycode(0xFF0D), unsigned{KEY_ENTER});      // Return
  EXPECT_EQ(keysym_to_keycode(0xFF1B), unsigned{KEY_ESC});        // Escape
  EXPECT_EQ(keysym_to_keycode(0xFF08), unsigned{KEY_BACKSPACE});  // BackSpace
  EXPECT_EQ(keysym_to_keycode(0xFFBE), unsigned{KEY_F1});
  EXPECT_EQ(keysym_to_keycode(0xFFC7), unsigned{KEY_F10});
  EXPECT_EQ(keysym_to_keycode(0xFFC8), unsigned{KEY_F11});
  EXPECT_EQ(keysym_to_keycode(0xFFC9), unsigned{KEY_F12});
  EXPECT_EQ(keysym_to_keycode(0xFFE1), unsigned{KEY_LEFTSHIFT});
  EXPECT_EQ(keysym_to_keycode(0xFFE4), unsigned{KEY_RIGHTCTRL});
  EXPECT_EQ(keysym_to_keycode(0xFFE9), unsigned{KEY_LEFTALT});
  EXPECT_EQ(keysym_to_keycode(0xFE03), unsigned{KEY_RIGHTALT});  // AltGr
  EXPECT_EQ(keysym_to_keycode(0xFFEB), unsigned{KEY_LEFTMETA});  // Super_L
  EXPECT_EQ(keysym_to_keycode(0xFF52), unsigned{KEY_UP});
  EXPECT_EQ(keysym_to_keycode(0xFFFF), unsigned{KEY_DELETE});
  EXPECT_EQ(keysym_to_keycode(0xFFB0), unsigned{KEY_KP0});
  EXPECT_EQ(keysym_to_keycode(0xFFB9), unsigned{KEY_KP9});
  EXPECT_EQ(keysym_to_keycode(0xFF8D), unsigned{KEY_KPENTER});
  EXPECT_EQ(keysym_to_keycode(0xFF95), unsigned{KEY_KP7});    // KP_Home
  EXPECT_EQ(keysym_to_keycode(0xFF61), unsigned{KEY_SYSRQ});  // Print
  EXPECT_EQ(keysym_to_keycode(0xFF13), unsigned{KEY_PAUSE});
}

TEST(VncKeymap, UnknownKeysymsAndEveryKeyExists) {
  for (uint32_t keysym : {0u, 0x1Fu, 0x7Fu, 0xE9u /* eacute */, 0x20ACu /* EuroSign */, 0xFFFFFFu,
                          0xFFFFFFFFu, 0x1008FF11u /* XF86AudioLowerVolume */})
    EXPECT_EQ(keysym_to_keycode(keysym), 0u) << std::hex << keysym;
  // Whatever the table gives, the PS/2 keyboard has.
  for (uint32_t keysym = 0; keysym < 0x10000; ++keysym) {
    const unsigned key = keysym_to_keycode(keysym);
    if (key != 0) {
      EXPECT_TRUE(devices::has_scancode(key)) << std::hex << keysym << " -> " << key;
    }
  }
}

std::vector<uint64_t> pages(std::initializer_list<unsigned> set, size_t words = 64) {
  std::vector<uint64_t> bitmap(words, 0);
  for (unsigned page : set) bitmap[page / 64] |= 1ULL << (page % 64);
  return bitmap;
}

TEST(VncFrame, DirtyPagesToRows) {
  // 1024x768x32 at vram 0: a row is 4096 bytes, one page each.
  const LinearGeometry screen{0, 4096, 4096, 768};
  EXPECT_TRUE(dirty_rows(pages({}), 4096, screen).empty());
  EXPECT_EQ(dirty_rows(pages({0}), 4096, screen), (std::vector<RowRange>{{0, 1}}));
  EXPECT_EQ(dirty_rows(pages({5, 6, 7, 9}), 4096, screen), (std::vector<RowRange>{{5, 3}, {9, 1}}));
  EXPECT_EQ(dirty_rows(pages({767}), 4096, screen), (std::vector<RowRange>{{767, 1}}));
  // Pages past the screen (vram beyond row 767) are ignored.
  EXPECT_TRUE(dirty_rows(pages({768, 1000, 4095}), 4096, screen).empty());

  // 800x600x32: 3200-byte rows; page 1 (4096..8191) holds the end of row
  // 1 and rows 2 (6400..9599) start.
  const LinearGeometry small{0, 3200, 3200, 600};
  EXPECT_EQ(dirty_rows(pages({1}), 4096, small), (std::vector<RowRange>{{1, 2}}));
  // Adjacent ranges merge: page 0 is rows 0-1, page 1 rows 1-2.
  EXPECT_EQ(dirty_rows(pages({0, 1}), 4096, small), (std::vector<RowRange>{{0, 3}}));

  // A start offset (DISPI y offset) and a line offset wider than the row:
  // row y is bytes [8192 + y*8192, +4096); page 2 is row 0, page 3 the gap.
  const LinearGeometry offset{8192, 8192, 4096, 10};
  EXPECT_TRUE(dirty_rows(pages({0, 1, 3, 5}), 4096, offset).empty());
  EXPECT_EQ(dirty_rows(pages({2, 4, 20}), 4096, offset), (std::vector<RowRange>{{0, 2}, {9, 1}}));
  EXPECT_TRUE(dirty_rows(pages({22}), 4096, offset).empty());  // after row 9
}

TEST(VncFrame, DirtyRowsNeverLeaveTheScreen) {
  std::mt19937 random(7);
  for (int round = 0; round < 2000; ++round) {
    LinearGeometry g;
    g.start = random() % (1 << 20);
    g.line_bytes = 1 + random() % 10000;
    g.line_offset = random() % 3 == 0 ? 0 : g.line_bytes + random() % 100;
    g.height = random() % 1300;
    std::vector<uint64_t> bitmap(random() % 80);
    for (auto& word : bitmap) word = (uint64_t{random()} << 32) | random();
    unsigned previous_end = 0;
    for (const RowRange& r : dirty_rows(bitmap, 4096, g)) {
      ASSERT_GT(r.count, 0u);
      ASSERT_LE(r.first + r.count, g.height);
      ASSERT_TRUE(r.first >= previous_end);  // in order, not overlapping
      previous_end = r.first + r.count;
    }
  }
  EXPECT_TRUE(dirty_rows(pages({0}), 0, LinearGeometry{0, 4, 4, 4}).empty());
  EXPECT_TRUE(dirty_rows(pages({0}), 4096, LinearGeometry{0, 4, 0, 4}).empty());
}

std::vector<uint8_t> solid(unsigned width, unsigned height, uint8_t value) {
  return std::vector<uint8_t>(size_t{width} * height * kFrameBytesPerPixel, value);
}

void set_pixel(std::vector<uint8_t>& rows, unsigned width, unsigned x, unsigned y, uint8_t v) {
  rows[(size_t{y} * width + x) * kFrameBytesPerPixel] = v;
}

TEST(VncFrame, MergeRowsFindsChangedRectangles) {
  const unsigned w = 16, h = 8;
  auto frame = solid(w, h, 0);
  // Nothing changed: no rectangle, frame as it was.
  auto same = solid(w, h, 0);
  EXPECT_TRUE(merge_rows(frame, w, h, {0, h}, same.data()).empty());

  // Two runs of changed rows: rows 1-2 (columns 3 and 9) and row 6
  // (column 15).
  auto next = solid(w, h, 0);
  set_pixel(next, w, 3, 1, 0xAA);
  set_pixel(next, w, 9, 2, 0xBB);
  set_pixel(next, w, 15, 6, 0xCC);
  auto rects = merge_rows(frame, w, h, {0, h}, next.data());
  EXPECT_EQ(rects, (std::vector<Rect>{{3, 1, 7, 2}, {15, 6, 1, 1}}));
  EXPECT_EQ(frame, next);  // copied in
  EXPECT_TRUE(merge_rows(frame, w, h, {0, h}, next.data()).empty());

  // A partial range: rows 4..5 only, relative to `rows`.
  auto two = solid(w, 2, 0);
  set_pixel(two, w, 0, 1, 0x11);
  rects = merge_rows(frame, w, h, {4, 2}, two.data());
  EXPECT_EQ(rects, (std::vector<Rect>{{0, 5, 1, 1}}));
  EXPECT_EQ(frame[(5 * w) * kFrameBytesPerPixel], 0x11);

  // A range past the bottom is cut at the frame's edge.
  auto three = solid(w, 3, 0x22);
  rects = merge_rows(frame, w, h, {6, 3}, three.data());
  EXPECT_EQ(rects, (std::vector<Rect>{{0, 6, w, 2}}));
  EXPECT_TRUE(merge_rows(frame, w, h, {8, 1}, three.data()).empty());
  // A frame buffer smaller than width x height is left alone.
  std::vector<uint8_t> tiny(8);
  EXPECT_TRUE(merge_rows(tiny, w, h, {0, 1}, three.data()).empty());
}

struct Motion {
  int dx, dy, dz;
  unsigned buttons;
  bool operator==(const Motion&) const = default;
};

TEST(VncPointer, RelativeMotionButtonsAndWheel) {
  std::vector<Motion> seen;
  PointerSinks sinks;
  sinks.relative = [&seen](int dx, int dy, int dz, unsigned b) { seen.push_back({dx, dy, dz, b}); };
  VncPointer pointer(std::move(sinks));
  pointer.event(0, 100, 100, 720, 400);  // the first position moves nothing
  EXPECT_TRUE(seen.empty());
  pointer.event(0, 110, 95, 720, 400);
  pointer.event(1, 110, 95, 720, 400);      // left down
  pointer.event(1 | 4, 110, 95, 720, 400);  // right down too (RFB bit 2)
  pointer.event(2, 110, 95, 720, 400);      // only middle (RFB bit 1)
  pointer.event(0, 110, 95, 720, 400);
  pointer.event(8, 110, 95, 720, 400);   // wheel up pressed: one click
  pointer.event(0, 110, 95, 720, 400);   // released: nothing
  pointer.event(16, 110, 95, 720, 400);  // wheel down
  pointer.event(0, 110, 95, 720, 400);
  pointer.event(0, 5000, -20, 720, 400);  // clamped to (719, 0)
  EXPECT_EQ(seen, (std::vector<Motion>{{10, -5, 0, 0},
                                       {0, 0, 0, devices::kMouseLeft},
                                       {0, 0, 0, devices::kMouseLeft | devices::kMouseRight},
                                       {0, 0, 0, devices::kMouseMiddle},
                                       {0, 0, 0, 0},
                                       {0, 0, -1, 0},
                                       {0, 0, 1, 0},
                                       {609, -95, 0, 0}}));
}

TEST(VncPointer, AbsolutePointerWhenPresent) {
  struct Absolute {
    unsigned x, y, w, h, buttons;
    bool operator==(const Absolute&) const = default;
  };
  std::vector<Absolute> seen;
  int relative = 0;
  PointerSinks sinks;
  sinks.relative = [&relative](int, int, int, unsigned) { ++relative; };
  sinks.absolute = [&seen](unsigned x, unsigned y, unsigned w, unsigned h, unsigned b) {
    seen.push_back({x, y, w, h, b});
  };
  VncPointer pointer(std::move(sinks));
  pointer.event(0, 10, 20, 1024, 768);
  pointer.event(1 | 8, 1023, 767, 1024, 768);
  pointer.event(4, 2000, -5, 1024, 768);
  EXPECT_EQ(relative, 0);
  EXPECT_EQ(seen, (std::vector<Absolute>{{10, 20, 1024, 768, 0},
                                         {1023, 767, 1024, 768, kPointerLeft | kPointerWheelUp},
                                         {1023, 0, 1024, 768, kPointerRight}}));
}

}  // namespace
}  // namespace amber::hv::display

namespace amber::hv::devices {
namespace {

std::unique_ptr<StdVga> make_vga() {
  auto vga = StdVga::create(16ULL << 20, {}, [](uint8_t*, uint64_t, uint64_t, bool) {});
  EXPECT_TRUE(vga.ok());
  return std::move(vga).value();
}

TEST(StdVgaFrames, LayoutRowsAndChangeCount) {
  auto vga = make_vga();
  EXPECT_EQ(vga->display_layout().kind, DisplayKind::kText);  // after reset
  const uint64_t before = vga->change_count();
  vga->dispi_write(kDispiEnable, 0);
  vga->dispi_write(kDispiXres, 64);
  vga->dispi_write(kDispiYres, 32);
  vga->dispi_write(kDispiBpp, 32);
  vga->dispi_write(kDispiEnable, kDispiEnabled | kDispiLfbEnabled);
  EXPECT_GT(vga->change_count(), before);
  const DisplayLayout layout = vga->display_layout();
  EXPECT_EQ(layout, (DisplayLayout{DisplayKind::kLinear, 64, 32, 32, 0, 256}));
  // Writes straight into vram (the guest's KVM slot) do not count.
  const uint64_t settled = vga->change_count();
  for (unsigned i = 0; i < 64 * 32; ++i) {
    const uint32_t pixel = 0x00102030u + i;  // B, G, R in memory
    std::memcpy(vga->vram() + i * 4, &pixel, 4);
  }
  EXPECT_EQ(vga->change_count(), settled);
  // render_rows gives B, G, R, 0xFF for the rows asked, snapshot's colours.
  std::vector<uint8_t> rows(64 * 2 * 4, 0xEE);
  ASSERT_TRUE(vga->render_rows(layout, 5, 2, rows.data()));
  auto screen = vga->snapshot();
  ASSERT_TRUE(screen.ok());
  for (unsigned i = 0; i < 64 * 2; ++i) {
    const size_t at = (5 * 64 + i) * 3;
    EXPECT_EQ(rows[i * 4 + 0], screen->rgb[at + 2]);
    EXPECT_EQ(rows[i * 4 + 1], screen->rgb[at + 1]);
    EXPECT_EQ(rows[i * 4 + 2], screen->rgb[at + 0]);
    EXPECT_EQ(rows[i * 4 + 3], 0xFF);
  }
  // Pixel 5 * 64 is 0x00102170 (B 0x70, G 0x21, R 0x10 in vram): the
  // same bytes in the frame, the fourth opaque.
  EXPECT_EQ(rows[0], 0x70);
  EXPECT_EQ(rows[1], 0x21);
  EXPECT_EQ(rows[2], 0x10);
  // Rows outside the mode, or a layout that is no longer current, draw
  // nothing.
  EXPECT_FALSE(vga->render_rows(layout, 31, 2, rows.data()));
  EXPECT_FALSE(vga->render_rows(layout, 40, 0, rows.data()));
  DisplayLayout stale = layout;
  stale.width = 128;
  EXPECT_FALSE(vga->render_rows(stale, 0, 1, rows.data()));
  // A palette write counts (an 8 bpp screen's colours change).
  vga->port_write(0x3C8, 0);
  EXPECT_GT(vga->change_count(), settled);
  // A mode that does not fit is not drawn.
  vga->dispi_write(kDispiEnable, 0);
  vga->dispi_write(kDispiBpp, 4);
  vga->dispi_write(kDispiEnable, kDispiEnabled | kDispiLfbEnabled);
  EXPECT_EQ(vga->display_layout().kind, DisplayKind::kNone);
}

}  // namespace
}  // namespace amber::hv::devices
