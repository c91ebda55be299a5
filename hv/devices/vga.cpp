// SPDX-License-Identifier: GPL-2.0-or-later
// StdVga registers, the legacy window and the BARs (see vga.h); the
// rendering of the display is in vga_render.cpp.
#include "hv/devices/vga.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include "hv/devices/piix.h"

namespace amber::hv::devices {
namespace {

constexpr unsigned kVramBar = 0, kMmioBar = 2;
constexpr uint64_t kMmioBarSize = 0x1000;
constexpr uint64_t kMmioVgaPorts = 0x400, kMmioDispi = 0x500, kMmioQemuExt = 0x600;
constexpr uint64_t kMmioDispiEnd = kMmioDispi + 2 * (kDispiVideoMemory64k + 1);
constexpr uint64_t kMinVram = 1ULL << 20, kMaxVram = 256ULL << 20;

// Sequencer / graphics controller registers and bits used here.
constexpr unsigned kSeqPlaneWrite = 2, kSeqMemoryMode = 4;
constexpr uint8_t kSeqChain4 = 0x08;
constexpr unsigned kGfxSetReset = 0, kGfxEnableSetReset = 1, kGfxColorCompare = 2;
constexpr unsigned kGfxDataRotate = 3, kGfxReadMap = 4, kGfxMode = 5, kGfxMisc = 6;
constexpr unsigned kGfxColorDontCare = 7, kGfxBitMask = 8;
constexpr uint8_t kStatus1Retrace = 0x08, kStatus1DisplayEnable = 0x01;

// Writable bits per register, as QEMU's sr_mask / gr_mask.
constexpr std::array<uint8_t, 8> kSequencerMask = {0x03, 0x3d, 0x0f, 0x3f, 0x0e, 0, 0, 0};
constexpr std::array<uint8_t, 16> kGraphicsMask = {0x0f, 0x0f, 0x0f, 0x1f, 0x03, 0x7b, 0x0f, 0x0f,
                                                   0xff, 0,    0,    0,    0,    0,    0,    0};

bool is_power_of_two(uint64_t v) {
  return v != 0 && (v & (v - 1)) == 0;
}

// Each of the low four bits of `planes` selects one byte lane.
uint32_t lane_mask(unsigned planes) {
  uint32_t mask = 0;
  for (unsigned p = 0; p < 4; ++p)
    if (planes & (1u << p)) mask |= 0xFFu << (8 * p);
  return mask;
}

uint32_t gather(std::span<const uint8_t> data) {
  uint32_t value = 0;
  for (size_t i = 0; i < data.size() && i < 4; ++i)
    value |= static_cast<uint32_t>(data[i]) << (8 * i);
  return value;
}

void scatter(std::span<uint8_t> data, uint32_t value) {
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = i < 4 ? static_cast<uint8_t>(value >> (8 * i)) : 0;
}

}  // namespace

Result<std::unique_ptr<StdVga>> StdVga::create(uint64_t vram_size, std::vector<uint8_t> rom,
                                               VramMapper mapper) {
  if (!is_power_of_two(vram_size) || vram_size < kMinVram || vram_size > kMaxVram)
    return Error(ErrorKind::kInvalidArgument, "--vga vram: must be a power of two from 1M to 256M");
  if (rom.size() > (16u << 20))
    return Error(ErrorKind::kInvalidArgument, "--vga romfile: larger than 16 MiB");
  void* host = ::mmap(nullptr, vram_size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (host == MAP_FAILED) return Error::from_errno(errno, "mmap of the VGA memory");
  return std::unique_ptr<StdVga>(
      new StdVga(vram_size, static_cast<uint8_t*>(host), std::move(rom), std::move(mapper)));
}

StdVga::StdVga(uint64_t vram_size, uint8_t* vram, std::vector<uint8_t> rom, VramMapper mapper)
    : PciConfigSpace({0x1234, 0x1111, 0x02, 0x030000, kQemuSubsystemVendor, kQemuSubsystem, 0}),
      vram_size_(vram_size),
      vram_(vram),
      rom_(std::move(rom)),
      mapper_(std::move(mapper)) {
  (void)set_bar(kVramBar, pci::BarKind::kMemory32, vram_size, pci::Prefetch::kYes);
  (void)set_bar(kMmioBar, pci::BarKind::kMemory32, kMmioBarSize);
  if (!rom_.empty()) {
    uint64_t size = 2048;
    while (size < rom_.size()) size <<= 1;
    (void)set_rom(size);
  }
  snapshot_reset_state();
  reset();
}

StdVga::~StdVga() {
  ::munmap(vram_, vram_size_);
}

void StdVga::reset() {
  PciConfigSpace::reset();
  std::lock_guard lock(mutex_);
  note_change();
  misc_output_ = feature_control_ = status1_ = 0;
  sequencer_index_ = graphics_index_ = crtc_index_ = attribute_index_ = 0;
  attribute_flip_flop_ = false;
  sequencer_.fill(0);
  graphics_.fill(0);
  attribute_.fill(0);
  crtc_.fill(0);
  dac_.fill(0);
  dac_read_index_ = dac_write_index_ = dac_sub_index_ = dac_state_ = 0;
  latch_ = 0;
  dispi_index_ = 0;
  dispi_.fill(0);
  dispi_[kDispiId] = kDispiId5;
  dispi_line_offset_ = dispi_start_ = bank_offset_ = 0;
}

// --- BARs ---

void StdVga::bar_read(unsigned index, uint64_t offset, std::span<uint8_t> data) {
  if (index == kVramBar) {
    for (size_t i = 0; i < data.size(); ++i)
      data[i] = offset + i < vram_size_ ? vram_[offset + i] : 0xFF;
    return;
  }
  if (index == pci::kRomBarIndex) {
    for (size_t i = 0; i < data.size(); ++i)
      data[i] = offset + i < rom_.size() ? rom_[offset + i] : 0;
    return;
  }
  if (index != kMmioBar) {
    scatter(data, 0xFFFFFFFF);
    return;
  }
  if (offset >= kMmioVgaPorts && offset + data.size() <= kMmioVgaPorts + kVgaPortCount) {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < data.size(); ++i)
      data[i] = port_read_locked(static_cast<uint16_t>(kVgaPortBase + offset - kMmioVgaPorts + i));
    return;
  }
  if (offset >= kMmioDispi && offset < kMmioDispiEnd && data.size() <= 2) {
    std::lock_guard lock(mutex_);
    const unsigned reg = static_cast<unsigned>((offset - kMmioDispi) / 2);
    const uint16_t value = dispi_read_locked(reg);
    scatter(data, (offset & 1) ? value >> 8 : value);
    return;
  }
  if (offset >= kMmioQemuExt && offset < kMmioQemuExt + 8 && data.size() == 4) {
    // Register 0: the size of the block; 4: framebuffer endianness (little).
    scatter(data, offset == kMmioQemuExt ? 8u : offset == kMmioQemuExt + 4 ? 0x1e1e1e1eu : 0u);
    return;
  }
  scatter(data, 0xFFFFFFFF);
}

void StdVga::bar_write(unsigned index, uint64_t offset, std::span<const uint8_t> data) {
  note_change();
  if (index == kVramBar) {
    for (size_t i = 0; i < data.size(); ++i)
      if (offset + i < vram_size_) vram_[offset + i] = data[i];
    return;
  }
  if (index != kMmioBar) return;
  if (offset >= kMmioVgaPorts && offset + data.size() <= kMmioVgaPorts + kVgaPortCount) {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < data.size(); ++i)
      port_write_locked(static_cast<uint16_t>(kVgaPortBase + offset - kMmioVgaPorts + i), data[i]);
    return;
  }
  if (offset >= kMmioDispi && offset < kMmioDispiEnd && data.size() == 2 && offset % 2 == 0) {
    std::lock_guard lock(mutex_);
    dispi_write_locked(static_cast<unsigned>((offset - kMmioDispi) / 2),
                       static_cast<uint16_t>(gather(data)));
  }
}

void StdVga::bar_remapped(unsigned index, const pci::BarInfo& mapped) {
  note_change();  // the old slot's dirty log is gone with it
  if (index == kVramBar && mapper_) mapper_(vram_, vram_size_, mapped.address, mapped.enabled);
}

// --- VGA ports ---

bool StdVga::port_decoded(uint16_t port) const {
  // Colour emulation (misc output bit 0) decodes 0x3Dx, mono 0x3Bx.
  if (port >= 0x3D0 && port <= 0x3DF) return (misc_output_ & 1) != 0;
  return true;
}

uint8_t StdVga::port_read(uint16_t port) {
  std::lock_guard lock(mutex_);
  return port_read_locked(port);
}

void StdVga::port_write(uint16_t port, uint8_t value) {
  std::lock_guard lock(mutex_);
  port_write_locked(port, value);
}

uint8_t StdVga::port_read_locked(uint16_t port) {
  if (!port_decoded(port)) return 0xFF;
  switch (port) {
    case 0x3C0:
      return attribute_flip_flop_ ? 0 : attribute_index_;
    case 0x3C1:
      return (attribute_index_ & 0x1F) < 21 ? attribute_[attribute_index_ & 0x1F] : 0;
    case 0x3C2:
      return 0;  // input status 0
    case 0x3C4:
      return sequencer_index_;
    case 0x3C5:
      return sequencer_[sequencer_index_ & 7];
    case 0x3C6:
      return 0xFF;  // PEL mask
    case 0x3C7:
      return dac_state_;
    case 0x3C8:
      return dac_write_index_;
    case 0x3C9: {
      const uint8_t value = dac_[dac_read_index_ * 3u + dac_sub_index_];
      if (++dac_sub_index_ == 3) {
        dac_sub_index_ = 0;
        ++dac_read_index_;
      }
      return value;
    }
    case 0x3CA:
      return feature_control_;
    case 0x3CC:
      return misc_output_;
    case 0x3CE:
      return graphics_index_;
    case 0x3CF:
      return graphics_[graphics_index_ & 0x0F];
    case 0x3D4:
      return crtc_index_;
    case 0x3D5:
      return crtc_[crtc_index_];
    case 0x3DA:
      // Input status 1: the retrace bits toggle on every read so BIOS
      // loops waiting for either edge finish; the read resets the
      // attribute controller's flip-flop.
      status1_ ^= kStatus1Retrace | kStatus1DisplayEnable;
      attribute_flip_flop_ = false;
      return status1_;
    default:
      return 0xFF;
  }
}

void StdVga::port_write_locked(uint16_t port, uint8_t value) {
  note_change();
  if (!port_decoded(port)) return;
  switch (port) {
    case 0x3C0:
      if (!attribute_flip_flop_) {
        attribute_index_ = value & 0x3F;
      } else {
        const unsigned index = attribute_index_ & 0x1F;
        if (index <= 0x0F)
          attribute_[index] = value & 0x3F;
        else if (index == 0x10)
          attribute_[index] = value & ~0x10;
        else if (index == 0x12)
          attribute_[index] = value & 0x3F;
        else if (index == 0x13 || index == 0x11)
          attribute_[index] = value;
        else if (index == 0x14)
          attribute_[index] = value & 0x0F;
      }
      attribute_flip_flop_ = !attribute_flip_flop_;
      break;
    case 0x3C2:
      misc_output_ = value & ~0x10;
      break;
    case 0x3C4:
      sequencer_index_ = value & 7;
      break;
    case 0x3C5:
      sequencer_[sequencer_index_] = value & kSequencerMask[sequencer_index_];
      break;
    case 0x3C7:
      dac_read_index_ = value;
      dac_sub_index_ = 0;
      dac_state_ = 3;
      break;
    case 0x3C8:
      dac_write_index_ = value;
      dac_sub_index_ = 0;
      dac_state_ = 0;
      break;
    case 0x3C9:
      dac_cache_[dac_sub_index_] = value;
      if (++dac_sub_index_ == 3) {
        std::memcpy(&dac_[dac_write_index_ * 3u], dac_cache_.data(), 3);
        dac_sub_index_ = 0;
        ++dac_write_index_;
      }
      break;
    case 0x3CE:
      graphics_index_ = value & 0x0F;
      break;
    case 0x3CF:
      graphics_[graphics_index_] = value & kGraphicsMask[graphics_index_];
      break;
    case 0x3D4:
      crtc_index_ = value;
      break;
    case 0x3D5:
      // CR11 bit 7 write-protects CR0-CR7 (CR7 bit 4 stays writable).
      if ((crtc_[0x11] & 0x80) && crtc_index_ <= 7) {
        if (crtc_index_ == 7) crtc_[7] = (crtc_[7] & ~0x10) | (value & 0x10);
        break;
      }
      crtc_[crtc_index_] = value;
      break;
    case 0x3DA:
      feature_control_ = value & 0x10;
      break;
    default:
      break;
  }
}

// --- DISPI ---

uint16_t StdVga::dispi_index() {
  std::lock_guard lock(mutex_);
  return dispi_index_;
}

void StdVga::set_dispi_index(uint16_t index) {
  std::lock_guard lock(mutex_);
  dispi_index_ = index;
}

uint16_t StdVga::dispi_data_read() {
  std::lock_guard lock(mutex_);
  return dispi_read_locked(dispi_index_);
}

void StdVga::dispi_data_write(uint16_t value) {
  std::lock_guard lock(mutex_);
  dispi_write_locked(dispi_index_, value);
}

uint16_t StdVga::dispi_read(unsigned index) {
  std::lock_guard lock(mutex_);
  return dispi_read_locked(index);
}

void StdVga::dispi_write(unsigned index, uint16_t value) {
  std::lock_guard lock(mutex_);
  dispi_write_locked(index, value);
}

uint16_t StdVga::dispi_read_locked(unsigned index) const {
  if (index < kDispiRegisterCount) {
    if (dispi_[kDispiEnable] & kDispiGetCaps) {
      if (index == kDispiXres) return kDispiMaxXres;
      if (index == kDispiYres) return kDispiMaxYres;
      if (index == kDispiBpp) return kDispiMaxBpp;
    }
    return dispi_[index];
  }
  if (index == kDispiVideoMemory64k) return static_cast<uint16_t>(vram_size_ / (64 * 1024));
  return 0;
}

void StdVga::dispi_write_locked(unsigned index, uint16_t value) {
  note_change();
  switch (index) {
    case kDispiId:
      if (value >= kDispiId0 && value <= kDispiId5) dispi_[index] = value;
      break;
    case kDispiXres:
    case kDispiYres:
    case kDispiBpp:
    case kDispiVirtWidth:
    case kDispiXOffset:
    case kDispiYOffset:
      dispi_[index] = value;
      dispi_fixup();
      break;
    case kDispiBank:
      value &= static_cast<uint16_t>((vram_size_ >> 16) - 1);
      dispi_[index] = value;
      bank_offset_ = static_cast<uint64_t>(value) << 16;
      break;
    case kDispiEnable:
      if ((value & kDispiEnabled) && !dispi_enabled()) {
        dispi_[kDispiVirtWidth] = dispi_[kDispiXOffset] = dispi_[kDispiYOffset] = 0;
        dispi_[kDispiEnable] |= kDispiEnabled;
        dispi_fixup();
        if (!(value & kDispiNoClearMem)) {
          const uint64_t bytes = dispi_[kDispiYres] * dispi_line_offset_;
          std::memset(vram_, 0, bytes < vram_size_ ? bytes : vram_size_);
        }
        // What QEMU's vbe_update_vgaregs sets for a linear mode: graphics,
        // the 64 KiB window at 0xA0000, chain-4 over all planes.
        if (dispi_[kDispiBpp] != 4) {
          graphics_[kGfxMisc] = static_cast<uint8_t>((graphics_[kGfxMisc] & ~0x0C) | 0x05);
          sequencer_[kSeqMemoryMode] |= kSeqChain4;
          sequencer_[kSeqPlaneWrite] = 0x0F;
        }
      } else {
        bank_offset_ = 0;
      }
      dispi_[kDispiEnable] = value;
      break;
    default:
      break;
  }
}

// QEMU 7.2's vbe_fixup_regs: every register a mode depends on is brought
// into range, so the visible area always lies inside vram.
void StdVga::dispi_fixup() {
  if (!dispi_enabled()) return;
  uint16_t* r = dispi_.data();
  unsigned bits = 8;
  switch (r[kDispiBpp]) {
    case 4:
    case 8:
    case 16:
    case 24:
    case 32:
      bits = r[kDispiBpp];
      break;
    case 15:
      bits = 16;
      break;
    default:
      r[kDispiBpp] = 8;
      break;
  }
  r[kDispiXres] &= ~7u;
  if (r[kDispiXres] == 0) r[kDispiXres] = 8;
  if (r[kDispiXres] > kDispiMaxXres) r[kDispiXres] = kDispiMaxXres;
  r[kDispiVirtWidth] &= ~7u;
  if (r[kDispiVirtWidth] > kDispiMaxXres) r[kDispiVirtWidth] = kDispiMaxXres;
  if (r[kDispiVirtWidth] < r[kDispiXres]) r[kDispiVirtWidth] = r[kDispiXres];
  const uint64_t line = static_cast<uint64_t>(r[kDispiVirtWidth]) * bits / 8;
  uint64_t max_y = vram_size_ / line;
  if (max_y > 0xFFFF) max_y = 0xFFFF;
  if (r[kDispiYres] == 0) r[kDispiYres] = 1;
  if (r[kDispiYres] > kDispiMaxYres) r[kDispiYres] = kDispiMaxYres;
  if (r[kDispiYres] > max_y) r[kDispiYres] = static_cast<uint16_t>(max_y);
  if (r[kDispiXOffset] > kDispiMaxXres) r[kDispiXOffset] = kDispiMaxXres;
  if (r[kDispiYOffset] > kDispiMaxYres) r[kDispiYOffset] = kDispiMaxYres;
  uint64_t offset = static_cast<uint64_t>(r[kDispiXOffset]) * bits / 8 + r[kDispiYOffset] * line;
  if (offset + r[kDispiYres] * line > vram_size_) {
    r[kDispiXOffset] = r[kDispiYOffset] = 0;
    offset = 0;
  }
  r[kDispiVirtHeight] = static_cast<uint16_t>(max_y);
  dispi_line_offset_ = line;
  dispi_start_ = offset;
}

// --- legacy window ---

bool StdVga::window_address(uint64_t offset, uint64_t& address) const {
  switch ((graphics_[kGfxMisc] >> 2) & 3) {
    case 0:
      address = offset;
      return offset < 0x20000;
    case 1:
      if (offset >= 0x10000) return false;
      address = offset + bank_offset_;
      return true;
    case 2:
      address = offset - 0x10000;
      return offset >= 0x10000 && offset < 0x18000;
    default:
      address = offset - 0x18000;
      return offset >= 0x18000 && offset < 0x20000;
  }
}

uint8_t StdVga::window_read(uint64_t offset) {
  std::lock_guard lock(mutex_);
  uint64_t a = 0;
  if (!window_address(offset, a)) return 0xFF;
  if (sequencer_[kSeqMemoryMode] & kSeqChain4) return a < vram_size_ ? vram_[a] : 0xFF;
  if (graphics_[kGfxMode] & 0x10) {
    const unsigned plane = (graphics_[kGfxReadMap] & 2) | (a & 1);
    a = ((a & ~1ULL) << 1) | plane;
    return a < vram_size_ ? vram_[a] : 0xFF;
  }
  if (a * 4 + 4 > vram_size_) return 0xFF;
  std::memcpy(&latch_, vram_ + a * 4, 4);
  if (!(graphics_[kGfxMode] & 0x08))
    return static_cast<uint8_t>(latch_ >> (8 * (graphics_[kGfxReadMap] & 3)));
  // Read mode 1: colour compare over the planes not ignored.
  uint32_t v =
      (latch_ ^ lane_mask(graphics_[kGfxColorCompare])) & lane_mask(graphics_[kGfxColorDontCare]);
  v |= v >> 16;
  v |= v >> 8;
  return static_cast<uint8_t>(~v);
}

void StdVga::window_write(uint64_t offset, uint8_t value) {
  std::lock_guard lock(mutex_);
  note_change();
  uint64_t a = 0;
  if (!window_address(offset, a)) return;
  if (sequencer_[kSeqMemoryMode] & kSeqChain4) {
    if ((sequencer_[kSeqPlaneWrite] & (1u << (a & 3))) && a < vram_size_) vram_[a] = value;
    return;
  }
  if (graphics_[kGfxMode] & 0x10) {
    const unsigned plane = (graphics_[kGfxReadMap] & 2) | (a & 1);
    if (!(sequencer_[kSeqPlaneWrite] & (1u << plane))) return;
    a = ((a & ~1ULL) << 1) | plane;
    if (a < vram_size_) vram_[a] = value;
    return;
  }
  // Planar, latched (QEMU's vga_mem_writeb).
  uint32_t v = value;
  uint32_t bit_mask = graphics_[kGfxBitMask];
  const unsigned rotate = graphics_[kGfxDataRotate] & 7;
  bool logical = true;
  switch (graphics_[kGfxMode] & 3) {
    case 0: {
      v = ((v >> rotate) | (v << (8 - rotate))) & 0xFF;
      v |= v << 8;
      v |= v << 16;
      const uint32_t set_mask = lane_mask(graphics_[kGfxEnableSetReset]);
      v = (v & ~set_mask) | (lane_mask(graphics_[kGfxSetReset]) & set_mask);
      break;
    }
    case 1:
      v = latch_;
      logical = false;
      break;
    case 2:
      v = lane_mask(value & 0x0F);
      break;
    default:
      v = ((v >> rotate) | (v << (8 - rotate))) & 0xFF;
      bit_mask &= v;
      v = lane_mask(graphics_[kGfxSetReset]);
      break;
  }
  if (logical) {
    switch (graphics_[kGfxDataRotate] >> 3) {
      case 1:
        v &= latch_;
        break;
      case 2:
        v |= latch_;
        break;
      case 3:
        v ^= latch_;
        break;
      default:
        break;
    }
    bit_mask |= bit_mask << 8;
    bit_mask |= bit_mask << 16;
    v = (v & bit_mask) | (latch_ & ~bit_mask);
  }
  const uint32_t write_mask = lane_mask(sequencer_[kSeqPlaneWrite]);
  if (a * 4 + 4 > vram_size_) return;
  uint32_t old = 0;
  std::memcpy(&old, vram_ + a * 4, 4);
  old = (old & ~write_mask) | (v & write_mask);
  std::memcpy(vram_ + a * 4, &old, 4);
}

// --- IoDevices ---

void VgaPorts::io_read(uint64_t offset, std::span<uint8_t> data) {
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = offset + i < kVgaPortCount
                  ? vga_.port_read(static_cast<uint16_t>(kVgaPortBase + offset + i))
                  : 0xFF;
}

void VgaPorts::io_write(uint64_t offset, std::span<const uint8_t> data) {
  // A 16-bit OUT (index, value) is two byte writes, as on the ISA bus.
  for (size_t i = 0; i < data.size(); ++i)
    if (offset + i < kVgaPortCount)
      vga_.port_write(static_cast<uint16_t>(kVgaPortBase + offset + i), data[i]);
}

void DispiPorts::io_read(uint64_t offset, std::span<uint8_t> data) {
  scatter(data, offset == 0 ? vga_.dispi_index() : vga_.dispi_data_read());
}

void DispiPorts::io_write(uint64_t offset, std::span<const uint8_t> data) {
  const auto value = static_cast<uint16_t>(gather(data));
  if (offset == 0)
    vga_.set_dispi_index(value);
  else
    vga_.dispi_data_write(value);
}

void VgaWindow::io_read(uint64_t offset, std::span<uint8_t> data) {
  for (size_t i = 0; i < data.size(); ++i) data[i] = vga_.window_read(offset + i);
}

void VgaWindow::io_write(uint64_t offset, std::span<const uint8_t> data) {
  for (size_t i = 0; i < data.size(); ++i) vga_.window_write(offset + i, data[i]);
}

}  // namespace amber::hv::devices
