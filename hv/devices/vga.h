// SPDX-License-Identifier: GPL-2.0-or-later
// StdVga: QEMU's standard VGA (`-vga std`, PCI 1234:1111 rev 02, class
// 030000, subsystem 1af4:1100) with the Bochs VBE DISPI extension.
//
//  - BAR0: the video memory, prefetchable 32-bit memory. The vram is host
//    memory (mmap'ed here); the builder maps it into the guest with a KVM
//    memory slot at the BAR address through the VramMapper given to the
//    constructor (bar_remapped moves it), so guest framebuffer writes are
//    not MMIO exits. bar_read/bar_write of BAR0 serve the rare access that
//    still arrives through the bus (none while the slot is in place).
//  - BAR2: 4 KiB MMIO: 0x400-0x41F the VGA ports 0x3C0-0x3DF, 0x500-0x515
//    the DISPI registers (16-bit, index = (offset - 0x500) / 2), 0x600 the
//    QEMU extended registers (size 8, little-endian marker).
//  - ROM BAR: the VGA BIOS (SeaBIOS maps and runs it from there).
//  - Ports 0x3C0-0x3DF (attribute controller, misc output, sequencer, DAC,
//    graphics controller, CRTC, input status 1 with toggling retrace bits)
//    and 0x1CE/0x1CF (DISPI index/data) through the IoDevices below.
//  - The legacy window 0xA0000-0xBFFFF as the graphics controller's memory
//    map select says: chain-4, odd/even and planar (latched, write modes
//    0-3, read modes 0-1) accesses into vram laid out as QEMU does (plane p
//    of address a at vram[4a + p]); with DISPI enabled the 64 KiB bank.
//
// DISPI follows QEMU 7.2: ID answers what was last written among
// 0xB0C0..0xB0C5 (0xB0C5 after reset); GETCAPS makes XRES/YRES/BPP read
// 16000/12000/32; a mode is fixed up as QEMU's vbe_fixup_regs does (bad
// BPP -> 8, XRES a multiple of 8, YRES at most what vram holds, offsets
// reset when the visible area would leave vram), so nothing the guest
// writes can make the display read outside vram.
//
// The display (snapshot()) renders DISPI linear modes (8 bpp through the
// DAC, 15/16/24/32 bpp) and VGA text mode with the font the BIOS loaded
// into plane 2, as RGB; vga_render.cpp holds the rendering and the PPM.
//
// Thread-safety: every register, window, BAR and snapshot access takes
// the device's mutex (vCPU threads and the control thread); the vram is
// also written by the guest directly through the KVM slot, which a
// snapshot reads without ordering (a torn frame at worst).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "hv/bus/io_bus.h"
#include "hv/pci/pci_config.h"

namespace amber::hv::devices {

inline constexpr uint64_t kVgaPortBase = 0x3C0;  // 0x3C0..0x3DF
inline constexpr uint64_t kVgaPortCount = 0x20;
inline constexpr uint64_t kDispiPortBase = 0x1CE;  // index; 0x1CF (and 0x1D0) data
inline constexpr uint64_t kDispiPortCount = 3;
inline constexpr uint64_t kVgaWindowBase = 0xA0000;
inline constexpr uint64_t kVgaWindowSize = 0x20000;
inline constexpr uint64_t kVgaDefaultVram = 16ULL << 20;

// DISPI register indices and values (Bochs VBE).
inline constexpr unsigned kDispiId = 0, kDispiXres = 1, kDispiYres = 2, kDispiBpp = 3;
inline constexpr unsigned kDispiEnable = 4, kDispiBank = 5, kDispiVirtWidth = 6;
inline constexpr unsigned kDispiVirtHeight = 7, kDispiXOffset = 8, kDispiYOffset = 9;
inline constexpr unsigned kDispiRegisterCount = 10, kDispiVideoMemory64k = 10;
inline constexpr uint16_t kDispiId0 = 0xB0C0, kDispiId5 = 0xB0C5;
inline constexpr uint16_t kDispiEnabled = 0x01, kDispiGetCaps = 0x02, kDispi8BitDac = 0x20;
inline constexpr uint16_t kDispiLfbEnabled = 0x40, kDispiNoClearMem = 0x80;
inline constexpr uint16_t kDispiMaxXres = 16000, kDispiMaxYres = 12000, kDispiMaxBpp = 32;

// An RGB picture of the display (3 bytes a pixel, rows top down).
struct Screen {
  unsigned width = 0;
  unsigned height = 0;
  std::vector<uint8_t> rgb;
};

// What the display shows, for a client that follows it frame by frame
// (the VNC server): a DISPI linear mode (its geometry in vram, so written
// vram pages can be turned into scan lines), text mode (drawn whole with
// snapshot()), or a mode nothing draws.
enum class DisplayKind { kNone, kText, kLinear };

struct DisplayLayout {
  DisplayKind kind = DisplayKind::kNone;
  unsigned width = 0, height = 0, bpp = 0;  // kLinear
  uint64_t start = 0, line_offset = 0;      // bytes into vram; kLinear
  bool operator==(const DisplayLayout&) const = default;
};

// P6 PPM of `screen`.
std::vector<uint8_t> encode_ppm(const Screen& screen);

class StdVga : public pci::PciConfigSpace {
 public:
  // Moves the vram's memory slot (host, size: the vram) to `address`;
  // enabled == false removes it.
  using VramMapper =
      std::function<void(uint8_t* host, uint64_t size, uint64_t address, bool enabled)>;

  // vram_size: power of two, 1 MiB .. 256 MiB. rom: the VGA BIOS image
  // (may be empty: no ROM BAR).
  static Result<std::unique_ptr<StdVga>> create(uint64_t vram_size, std::vector<uint8_t> rom,
                                                VramMapper mapper);
  ~StdVga() override;
  StdVga(const StdVga&) = delete;
  StdVga& operator=(const StdVga&) = delete;

  uint8_t* vram() { return vram_; }
  uint64_t vram_size() const { return vram_size_; }

  void bar_read(unsigned index, uint64_t offset, std::span<uint8_t> data) override;
  void bar_write(unsigned index, uint64_t offset, std::span<const uint8_t> data) override;
  void bar_remapped(unsigned index, const pci::BarInfo& mapped) override;
  void reset() override;

  // Byte access to the VGA ports (port 0x3C0..0x3DF).
  uint8_t port_read(uint16_t port);
  void port_write(uint16_t port, uint8_t value);
  // DISPI registers (the data port / BAR2 view of register `index`).
  uint16_t dispi_read(unsigned index);
  void dispi_write(unsigned index, uint16_t value);
  uint16_t dispi_index();
  void set_dispi_index(uint16_t index);
  // The data port: the register the index selects.
  uint16_t dispi_data_read();
  void dispi_data_write(uint16_t value);
  // The legacy window; offset from 0xA0000.
  uint8_t window_read(uint64_t offset);
  void window_write(uint64_t offset, uint8_t value);

  // The current display as RGB; an error for a mode not rendered.
  Result<Screen> snapshot();

  // The mode now on the display.
  DisplayLayout display_layout();
  // Rows [first, first + count) of a kLinear `layout` as 4 bytes a pixel
  // (B, G, R, 0xFF: little-endian 0xFFRRGGBB) into out (width * count * 4 bytes). False, drawing
  // nothing, when the mode is no longer `layout` (the caller reads the
  // layout again) or the rows are not inside it.
  bool render_rows(const DisplayLayout& layout, unsigned first, unsigned count, uint8_t* out);
  // Counts every change the vram's dirty log does not show: register,
  // palette and legacy-window writes, BAR moves and resets. A client that
  // sees it change redraws the whole screen (any thread).
  uint64_t change_count() const { return change_count_.load(std::memory_order_acquire); }

 private:
  StdVga(uint64_t vram_size, uint8_t* vram, std::vector<uint8_t> rom, VramMapper mapper);

  uint16_t dispi_read_locked(unsigned index) const;
  void dispi_write_locked(unsigned index, uint16_t value);
  void dispi_fixup();
  bool dispi_enabled() const { return (dispi_[kDispiEnable] & kDispiEnabled) != 0; }
  uint8_t port_read_locked(uint16_t port);
  void port_write_locked(uint16_t port, uint8_t value);
  bool port_decoded(uint16_t port) const;
  // Maps a window offset to the plane address; false outside the map.
  bool window_address(uint64_t offset, uint64_t& address) const;
  Result<Screen> render_dispi() const;
  DisplayLayout layout_locked() const;
  void note_change() { change_count_.fetch_add(1, std::memory_order_release); }
  Result<Screen> render_text() const;
  std::array<uint8_t, 3> palette_rgb(unsigned index) const;

  std::mutex mutex_;
  const uint64_t vram_size_;
  uint8_t* const vram_;
  const std::vector<uint8_t> rom_;
  VramMapper mapper_;

  // VGA registers.
  uint8_t misc_output_ = 0, feature_control_ = 0, status1_ = 0;
  uint8_t sequencer_index_ = 0, graphics_index_ = 0, crtc_index_ = 0, attribute_index_ = 0;
  bool attribute_flip_flop_ = false;
  std::array<uint8_t, 8> sequencer_{};
  std::array<uint8_t, 16> graphics_{};
  std::array<uint8_t, 32> attribute_{};
  std::array<uint8_t, 256> crtc_{};
  std::array<uint8_t, 768> dac_{};
  std::array<uint8_t, 3> dac_cache_{};
  uint8_t dac_read_index_ = 0, dac_write_index_ = 0, dac_sub_index_ = 0, dac_state_ = 0;
  uint32_t latch_ = 0;

  // DISPI.
  uint16_t dispi_index_ = 0;
  std::array<uint16_t, kDispiRegisterCount> dispi_{};
  uint64_t dispi_line_offset_ = 0, dispi_start_ = 0, bank_offset_ = 0;

  std::atomic<uint64_t> change_count_{0};
};

// 0x3C0..0x3DF.
class VgaPorts : public bus::IoDevice {
 public:
  explicit VgaPorts(StdVga& vga) : vga_(vga) {}
  void io_read(uint64_t offset, std::span<uint8_t> data) override;
  void io_write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  StdVga& vga_;
};

// 0x1CE (index), 0x1CF/0x1D0 (data), 16 bits wide.
class DispiPorts : public bus::IoDevice {
 public:
  explicit DispiPorts(StdVga& vga) : vga_(vga) {}
  void io_read(uint64_t offset, std::span<uint8_t> data) override;
  void io_write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  StdVga& vga_;
};

// 0xA0000..0xBFFFF.
class VgaWindow : public bus::IoDevice {
 public:
  explicit VgaWindow(StdVga& vga) : vga_(vga) {}
  void io_read(uint64_t offset, std::span<uint8_t> data) override;
  void io_write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  StdVga& vga_;
};

}  // namespace amber::hv::devices
