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

Result<Screen> StdVga::render_dispi() const {
  const unsigned width = dispi_[kDispiXres], height = dispi_[kDispiYres];
  const unsigned bpp = dispi_[kDispiBpp];
  if (bpp == 4) return Error(ErrorKind::kUnsupported, "screendump: 4 bpp planar mode is not drawn");
  const unsigned bytes = (bpp + 7) / 8;
  // dispi_fixup keeps the visible area inside vram; check it again so a
  // snapshot can never read past it.
  if (width == 0 || height == 0 ||
      dispi_start_ + (height - 1) * dispi_line_offset_ + uint64_t{width} * bytes > vram_size_)
    return Error(ErrorKind::kInvalidArgument, "screendump: the DISPI mode does not fit in vram");
  Screen screen{width, height, std::vector<uint8_t>(size_t{width} * height * 3)};
  uint8_t* out = screen.rgb.data();
  for (unsigned y = 0; y < height; ++y) {
    const uint8_t* row = vram_ + dispi_start_ + y * dispi_line_offset_;
    for (unsigned x = 0; x < width; ++x, out += 3) {
      const uint8_t* p = row + size_t{x} * bytes;
      switch (bpp) {
        case 8: {
          const auto rgb = palette_rgb(p[0]);
          std::memcpy(out, rgb.data(), 3);
          break;
        }
        case 15: {
          const unsigned v = p[0] | (p[1] << 8);
          out[0] = static_cast<uint8_t>(((v >> 10) & 0x1F) << 3);
          out[1] = static_cast<uint8_t>(((v >> 5) & 0x1F) << 3);
          out[2] = static_cast<uint8_t>((v & 0x1F) << 3);
          break;
        }
        case 16: {
          const unsigned v = p[0] | (p[1] << 8);
          out[0] = static_cast<uint8_t>(((v >> 11) & 0x1F) << 3);
          out[1] = static_cast<uint8_t>(((v >> 5) & 0x3F) << 2);
          out[2] = static_cast<uint8_t>((v & 0x1F) << 3);
          break;
        }
        default:  // 24 and 32: B, G, R in memory
          out[0] = p[2];
          out[1] = p[1];
          out[2] = p[0];
          break;
      }
    }
  }
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
