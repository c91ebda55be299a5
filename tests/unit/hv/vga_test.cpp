// SPDX-License-Identifier: GPL-2.0-or-later
// StdVga over synthetic state: PCI identity and BARs (ROM BAR included),
// DISPI registers as QEMU 7.2 answers them, mode fix-up against vram,
// hostile register sequences, the legacy window's addressing modes, text
// and linear rendering and the PPM encoding.
//
// Thread-safety: single-threaded tests.
#include "hv/devices/vga.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace amber::hv::devices {
namespace {

struct Mapping {
  uint64_t address = 0;
  bool enabled = false;
  int calls = 0;
};

std::unique_ptr<StdVga> make(uint64_t vram = 16ULL << 20, Mapping* mapping = nullptr,
                             std::vector<uint8_t> rom = std::vector<uint8_t>(39936, 0x55)) {
  auto vga =
      StdVga::create(vram, std::move(rom), [mapping](uint8_t*, uint64_t, uint64_t a, bool e) {
        if (mapping == nullptr) return;
        mapping->address = a;
        mapping->enabled = e;
        ++mapping->calls;
      });
  EXPECT_TRUE(vga.ok());
  return std::move(vga).value();
}

void set_mode(StdVga& vga, uint16_t x, uint16_t y, uint16_t bpp, uint16_t flags = 0) {
  vga.dispi_write(kDispiEnable, 0);
  vga.dispi_write(kDispiXres, x);
  vga.dispi_write(kDispiYres, y);
  vga.dispi_write(kDispiBpp, bpp);
  vga.dispi_write(kDispiEnable, kDispiEnabled | kDispiLfbEnabled | flags);
}

TEST(StdVga, PciIdentityAndBars) {
  auto vga = make();
  EXPECT_EQ(vga->config_read(0, 4), 0x11111234u);
  EXPECT_EQ(vga->config_read(0x08, 4), 0x03000002u);  // class 030000, rev 2
  EXPECT_EQ(vga->config_read(0x2C, 4), 0x11001AF4u);
  // BAR0: 16 MiB prefetchable 32-bit memory; BAR2: 4 KiB MMIO.
  vga->config_write(0x10, 4, 0xFFFFFFFF);
  EXPECT_EQ(vga->config_read(0x10, 4), 0xFF000008u);
  vga->config_write(0x18, 4, 0xFFFFFFFF);
  EXPECT_EQ(vga->config_read(0x18, 4), 0xFFFFF000u);
  EXPECT_EQ(vga->config_read(0x14, 4), 0u);
  // ROM BAR: 39936 bytes round up to 64 KiB; bit 0 enables.
  vga->config_write(0x30, 4, 0xFFFFF800);
  EXPECT_EQ(vga->config_read(0x30, 4), 0xFFFF0000u);
  vga->config_write(0x30, 4, 0xFEB00001);
  vga->config_write(0x04, 2, pci::kCommandMemory);
  const pci::BarInfo rom = vga->bar(pci::kRomBarIndex);
  EXPECT_TRUE(rom.enabled);
  EXPECT_EQ(rom.address, 0xFEB00000u);
  EXPECT_EQ(rom.size, 65536u);
  std::array<uint8_t, 4> bytes{};
  vga->bar_read(pci::kRomBarIndex, 0, bytes);
  EXPECT_EQ(bytes[0], 0x55);
  vga->bar_read(pci::kRomBarIndex, 39936, bytes);  // the padding
  EXPECT_EQ(bytes[0], 0);
  vga->config_write(0x30, 4, 0xFEB00000);
  EXPECT_FALSE(vga->bar(pci::kRomBarIndex).enabled);
}

TEST(StdVga, NoRomNoRomBar) {
  auto vga = make(16ULL << 20, nullptr, {});
  vga->config_write(0x30, 4, 0xFFFFFFFF);
  EXPECT_EQ(vga->config_read(0x30, 4), 0u);
  EXPECT_EQ(vga->bar(pci::kRomBarIndex).size, 0u);
}

TEST(StdVga, BarRemapMovesTheVramSlot) {
  Mapping mapping;
  auto vga = make(16ULL << 20, &mapping);
  vga->bar_remapped(0, pci::BarInfo{pci::BarKind::kMemory32, 16u << 20, 0xFD000000, true});
  EXPECT_TRUE(mapping.enabled);
  EXPECT_EQ(mapping.address, 0xFD000000u);
  vga->bar_remapped(2, pci::BarInfo{pci::BarKind::kMemory32, 4096, 0xFEBF0000, true});
  EXPECT_EQ(mapping.calls, 1);  // only BAR0 is the vram
  vga->bar_remapped(0, pci::BarInfo{});
  EXPECT_FALSE(mapping.enabled);
}

TEST(StdVga, CreateRefusesBadVram) {
  auto none = [](uint8_t*, uint64_t, uint64_t, bool) {};
  EXPECT_FALSE(StdVga::create(3u << 20, {}, none).ok());
  EXPECT_FALSE(StdVga::create(512u << 10, {}, none).ok());
  EXPECT_FALSE(StdVga::create(512ULL << 20, {}, none).ok());
  EXPECT_TRUE(StdVga::create(1u << 20, {}, none).ok());
}

TEST(StdVga, DispiIdentityAndCaps) {
  auto vga = make();
  EXPECT_EQ(vga->dispi_read(kDispiId), 0xB0C5);
  vga->dispi_write(kDispiId, 0xB0C0);
  EXPECT_EQ(vga->dispi_read(kDispiId), 0xB0C0);
  vga->dispi_write(kDispiId, 0x1234);  // not an ID: ignored
  EXPECT_EQ(vga->dispi_read(kDispiId), 0xB0C0);
  vga->dispi_write(kDispiId, 0xB0C6);
  EXPECT_EQ(vga->dispi_read(kDispiId), 0xB0C0);
  EXPECT_EQ(vga->dispi_read(kDispiVideoMemory64k), 256);  // 16 MiB
  vga->dispi_write(kDispiEnable, kDispiGetCaps);
  EXPECT_EQ(vga->dispi_read(kDispiXres), 16000);
  EXPECT_EQ(vga->dispi_read(kDispiYres), 12000);
  EXPECT_EQ(vga->dispi_read(kDispiBpp), 32);
  vga->dispi_write(kDispiEnable, 0);
  EXPECT_EQ(vga->dispi_read(kDispiXres), 0);
  EXPECT_EQ(vga->dispi_read(0x0B), 0);  // beyond the registers
  EXPECT_EQ(vga->dispi_read(0xFFFF), 0);
}

TEST(StdVga, DispiPortsAndMmioAgree) {
  auto vga = make();
  DispiPorts ports(*vga);
  const std::array<uint8_t, 2> index{kDispiXres, 0}, value{0x00, 0x04};  // 1024
  ports.io_write(0, index);
  ports.io_write(1, value);
  EXPECT_EQ(vga->dispi_read(kDispiXres), 1024);
  std::array<uint8_t, 2> out{};
  vga->bar_read(2, 0x500 + 2 * kDispiXres, out);
  EXPECT_EQ(out[0] | (out[1] << 8), 1024);
  const std::array<uint8_t, 2> yres{0x00, 0x03};  // 768 through BAR2
  vga->bar_write(2, 0x500 + 2 * kDispiYres, yres);
  EXPECT_EQ(vga->dispi_read(kDispiYres), 768);
  ports.io_read(0, out);
  EXPECT_EQ(out[0], kDispiXres);
  // QEMU's extended registers: size 8, little-endian framebuffer.
  std::array<uint8_t, 4> ext{};
  vga->bar_read(2, 0x600, ext);
  EXPECT_EQ(ext[0], 8);
  vga->bar_read(2, 0x604, ext);
  EXPECT_EQ(ext[0], 0x1E);
}

TEST(StdVga, ModeFixupFollowsQemu) {
  auto vga = make();
  set_mode(*vga, 1024, 768, 32);
  EXPECT_EQ(vga->dispi_read(kDispiVirtWidth), 1024);
  EXPECT_EQ(vga->dispi_read(kDispiVirtHeight), (16u << 20) / 4096);
  set_mode(*vga, 1023, 0, 17);  // XRES down to a multiple of 8, YRES 1, BPP 8
  EXPECT_EQ(vga->dispi_read(kDispiXres), 1016);
  EXPECT_EQ(vga->dispi_read(kDispiYres), 1);
  EXPECT_EQ(vga->dispi_read(kDispiBpp), 8);
  set_mode(*vga, 0, 100, 15);
  EXPECT_EQ(vga->dispi_read(kDispiXres), 8);
  EXPECT_EQ(vga->dispi_read(kDispiBpp), 15);
}

TEST(StdVga, ModesBiggerThanVramAreCut) {
  // 1 MiB of vram cannot hold 1024x768x32 (3 MiB): YRES is cut to what
  // fits (256 lines), as QEMU does; the display never reads past vram.
  auto vga = make(1u << 20);
  set_mode(*vga, 1024, 768, 32);
  EXPECT_EQ(vga->dispi_read(kDispiYres), 256);
  EXPECT_EQ(vga->dispi_read(kDispiVirtHeight), 256);
  set_mode(*vga, 0xFFFF, 0xFFFF, 32);
  EXPECT_EQ(vga->dispi_read(kDispiXres), 16000);
  EXPECT_EQ(vga->dispi_read(kDispiYres), (1u << 20) / 64000);
  // An offset that would move the visible area out of vram resets to 0.
  set_mode(*vga, 640, 480, 8);
  vga->dispi_write(kDispiYOffset, 2000);
  EXPECT_EQ(vga->dispi_read(kDispiYOffset), 0);
  vga->dispi_write(kDispiYOffset, 10);
  EXPECT_EQ(vga->dispi_read(kDispiYOffset), 10);
  auto screen = vga->snapshot();
  ASSERT_TRUE(screen.ok());
  EXPECT_EQ(screen->width, 640u);
}

TEST(StdVga, HostileRegisterSequencesStayInsideVram) {
  auto vga = make(1u << 20);
  std::mt19937 rng(12);
  for (int i = 0; i < 20000; ++i) {
    const unsigned index = rng() % 12;
    const auto value = static_cast<uint16_t>(rng());
    vga->dispi_write(index, value);
    vga->port_write(static_cast<uint16_t>(0x3C0 + rng() % 32), static_cast<uint8_t>(rng()));
    vga->window_write(rng() % 0x20000, static_cast<uint8_t>(rng()));
    (void)vga->window_read(rng() % 0x20000);
    if (i % 500 == 0) {
      auto screen = vga->snapshot();
      if (screen.ok()) {
        EXPECT_EQ(screen->rgb.size(), size_t{screen->width} * screen->height * 3);
      }
    }
  }
  // Bank beyond vram is masked.
  vga->dispi_write(kDispiBank, 0xFFFF);
  EXPECT_EQ(vga->dispi_read(kDispiBank), 15);
}

TEST(StdVga, EnableClearsUnlessNoClearMem) {
  auto vga = make();
  vga->vram()[100] = 0xAA;
  set_mode(*vga, 64, 64, 8, kDispiNoClearMem);
  EXPECT_EQ(vga->vram()[100], 0xAA);
  set_mode(*vga, 64, 64, 8);
  EXPECT_EQ(vga->vram()[100], 0);
}

TEST(StdVga, DacPaletteAndStatusRegisters) {
  auto vga = make();
  vga->port_write(0x3C8, 5);
  for (uint8_t v : {0x3F, 0x20, 0x01}) vga->port_write(0x3C9, v);
  vga->port_write(0x3C7, 5);
  EXPECT_EQ(vga->port_read(0x3C9), 0x3F);
  EXPECT_EQ(vga->port_read(0x3C9), 0x20);
  EXPECT_EQ(vga->port_read(0x3C9), 0x01);
  EXPECT_EQ(vga->port_read(0x3C8), 6);
  // Misc output colour bit decides whether 0x3Dx is decoded.
  vga->port_write(0x3C2, 0x67);
  EXPECT_EQ(vga->port_read(0x3CC), 0x67);
  vga->port_write(0x3D4, 0x0A);
  vga->port_write(0x3D5, 0x0D);
  EXPECT_EQ(vga->port_read(0x3D5), 0x0D);
  const uint8_t a = vga->port_read(0x3DA), b = vga->port_read(0x3DA);
  EXPECT_NE(a & 0x08, b & 0x08);  // retrace toggles
  vga->port_write(0x3C2, 0x66);
  EXPECT_EQ(vga->port_read(0x3D5), 0xFF);
  // Attribute controller: index/data flip-flop, reset by reading 0x3DA.
  vga->port_write(0x3C0, 0x01);
  vga->port_write(0x3C0, 0x3F);
  vga->port_write(0x3C0, 0x21);
  EXPECT_EQ(vga->port_read(0x3C1), 0x3F);
  EXPECT_EQ(vga->port_read(0x3C0), 0);  // data phase: reads 0, as QEMU
  vga->port_write(0x3C0, 0x05);         // data to attribute 1, back to index phase
  EXPECT_EQ(vga->port_read(0x3C0), 0x21);
  EXPECT_EQ(vga->port_read(0x3C1), 0x05);
}

// Text mode as the VGA BIOS sets it: font into plane 2 through planar
// writes, characters and attributes through odd/even at 0xB8000.
void setup_text(StdVga& vga) {
  vga.port_write(0x3C2, 0x67);
  const std::pair<uint8_t, uint8_t> seq[] = {{1, 0x00}, {2, 0x04}, {3, 0}, {4, 0x06}};
  for (auto [i, v] : seq) {
    vga.port_write(0x3C4, i);
    vga.port_write(0x3C5, v);
  }
  vga.port_write(0x3CE, 5);
  vga.port_write(0x3CF, 0x00);
  vga.port_write(0x3CE, 6);
  vga.port_write(0x3CF, 0x04);  // A0000, 64K
  vga.port_write(0x3CE, 8);
  vga.port_write(0x3CF, 0xFF);
  // Glyph 'A' (0x41): rows alternate 0xF0 / 0x0F.
  for (unsigned r = 0; r < 16; ++r) vga.window_write(0x41 * 32 + r, r % 2 ? 0x0F : 0xF0);
  // Back to text: planes 0/1, odd/even, B8000.
  vga.port_write(0x3C4, 2);
  vga.port_write(0x3C5, 0x03);
  vga.port_write(0x3C4, 4);
  vga.port_write(0x3C5, 0x02);
  vga.port_write(0x3CE, 5);
  vga.port_write(0x3CF, 0x10);
  vga.port_write(0x3CE, 6);
  vga.port_write(0x3CF, 0x0E);
  const std::pair<uint8_t, uint8_t> crtc[] = {{0x01, 79}, {0x07, 0x1F}, {0x09, 0x4F}, {0x0C, 0},
                                              {0x0D, 0},  {0x12, 0x8F}, {0x13, 40}};
  for (auto [i, v] : crtc) {
    vga.port_write(0x3D4, i);
    vga.port_write(0x3D5, v);
  }
  // Palette: attribute i -> DAC i; DAC 1 blue, DAC 15 white.
  (void)vga.port_read(0x3DA);
  for (uint8_t i = 0; i < 16; ++i) {
    vga.port_write(0x3C0, i);
    vga.port_write(0x3C0, i);
  }
  vga.port_write(0x3C0, 0x20);  // enable the display
  vga.port_write(0x3C8, 1);
  for (uint8_t v : {0, 0, 0x3F}) vga.port_write(0x3C9, v);
  vga.port_write(0x3C8, 15);
  for (uint8_t v : {0x3F, 0x3F, 0x3F}) vga.port_write(0x3C9, v);
}

TEST(StdVga, TextModeRendersFontFromPlane2) {
  auto vga = make();
  setup_text(*vga);
  // Row 0, column 1: 'A' white on blue; the rest: zeros (black).
  vga->window_write(0x18000 + 2, 'A');
  vga->window_write(0x18000 + 3, 0x1F);
  EXPECT_EQ(vga->window_read(0x18000 + 2), 'A');
  EXPECT_EQ(vga->window_read(0x18000 + 3), 0x1F);
  auto screen = vga->snapshot();
  ASSERT_TRUE(screen.ok()) << screen.error().message();
  ASSERT_EQ(screen->width, 720u);
  ASSERT_EQ(screen->height, 400u);
  auto pixel = [&](unsigned x, unsigned y) {
    const uint8_t* p = &screen->rgb[(size_t{y} * 720 + x) * 3];
    return std::array<uint8_t, 3>{p[0], p[1], p[2]};
  };
  const std::array<uint8_t, 3> white{255, 255, 255}, blue{0, 0, 255}, black{0, 0, 0};
  EXPECT_EQ(pixel(9, 0), white);     // row 0 of 'A': 0xF0, first dot on
  EXPECT_EQ(pixel(9 + 4, 0), blue);  // fifth dot off
  EXPECT_EQ(pixel(9, 1), blue);      // row 1: 0x0F
  EXPECT_EQ(pixel(9 + 7, 1), white);
  EXPECT_EQ(pixel(9 + 8, 1), blue);  // the ninth dot of a letter is background
  EXPECT_EQ(pixel(0, 0), black);
  // Blanked display (attribute index bit 5 clear): black, same size.
  (void)vga->port_read(0x3DA);
  vga->port_write(0x3C0, 0x00);
  screen = vga->snapshot();
  ASSERT_TRUE(screen.ok());
  EXPECT_EQ(screen->rgb[(9) * 3], 0);
}

TEST(StdVga, PlanarWriteModesAndLatches) {
  auto vga = make();
  vga->port_write(0x3C4, 4);
  vga->port_write(0x3C5, 0x06);  // planar
  vga->port_write(0x3C4, 2);
  vga->port_write(0x3C5, 0x0F);
  vga->port_write(0x3CE, 6);
  vga->port_write(0x3CF, 0x05);  // graphics, A0000 64K
  vga->port_write(0x3CE, 8);
  vga->port_write(0x3CF, 0xFF);
  vga->window_write(10, 0x5A);  // write mode 0: all planes
  for (unsigned p = 0; p < 4; ++p) EXPECT_EQ(vga->vram()[40 + p], 0x5A);
  // Write mode 1 copies the latches of the last read.
  (void)vga->window_read(10);
  vga->port_write(0x3CE, 5);
  vga->port_write(0x3CF, 0x01);
  vga->window_write(11, 0);
  for (unsigned p = 0; p < 4; ++p) EXPECT_EQ(vga->vram()[44 + p], 0x5A);
  // Write mode 2: the colour's bits fill whole planes, under the bit mask.
  vga->port_write(0x3CF, 0x02);
  vga->window_write(12, 0x05);
  EXPECT_EQ(vga->vram()[48], 0xFF);
  EXPECT_EQ(vga->vram()[49], 0x00);
  EXPECT_EQ(vga->vram()[50], 0xFF);
  // Read map select.
  vga->port_write(0x3CF, 0x00);
  vga->port_write(0x3CE, 4);
  vga->port_write(0x3CF, 2);
  EXPECT_EQ(vga->window_read(12), 0xFF);
  vga->port_write(0x3CF, 1);
  EXPECT_EQ(vga->window_read(12), 0x00);
}

TEST(StdVga, LinearModesRender) {
  auto vga = make();
  set_mode(*vga, 16, 2, 32);
  uint8_t* fb = vga->vram();
  fb[0] = 0x30, fb[1] = 0x20, fb[2] = 0x10;  // B G R
  auto screen = vga->snapshot();
  ASSERT_TRUE(screen.ok());
  EXPECT_EQ(screen->width, 16u);
  EXPECT_EQ(screen->height, 2u);
  EXPECT_EQ(screen->rgb[0], 0x10);
  EXPECT_EQ(screen->rgb[1], 0x20);
  EXPECT_EQ(screen->rgb[2], 0x30);
  set_mode(*vga, 8, 1, 16, kDispiNoClearMem);
  fb[0] = 0x1F, fb[1] = 0xF8;  // R = 31, B = 31
  screen = vga->snapshot();
  ASSERT_TRUE(screen.ok());
  EXPECT_EQ(screen->rgb[0], 0xF8);
  EXPECT_EQ(screen->rgb[1], 0x00);
  EXPECT_EQ(screen->rgb[2], 0xF8);
  set_mode(*vga, 8, 1, 15, kDispiNoClearMem);
  fb[0] = 0xE0, fb[1] = 0x03;  // G = 31
  screen = vga->snapshot();
  EXPECT_EQ(screen->rgb[1], 0xF8);
  EXPECT_EQ(screen->rgb[0], 0x00);
  set_mode(*vga, 8, 1, 24, kDispiNoClearMem);
  fb[3] = 1, fb[4] = 2, fb[5] = 3;
  screen = vga->snapshot();
  EXPECT_EQ(screen->rgb[3], 3);
  EXPECT_EQ(screen->rgb[5], 1);
  // 8 bpp through the 6-bit DAC.
  vga->port_write(0x3C8, 7);
  for (uint8_t v : {0x3F, 0x00, 0x10}) vga->port_write(0x3C9, v);
  set_mode(*vga, 8, 1, 8, kDispiNoClearMem);
  fb[0] = 7;
  screen = vga->snapshot();
  EXPECT_EQ(screen->rgb[0], 0xFF);
  EXPECT_EQ(screen->rgb[1], 0x00);
  EXPECT_EQ(screen->rgb[2], 0x40);
  // The bank window maps 64 KiB of vram at 0xA0000.
  vga->dispi_write(kDispiBank, 2);
  vga->window_write(5, 0x77);
  EXPECT_EQ(fb[2 * 65536 + 5], 0x77);
}

TEST(StdVga, PpmOfAKnownFramebuffer) {
  auto vga = make();
  set_mode(*vga, 8, 2, 32);
  for (unsigned i = 0; i < 16; ++i) {
    vga->vram()[i * 4 + 0] = static_cast<uint8_t>(i);      // B
    vga->vram()[i * 4 + 1] = static_cast<uint8_t>(i * 2);  // G
    vga->vram()[i * 4 + 2] = static_cast<uint8_t>(i * 3);  // R
  }
  auto screen = vga->snapshot();
  ASSERT_TRUE(screen.ok());
  const std::vector<uint8_t> ppm = encode_ppm(*screen);
  const std::string header = "P6\n8 2\n255\n";
  ASSERT_EQ(ppm.size(), header.size() + 48);
  EXPECT_EQ(std::string(ppm.begin(), ppm.begin() + header.size()), header);
  for (unsigned i = 0; i < 16; ++i) {
    EXPECT_EQ(ppm[header.size() + i * 3 + 0], i * 3);
    EXPECT_EQ(ppm[header.size() + i * 3 + 1], i * 2);
    EXPECT_EQ(ppm[header.size() + i * 3 + 2], i);
  }
}

}  // namespace
}  // namespace amber::hv::devices
