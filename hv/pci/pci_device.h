// SPDX-License-Identifier: GPL-2.0-or-later
// PciDevice: what the PCI host bridge needs from a function on bus 0.
//
// The bridge (hv/pci/, owned by the platform code) routes configuration
// cycles from 0xCF8/0xCFC to config_read/config_write, and routes guest
// accesses that fall inside an enabled BAR to bar_read/bar_write. A device
// tells the bridge where its BARs are through bar_address(); the bridge
// asks again after every config write (the guest may have moved a BAR or
// toggled the I/O / memory enable bits) and calls bar_remapped() so the
// device can move its ioeventfds to where the bridge really decodes the BAR
// (a BAR the guest placed over another device is refused, not mapped).
//
// PciConfigSpace (pci_config.h) implements the standard header, BAR sizing
// and capability chain; most devices derive from it.
//
// Thread-safety: config accesses come from vCPU threads under the bridge's
// lock; bar_read/bar_write may come from any vCPU thread concurrently and
// the device must lock what it shares.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

namespace amber::hv::pci {

enum class BarKind { kIo, kMemory32, kMemory64 };

struct BarInfo {
  BarKind kind = BarKind::kMemory32;
  uint64_t size = 0;     // power of two, 0 = BAR not implemented
  uint64_t address = 0;  // current guest address (as programmed)
  bool enabled = false;  // address programmed and decode enabled in COMMAND
};

// bar() index of the expansion ROM BAR (config offset 0x30).
inline constexpr unsigned kRomBarIndex = 6;
inline constexpr unsigned kBarIndexCount = 7;

class PciDevice {
 public:
  virtual ~PciDevice() = default;

  // offset < 256, size 1/2/4, naturally aligned (the bridge guarantees it).
  virtual uint32_t config_read(unsigned offset, unsigned size) = 0;
  virtual void config_write(unsigned offset, unsigned size, uint32_t value) = 0;

  // Up to six BARs (index 0..5) and the expansion ROM (kRomBarIndex).
  virtual BarInfo bar(unsigned index) const = 0;
  virtual void bar_read(unsigned index, uint64_t offset, std::span<uint8_t> data) = 0;
  virtual void bar_write(unsigned index, uint64_t offset, std::span<const uint8_t> data) = 0;

  // Called by the bridge after a BAR moved or was enabled/disabled.
  // `mapped` is what the bridge now decodes: enabled == false when the BAR
  // is off or was refused (it would overlap another device), so nothing of
  // the device (ioeventfds included) may claim guest addresses for it.
  virtual void bar_remapped(unsigned /*index*/, const BarInfo& /*mapped*/) {}

  // Legacy INTx pin (1 = INTA .. 4 = INTD), 0 = none.
  virtual unsigned interrupt_pin() const { return 0; }

  // Called on system reset.
  virtual void reset() {}
};

}  // namespace amber::hv::pci
