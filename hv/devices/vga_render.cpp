// SPDX-License-Identifier: GPL-2.0-or-later
// StdVga's display as RGB (the screendump): DISPI linear modes and VGA
// text mode, drawn as QEMU's vga_draw_graphic / vga_draw_text do (text
// cells 8 or 9 dots wide, the font from plane 2, colours through the
// attribute palette and the DAC); and the P6 PPM encoding.
//
// Thread-safety: snapshot() takes the device's mutex; encode_ppm is pure.
#include <cstring>

#include "hv/devices/vga.h"

namespace amber::hv::devices {
namespace {

constexpr unsigned kSeqClockMode = 1, kSeqCharacterMap = 3, kGfxMisc = 6;
constexpr unsigned kAttrMode = 0x10, kAttrColorSelect = 0x14;
constexpr unsigned kCrtcHorizontalEnd = 0x01, kCrtcOverflow = 0x07, kCrtcMaxScanLine = 0x09;
constexpr unsigned kCrtcStartHigh = 0x0C, kCrtcStartLow = 0x0D, kCrtcVerticalEnd = 0x12;
constexpr unsigned kCrtcOffset = 0x13;
// Bigger than any mode a VGA CRTC can describe: a hostile register set
// cannot make a screendump allocate more.
constexpr unsigned kMaxTextColumns = 256, kMaxTextRows = 128;

// 6-bit DAC value to 8 bits, as QEMU's c6_to_8.
uint8_t c6_to_8(uint8_t v) {
  v &= 0x3F;
  const uint8_t b = v & 1;
  return static_cast<uint8_t>((v << 2) | (b << 1) | b);
}

}  // namespace

std::vector<uint8_t> encode_ppm(const Screen& screen) {
  const std::string header =
      "P6\n" + std::to_string(screen.width) + " " + std::to_string(screen.height) + "\n255\n";
  std::vector<uint8_t> out(header.begin(), header.end());
  out.insert(out.end(), screen.rgb.begin(), screen.rgb.end());
  return out;
}

std::array<uint8_t, 3> StdVga::palette_rgb(unsigned index) const {
  const uint8_t* entry = &dac_[(index & 0xFF) * 3];
  if (dispi_enabled() && (dispi_[kDispiEnable] & kDispi8BitDac))
    return {entry[0], entry[1], entry[2]};
  return {c6_to_8(entry[0]), c6_to_8(entry[1]), c6_to_8(entry[2])};
}

Result<Screen> StdVga::snapshot() {
  std::lock_guard lock(mutex_);
  if (dispi_enabled()) return render_dispi();
  if (graphics_[kGfxMisc] & 1)
    return Error(ErrorKind::kUnsupported, "screendump: legacy VGA graphics modes are not drawn");
  return render_text();
}

namespace {

// One pixel: R, G, B (Stride 3, the screendump) or B, G, R, 0xFF (Stride
// 4: little-endian 0xFFRRGGBB, the VNC frame; the fourth byte opaque for
// a client that reads it as alpha).
template <unsigned Stride>
inline void put_pixel(uint8_t* out, uint8_t r, uint8_t g, uint8_t b) {
  if constexpr (Stride == 3) {
    out[0] = r;
    out[1] = g;
    out[2] = b;
  } else {
    out[0] = b;
    out[1] = g;
    out[2] = r;
    out[3] = 0xFF;
  }
}

// One DISPI scan line of `width` pixels at `bpp` into `out` as put_pixel
// lays them out. `palette` gives the 8 bpp colours.
template <unsigned Stride, typename Palette>
void draw_dispi_row(const uint8_t* row, unsigned width, unsigned bpp, const Palette& palette,
                    uint8_t* out) {
  switch (bpp) {
    case 8:
      for (unsigned x = 0; x < width; ++x, out += Stride) {
        const auto rgb = palette(row[x]);
        put_pixel<Stride>(out, rgb[0], rgb[1], rgb[2]);
      }
      return;
    case 15:
      for (unsigned x = 0; x < width; ++x, out += Stride) {
        const unsigned v = row[2 * x] | (row[2 * x + 1] << 8);
        put_pixel<Stride>(out, static_cast<uint8_t>(((v >> 10) & 0x1F) << 3),
                          static_cast<uint8_t>(((v >> 5) & 0x1F) << 3),
                          static_cast<uint8_t>((v & 0x1F) << 3));
      }
      return;
    case 16:
      for (unsigned x = 0; x < width; ++x, out += Stride) {
        const unsigned v = row[2 * x] | (row[2 * x + 1] << 8);
        put_pixel<Stride>(out, static_cast<uint8_t>(((v >> 11) & 0x1F) << 3),
                          static_cast<uint8_t>(((v >> 5) & 0x3F) << 2),
                          static_cast<uint8_t>((v & 0x1F) << 3));
      }
      return;
    default: {  // 24 and 32: B, G, R in memory
      const unsigned bytes = bpp == 24 ? 3 : 4;
      for (unsigned x = 0; x < width; ++x, out += Stride) {
        const uint8_t* p = row + size_t{x} * bytes;
        put_pixel<Stride>(out, p[2], p[1], p[0]);
      }
      return;
    }
  }
}

}  // namespace

DisplayLayout StdVga::layout_locked() const {
  DisplayLayout layout;
  if (dispi_enabled()) {
    const unsigned width = dispi_[kDispiXres], height = dispi_[kDispiYres];
    const unsigned bpp = dispi_[kDispiBpp];
    const unsigned bytes = (bpp + 7) / 8;
    // dispi_fixup keeps the visible area inside vram; checked again so a
    // client can never read past it.
    if (bpp == 4 || width == 0 || height == 0 ||
        dispi_start_ + (height - 1) * dispi_line_offset_ + uint64_t{width} * bytes > vram_size_)
      return layout;
    layout.kind = DisplayKind::kLinear;
    layout.width = width;
    layout.height = height;
    layout.bpp = bpp;
    layout.start = dispi_start_;
    layout.line_offset = dispi_line_offset_;
    return layout;
  }
  if (!(graphics_[kGfxMisc] & 1)) layout.kind = DisplayKind::kText;
  return layout;
}

DisplayLayout StdVga::display_layout() {
  std::lock_guard lock(mutex_);
  return layout_locked();
}

bool StdVga::render_rows(const DisplayLayout& layout, unsigned first, unsigned count,
                         uint8_t* out) {
  std::lock_guard lock(mutex_);
  if (layout.kind != DisplayKind::kLinear || layout_locked() != layout) return false;
  if (first > layout.height || count > layout.height - first) return false;
  auto palette = [this](uint8_t index) { return palette_rgb(index); };
  for (unsigned y = first; y < first + count; ++y, out += size_t{layout.width} * 4)
    draw_dispi_row<4>(vram_ + layout.start + y * layout.line_offset, layout.width, layout.bpp,
                      palette, out);
  return true;
}

Result<Screen> StdVga::render_dispi() const {
  const DisplayLayout layout = layout_locked();
  if (dispi_[kDispiBpp] == 4)
    return Error(ErrorKind::kUnsupported, "screendump: 4 bpp planar mode is not drawn");
  if (layout.kind != DisplayKind::kLinear)
    return Error(ErrorKind::kInvalidArgument, "screendump: the DISPI mode does not fit in vram");
  const unsigned width = layout.width, height = layout.height;
  Screen screen{width, height, std::vector<uint8_t>(size_t{width} * height * 3)};
  auto palette = [this](uint8_t index) { return palette_rgb(index); };
  for (unsigned y = 0; y < height; ++y)
    draw_dispi_row<3>(vram_ + layout.start + y * layout.line_offset, width, layout.bpp, palette,
                      &screen.rgb[size_t{y} * width * 3]);
  return screen;
}

Result<Screen> StdVga::render_text() const {
  const unsigned columns = crtc_[kCrtcHorizontalEnd] + 1u;
  const unsigned char_height = (crtc_[kCrtcMaxScanLine] & 0x1F) + 1u;
  const unsigned vertical_end = crtc_[kCrtcVerticalEnd] | ((crtc_[kCrtcOverflow] & 0x02) << 7) |
                                ((crtc_[kCrtcOverflow] & 0x40) << 3);
  const unsigned rows = (vertical_end + 1) / char_height;
  const unsigned char_width = (sequencer_[kSeqClockMode] & 1) ? 8 : 9;
  if (columns > kMaxTextColumns || rows == 0 || rows > kMaxTextRows)
    return Error(ErrorKind::kUnsupported, "screendump: the text mode's geometry is not drawn");
  const unsigned width = columns * char_width, height = rows * char_height;
  Screen screen{width, height, std::vector<uint8_t>(size_t{width} * height * 3)};
  // Blanked (the attribute controller's palette address source is off):
  // a black screen of the mode's size.
  if (!(attribute_index_ & 0x20)) return screen;

  std::array<std::array<uint8_t, 3>, 16> colors{};
  for (unsigned i = 0; i < 16; ++i) {
    unsigned v = attribute_[i];
    if (attribute_[kAttrMode] & 0x80)
      v = ((attribute_[kAttrColorSelect] & 0x0F) << 4) | (v & 0x0F);
    else
      v = ((attribute_[kAttrColorSelect] & 0x0C) << 4) | (v & 0x3F);
    colors[i] = palette_rgb(v);
  }
  const unsigned map = sequencer_[kSeqCharacterMap];
  const uint64_t font_a = (((map >> 4) & 1) | ((map << 1) & 6)) * 8192ULL * 4 + 2;
  const uint64_t font_b = (((map >> 5) & 1) | ((map >> 1) & 6)) * 8192ULL * 4 + 2;
  const uint64_t start = (crtc_[kCrtcStartHigh] << 8) | crtc_[kCrtcStartLow];
  const uint64_t line_cells = crtc_[kCrtcOffset] * 2ULL;
  const bool blink = (attribute_[kAttrMode] & 0x08) != 0;
  const bool line_graphics = (attribute_[kAttrMode] & 0x04) != 0;

  for (unsigned row = 0; row < rows; ++row) {
    for (unsigned col = 0; col < columns; ++col) {
      const uint64_t cell = (start + row * line_cells + col) * 4;
      const uint8_t ch = cell + 1 < vram_size_ ? vram_[cell] : 0;
      const uint8_t attr = cell + 1 < vram_size_ ? vram_[cell + 1] : 0;
      const unsigned fg = attr & 0x0F;
      const unsigned bg = blink ? (attr >> 4) & 7 : attr >> 4;
      const uint64_t font = (attr & 0x08) ? font_b : font_a;
      for (unsigned y = 0; y < char_height; ++y) {
        const uint64_t glyph = font + (uint64_t{ch} * 32 + y) * 4;
        const uint8_t bits = glyph < vram_size_ ? vram_[glyph] : 0;
        uint8_t* out =
            &screen.rgb[((size_t{row} * char_height + y) * width + size_t{col} * char_width) * 3];
        for (unsigned x = 0; x < char_width; ++x, out += 3) {
          bool on = false;
          if (x < 8)
            on = (bits >> (7 - x)) & 1;
          else  // the ninth dot repeats the eighth for the line-drawing characters
            on = line_graphics && ch >= 0xB0 && ch <= 0xDF && (bits & 1);
          std::memcpy(out, colors[on ? fg : bg].data(), 3);
        }
      }
    }
  }
  return screen;
}

}  // namespace amber::hv::devices
