// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/pci/pci_config.h"

#include <algorithm>

namespace amber::hv::pci {
namespace {

// Highest guest-physical address a 64-bit BAR may decode: 46 bits is what
// x86 hosts of this era implement; anything above is the sizing pattern.
constexpr uint64_t kMaxPhysicalAddress = 1ULL << 46;
constexpr uint64_t kIoSpaceEnd = 0x10000;
constexpr uint64_t kMemory32End = 0xFFFFFFFFULL;
constexpr uint16_t kWritableCommand =
    kCommandIo | kCommandMemory | kCommandBusMaster | kCommandIntxDisable | (1u << 6) | (1u << 8);
// STATUS error bits the guest clears by writing 1 (parity, aborts, SERR).
constexpr uint16_t kStatusWriteOneToClear = 0xF900;

bool is_power_of_two(uint64_t v) {
  return v != 0 && (v & (v - 1)) == 0;
}

}  // namespace

PciConfigSpace::PciConfigSpace(const PciIdentity& identity) {
  write_le(kVendorId, 2, identity.vendor);
  write_le(kDeviceId, 2, identity.device);
  config_[kRevision] = identity.revision;
  write_le(kClassProg, 1, identity.class_code & 0xFF);
  write_le(kClassProg + 1, 2, (identity.class_code >> 8) & 0xFFFF);
  config_[kHeaderType] = identity.header_type;
  write_le(kSubsystemVendorId, 2, identity.subsystem_vendor);
  write_le(kSubsystemId, 2, identity.subsystem);
  writable_[kInterruptLine] = 0xFF;
  reset_config_ = config_;
}

uint32_t PciConfigSpace::read_le(unsigned offset, unsigned size) const {
  uint32_t value = 0;
  for (unsigned i = 0; i < size && offset + i < kConfigSize; ++i)
    value |= static_cast<uint32_t>(config_[offset + i]) << (8 * i);
  return value;
}

void PciConfigSpace::write_le(unsigned offset, unsigned size, uint32_t value) {
  size = size > 4 ? 4 : size;  // a value is 32 bits wide
  for (unsigned i = 0; i < size && offset + i < kConfigSize; ++i)
    config_[offset + i] = static_cast<uint8_t>(value >> (8 * i));
}

void PciConfigSpace::set_writable(unsigned offset, unsigned size, uint32_t mask) {
  // A mask is 32 bits wide: wider ranges are set 4 bytes at a time.
  size = size > 4 ? 4 : size;
  for (unsigned i = 0; i < size && offset + i < kConfigSize; ++i)
    writable_[offset + i] = static_cast<uint8_t>(mask >> (8 * i));
}

void PciConfigSpace::masked_write(unsigned offset, unsigned size, uint32_t value) {
  for (unsigned i = 0; i < size && offset + i < kConfigSize; ++i) {
    const uint8_t mask = writable_[offset + i];
    const auto byte = static_cast<uint8_t>(value >> (8 * i));
    config_[offset + i] = static_cast<uint8_t>((config_[offset + i] & ~mask) | (byte & mask));
  }
}

Result<void> PciConfigSpace::set_bar(unsigned index, BarKind kind, uint64_t size,
                                     Prefetch prefetch) {
  const bool wide = kind == BarKind::kMemory64;
  if (index >= kBarCount || (wide && index + 1 >= kBarCount))
    return Error(ErrorKind::kInvalidArgument, "PCI BAR index out of range");
  if (!is_power_of_two(size) || (kind == BarKind::kIo && (size < 4 || size > 256)) ||
      (kind != BarKind::kIo && size < 16) || (kind == BarKind::kMemory32 && size > (1ULL << 31)))
    return Error(ErrorKind::kInvalidArgument, "PCI BAR size must be a supported power of two");
  if (bars_[index].size != 0 || bars_[index].upper_half || (wide && bars_[index + 1].size != 0))
    return Error(ErrorKind::kInvalidArgument, "PCI BAR already defined");
  bars_[index] = BarSlot{kind, size, prefetch == Prefetch::kYes, false};
  if (wide) bars_[index + 1] = BarSlot{kind, 0, false, true};
  reset_config_ = config_;
  return ok();
}

Result<void> PciConfigSpace::set_rom(uint64_t size) {
  if (!is_power_of_two(size) || size < 2048 || size > (16ULL << 20))
    return Error(ErrorKind::kInvalidArgument, "PCI ROM size must be a power of two, 2K..16M");
  rom_size_ = size;
  return ok();
}

uint32_t PciConfigSpace::read_bar_register(unsigned slot) const {
  const BarSlot& bar_slot = bars_[slot];
  if (bar_slot.upper_half) return static_cast<uint32_t>(bar_address_[slot - 1] >> 32);
  if (bar_slot.size == 0) return 0;
  const auto low = static_cast<uint32_t>(bar_address_[slot]);
  switch (bar_slot.kind) {
    case BarKind::kIo:
      return low | 0x1;
    case BarKind::kMemory32:
      return low | (bar_slot.prefetchable ? 0x8u : 0u);
    case BarKind::kMemory64:
      return low | 0x4u | (bar_slot.prefetchable ? 0x8u : 0u);
  }
  return 0;
}

void PciConfigSpace::write_bar_register(unsigned slot, uint32_t value) {
  BarSlot& bar_slot = bars_[slot];
  if (bar_slot.upper_half) {
    const uint64_t size = bars_[slot - 1].size;
    const uint64_t mask = ~(size - 1);
    uint64_t& address = bar_address_[slot - 1];
    address = ((static_cast<uint64_t>(value) << 32) | (address & 0xFFFFFFFFULL)) & mask;
    return;
  }
  if (bar_slot.size == 0) return;
  const uint64_t mask = ~(bar_slot.size - 1) & 0xFFFFFFFFULL;
  uint64_t& address = bar_address_[slot];
  address = (address & ~0xFFFFFFFFULL) | (value & mask);
}

unsigned PciConfigSpace::capability_at(unsigned offset) const {
  return offset < kConfigSize ? capability_owner_[offset] : 0;
}

uint32_t PciConfigSpace::config_read(unsigned offset, unsigned size) {
  if (size == 0 || size > 4 || offset + size > kConfigSize) return 0xFFFFFFFF;
  if (offset >= kBar0 && offset < kBar0 + 4 * kBarCount) {
    // Accesses to BAR registers may be partial: read the dword, shift.
    const unsigned slot = (offset - kBar0) / 4;
    const uint64_t dword = read_bar_register(slot);
    const unsigned shift = 8 * ((offset - kBar0) % 4);
    const uint64_t mask = size == 4 ? 0xFFFFFFFFULL : ((1ULL << (8 * size)) - 1);
    return static_cast<uint32_t>((dword >> shift) & mask);
  }
  if (offset >= kRomBar && offset < kRomBar + 4) {
    const unsigned shift = 8 * (offset - kRomBar);
    const uint64_t mask = size == 4 ? 0xFFFFFFFFULL : ((1ULL << (8 * size)) - 1);
    return static_cast<uint32_t>((rom_register_ >> shift) & mask);
  }
  if (offset >= kHeaderEnd) {
    if (const unsigned cap = capability_at(offset); cap != 0)
      return capability_read(cap, offset, size, read_le(offset, size));
    return device_config_read(offset, size);
  }
  return read_le(offset, size);
}

void PciConfigSpace::config_write(unsigned offset, unsigned size, uint32_t value) {
  if (size == 0 || size > 4 || offset + size > kConfigSize) return;
  if (offset >= kBar0 && offset < kBar0 + 4 * kBarCount) {
    const unsigned slot = (offset - kBar0) / 4;
    const unsigned shift = 8 * ((offset - kBar0) % 4);
    const uint64_t mask = (size == 4 ? 0xFFFFFFFFULL : ((1ULL << (8 * size)) - 1)) << shift;
    const uint64_t old = read_bar_register(slot);
    const uint64_t merged = (old & ~mask) | ((static_cast<uint64_t>(value) << shift) & mask);
    write_bar_register(slot, static_cast<uint32_t>(merged));
    return;
  }
  if (offset >= kRomBar && offset < kRomBar + 4) {
    if (rom_size_ == 0) return;
    const unsigned shift = 8 * (offset - kRomBar);
    const uint64_t mask = (size == 4 ? 0xFFFFFFFFULL : ((1ULL << (8 * size)) - 1)) << shift;
    const uint64_t merged =
        (rom_register_ & ~mask) | ((static_cast<uint64_t>(value) << shift) & mask);
    rom_register_ = static_cast<uint32_t>(merged & ((~(rom_size_ - 1) & 0xFFFFF800ULL) | 1));
    return;
  }
  if (offset >= kHeaderEnd) {
    if (const unsigned cap = capability_at(offset); cap != 0) {
      masked_write(offset, size, value);
      capability_written(cap, offset, size, value);
      return;
    }
    device_config_write(offset, size, value);
    return;
  }
  // Standard header: COMMAND, STATUS (W1C), interrupt line; the rest is
  // read-only. Handle byte by byte so any access width works.
  const uint16_t old_command = command();
  for (unsigned i = 0; i < size; ++i) {
    const unsigned at = offset + i;
    const auto byte = static_cast<uint8_t>(value >> (8 * i));
    if (at == kCommand || at == kCommand + 1) {
      const auto mask = static_cast<uint8_t>(kWritableCommand >> (8 * (at - kCommand)));
      config_[at] = static_cast<uint8_t>((config_[at] & ~mask) | (byte & mask));
    } else if (at == kStatus || at == kStatus + 1) {
      const auto w1c = static_cast<uint8_t>(kStatusWriteOneToClear >> (8 * (at - kStatus)));
      config_[at] = static_cast<uint8_t>(config_[at] & ~(byte & w1c));
    } else if (at == kInterruptLine) {
      config_[at] = byte;
    }
  }
  if (command() != old_command) command_written(old_command, command());
}

uint32_t PciConfigSpace::device_config_read(unsigned offset, unsigned size) {
  return read_le(offset, size);
}

void PciConfigSpace::device_config_write(unsigned offset, unsigned size, uint32_t value) {
  masked_write(offset, size, value);
}

BarInfo PciConfigSpace::bar(unsigned index) const {
  BarInfo info;
  if (index == kRomBarIndex) {
    if (rom_size_ == 0) return info;
    info.size = rom_size_;
    info.address = rom_register_ & ~1u;
    const uint64_t last = info.address + info.size - 1;
    info.enabled = (rom_register_ & 1) && (command() & kCommandMemory) && info.address != 0 &&
                   last > info.address && last < kMemory32End;
    return info;
  }
  if (index >= kBarCount || bars_[index].upper_half || bars_[index].size == 0) return info;
  const BarSlot& slot = bars_[index];
  info.kind = slot.kind;
  info.size = slot.size;
  info.address = bar_address_[index];
  const uint16_t cmd = command();
  const uint64_t last = info.address + info.size - 1;
  bool sane = info.address != 0 && last > info.address;
  switch (slot.kind) {
    case BarKind::kIo:
      sane = sane && last < kIoSpaceEnd && (cmd & kCommandIo);
      break;
    case BarKind::kMemory32:
      sane = sane && last < kMemory32End && (cmd & kCommandMemory);
      break;
    case BarKind::kMemory64:
      sane = sane && last < kMaxPhysicalAddress && (cmd & kCommandMemory);
      break;
  }
  info.enabled = sane;
  return info;
}

Result<unsigned> PciConfigSpace::add_capability(uint8_t id, std::span<const uint8_t> body,
                                                std::span<const uint8_t> writable) {
  if (!writable.empty() && writable.size() != body.size())
    return Error(ErrorKind::kInvalidArgument, "capability writable mask length mismatch");
  // Capabilities are dword aligned.
  const unsigned offset = (next_capability_ + 3u) & ~3u;
  const size_t length = 2 + body.size();
  if (offset + length > kConfigSize)
    return Error(ErrorKind::kNoSpace, "PCI capability list does not fit in config space");
  config_[offset] = id;
  config_[offset + 1] = 0;
  std::copy(body.begin(), body.end(), config_.begin() + offset + 2);
  for (size_t i = 0; i < length; ++i) {
    capability_owner_[offset + i] = static_cast<uint8_t>(offset);
    writable_[offset + i] = (i >= 2 && !writable.empty()) ? writable[i - 2] : 0;
  }
  if (last_capability_ == 0) {
    config_[kCapabilityPointer] = static_cast<uint8_t>(offset);
    write_le(kStatus, 2, read_le(kStatus, 2) | kStatusCapabilityList);
  } else {
    config_[last_capability_ + 1] = static_cast<uint8_t>(offset);
  }
  last_capability_ = offset;
  next_capability_ = offset + static_cast<unsigned>(length);
  reset_config_ = config_;
  return offset;
}

void PciConfigSpace::set_intx_status(bool asserted) {
  uint16_t status = static_cast<uint16_t>(read_le(kStatus, 2));
  status = asserted ? (status | kStatusIntx) : (status & ~kStatusIntx);
  write_le(kStatus, 2, status);
}

void PciConfigSpace::reset() {
  config_ = reset_config_;
  bar_address_.fill(0);
  rom_register_ = 0;
}

}  // namespace amber::hv::pci
