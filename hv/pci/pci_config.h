// SPDX-License-Identifier: GPL-2.0-or-later
// PciConfigSpace: the standard type-0 PCI configuration header, shared by
// every PCI function Amber emulates (host bridge, PIIX, virtio-pci).
//
// What it implements for the deriving device:
//  - identity registers (vendor/device/revision/class/subsystem/header type),
//    read-only to the guest;
//  - COMMAND (I/O, memory, bus master, INTx disable are writable) and STATUS
//    (capability-list bit maintained here; error bits write-1-to-clear);
//  - BAR registers 0x10..0x24 with sizing: a BAR of size S keeps only the
//    address bits above S, so writing all-ones reads back the size mask with
//    the type bits; 64-bit BARs take two slots (the upper dword holds the
//    high address bits); the expansion ROM BAR (0x30) when set_rom() gave it
//    a size (bar(kRomBarIndex), enabled by its bit 0 and memory decode;
//    otherwise it reads 0);
//  - interrupt line (writable) and pin (read-only);
//  - a capability list starting at 0x40: add_capability(id, body, writable)
//    lays out [id, next, body...] and returns the capability's offset. Guest
//    writes to capability bytes are stored through the per-byte writable
//    mask and then reported to capability_written(); reads go through
//    capability_read() so a device can compute a value (e.g. the virtio
//    PCI_CFG window);
//  - device-specific registers outside the header and the capabilities
//    (PIIX route registers, PMBASE, ...) go to device_config_read/write,
//    which by default store through the writable mask (set_writable()).
//  - bar(i): derived from the registers and the COMMAND decode bits; a BAR
//    is "enabled" only when decode is on and the address is a sane mapping
//    (not 0, not the sizing pattern, not wrapping).
//
// Deriving: call set_bar / set_interrupt_pin / add_capability in the
// constructor (before the guest runs); override bar_read/bar_write and the
// hooks you need. reset() restores the registers to their post-constructor
// values (call PciConfigSpace::reset() from an override).
//
// Thread-safety: the config methods are called by the host bridge under its
// lock (one at a time); bar() may be called from any thread while the
// bridge holds its lock. Not safe for concurrent config access otherwise.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "common/result.h"
#include "hv/pci/pci_device.h"

namespace amber::hv::pci {

inline constexpr unsigned kConfigSize = 256;
inline constexpr unsigned kBarCount = 6;

// Standard header offsets.
inline constexpr unsigned kVendorId = 0x00;
inline constexpr unsigned kDeviceId = 0x02;
inline constexpr unsigned kCommand = 0x04;
inline constexpr unsigned kStatus = 0x06;
inline constexpr unsigned kRevision = 0x08;
inline constexpr unsigned kClassProg = 0x09;
inline constexpr unsigned kHeaderType = 0x0E;
inline constexpr unsigned kBar0 = 0x10;
inline constexpr unsigned kSubsystemVendorId = 0x2C;
inline constexpr unsigned kSubsystemId = 0x2E;
inline constexpr unsigned kRomBar = 0x30;
inline constexpr unsigned kCapabilityPointer = 0x34;
inline constexpr unsigned kInterruptLine = 0x3C;
inline constexpr unsigned kInterruptPin = 0x3D;
inline constexpr unsigned kHeaderEnd = 0x40;

inline constexpr uint16_t kCommandIo = 1u << 0;
inline constexpr uint16_t kCommandMemory = 1u << 1;
inline constexpr uint16_t kCommandBusMaster = 1u << 2;
inline constexpr uint16_t kCommandIntxDisable = 1u << 10;
inline constexpr uint16_t kStatusCapabilityList = 1u << 4;
inline constexpr uint16_t kStatusIntx = 1u << 3;

// Capability ids.
inline constexpr uint8_t kCapabilityMsi = 0x05;
inline constexpr uint8_t kCapabilityVendor = 0x09;
inline constexpr uint8_t kCapabilityMsix = 0x11;

struct PciIdentity {
  uint16_t vendor = 0;
  uint16_t device = 0;
  uint8_t revision = 0;
  uint32_t class_code = 0;  // 24 bits: base class << 16 | subclass << 8 | prog-if
  uint16_t subsystem_vendor = 0;
  uint16_t subsystem = 0;
  uint8_t header_type = 0;  // 0x80 = multi-function
};

enum class Prefetch { kNo, kYes };

class PciConfigSpace : public PciDevice {
 public:
  explicit PciConfigSpace(const PciIdentity& identity);

  uint32_t config_read(unsigned offset, unsigned size) override;
  void config_write(unsigned offset, unsigned size, uint32_t value) override;
  BarInfo bar(unsigned index) const override;
  unsigned interrupt_pin() const override { return config_[kInterruptPin]; }
  void reset() override;

  uint16_t command() const { return read_le(kCommand, 2); }
  // Sets/clears the INTx status bit (the device calls this when its line
  // changes; the level itself goes through InterruptController::set_intx).
  void set_intx_status(bool asserted);

 protected:
  // --- set-up, constructor time only ---
  // size: power of two (I/O >= 4, memory >= 16). A 64-bit BAR uses index+1.
  Result<void> set_bar(unsigned index, BarKind kind, uint64_t size,
                       Prefetch prefetch = Prefetch::kNo);
  // The expansion ROM BAR: size a power of two, 2 KiB .. 16 MiB.
  Result<void> set_rom(uint64_t size);
  void set_interrupt_pin(unsigned pin) { config_[kInterruptPin] = static_cast<uint8_t>(pin); }
  // Appends a capability [id, next, body...]; `writable` (same length as
  // body, or empty for read-only) is the guest-writable bit mask per body
  // byte. Returns the capability's offset in config space.
  Result<unsigned> add_capability(uint8_t id, std::span<const uint8_t> body,
                                  std::span<const uint8_t> writable = {});
  // Marks bits of device-specific registers guest-writable.
  void set_writable(unsigned offset, unsigned size, uint32_t mask);
  // Sets register bytes directly (device-side, not masked). Call
  // snapshot_reset_state() after changing what reset() should restore.
  void store(unsigned offset, unsigned size, uint32_t value) { write_le(offset, size, value); }
  uint32_t load(unsigned offset, unsigned size) const { return read_le(offset, size); }
  // Records the current registers as the reset state (the constructor of a
  // derived class calls this once it finished set-up).
  void snapshot_reset_state() { reset_config_ = config_; }

  // --- hooks ---
  // After a guest write landed in the capability at `capability_offset`;
  // `offset` is absolute in config space.
  virtual void capability_written(unsigned /*capability_offset*/, unsigned /*offset*/,
                                  unsigned /*size*/, uint32_t /*value*/) {}
  // Value for a guest read of capability bytes; `stored` is what the bytes
  // hold. Default: stored.
  virtual uint32_t capability_read(unsigned /*capability_offset*/, unsigned /*offset*/,
                                   unsigned /*size*/, uint32_t stored) {
    return stored;
  }
  // After a guest write changed the COMMAND register (`old` -> `now`).
  virtual void command_written(uint16_t /*old*/, uint16_t /*now*/) {}
  // Registers at 0x40.. that are not capability bytes.
  virtual uint32_t device_config_read(unsigned offset, unsigned size);
  virtual void device_config_write(unsigned offset, unsigned size, uint32_t value);
  // Writes through the writable mask (for use by device_config_write).
  void masked_write(unsigned offset, unsigned size, uint32_t value);

 private:
  struct BarSlot {
    BarKind kind = BarKind::kMemory32;
    uint64_t size = 0;
    bool prefetchable = false;
    bool upper_half = false;  // this slot is the high dword of the previous 64-bit BAR
  };

  uint32_t read_le(unsigned offset, unsigned size) const;
  void write_le(unsigned offset, unsigned size, uint32_t value);
  void write_bar_register(unsigned slot, uint32_t value);
  uint32_t read_bar_register(unsigned slot) const;
  // The capability containing `offset`, or 0 when none.
  unsigned capability_at(unsigned offset) const;

  std::array<uint8_t, kConfigSize> config_{};
  std::array<uint8_t, kConfigSize> writable_{};
  std::array<uint8_t, kConfigSize> reset_config_{};
  std::array<uint8_t, kConfigSize> capability_owner_{};  // cap offset per byte, 0 = none
  std::array<BarSlot, kBarCount> bars_{};
  std::array<uint64_t, kBarCount> bar_address_{};  // full address per BAR (slot of low half)
  uint64_t rom_size_ = 0;
  uint32_t rom_register_ = 0;  // address | enable bit
  unsigned next_capability_ = kHeaderEnd;
  unsigned last_capability_ = 0;
};

}  // namespace amber::hv::pci
