// SPDX-License-Identifier: GPL-2.0-or-later
// HostBridge: PCI configuration mechanism #1 on bus 0 and BAR routing.
//
// 0xCF8 (32-bit) latches the address (reads back what was written, which
// SeaBIOS's probe requires); 0xCFC..0xCFF carry the data of the selected
// function's register. Byte accesses to 0xCF9 go to the PIIX3 reset
// control register (given to the bridge because they share the range).
// Functions are attached per (slot, function); absent ones read all-ones.
//
// After every config write the bridge recomputes the written function's
// BARs (PciDevice::bar()) and moves their registrations on the PIO/MMIO
// buses, then calls bar_remapped(i, mapped) for each BAR that changed. A
// BAR that would overlap another device is left unmapped (logged), and the
// device is told so (mapped.enabled == false).
//
// Thread-safety: config cycles and remaps are serialized by one mutex;
// callable from any vCPU thread. attach() only at set-up.
#pragma once

#include <array>
#include <memory>
#include <mutex>
#include <vector>

#include "common/rate_limit.h"
#include "common/result.h"
#include "hv/bus/io_bus.h"
#include "hv/pci/pci_device.h"

namespace amber::hv::pci {

inline constexpr uint64_t kConfigAddressPort = 0xCF8;
inline constexpr unsigned kSlots = 32;
inline constexpr unsigned kFunctions = 8;

class HostBridge : public bus::IoDevice {
 public:
  HostBridge(bus::IoBus& pio, bus::IoBus& mmio, bus::IoDevice* reset_control)
      : pio_(pio), mmio_(mmio), reset_control_(reset_control) {}

  Result<void> attach(unsigned slot, unsigned function, PciDevice* device);
  // Resets every function and unmaps their BARs (system reset, vCPUs parked).
  void reset();

  void io_read(uint64_t offset, std::span<uint8_t> data) override;
  void io_write(uint64_t offset, std::span<const uint8_t> data) override;

  // For tests: a config cycle without the ports.
  uint32_t config_read(unsigned devfn, unsigned offset, unsigned size);
  void config_write(unsigned devfn, unsigned offset, unsigned size, uint32_t value);

 private:
  class BarWindow : public bus::IoDevice {
   public:
    BarWindow(PciDevice* device, unsigned index) : device_(device), index_(index) {}
    void io_read(uint64_t offset, std::span<uint8_t> data) override {
      device_->bar_read(index_, offset, data);
    }
    void io_write(uint64_t offset, std::span<const uint8_t> data) override {
      device_->bar_write(index_, offset, data);
    }

   private:
    PciDevice* device_;
    unsigned index_;
  };
  struct Function {
    PciDevice* device = nullptr;
    std::array<std::unique_ptr<BarWindow>, kBarIndexCount> windows;
    std::array<BarInfo, kBarIndexCount> mapped{};  // what is registered now (enabled ones)
  };

  void remap(Function& function);  // under mutex_
  void unmap(Function& function, unsigned index);

  bus::IoBus& pio_;
  bus::IoBus& mmio_;
  bus::IoDevice* reset_control_;
  std::mutex mutex_;
  uint32_t address_ = 0;
  // A guest can place BARs over fixed devices in a loop: a few lines per
  // interval suffice to diagnose it.
  RateLimiter refused_log_{kGuestLogBurst, kGuestLogInterval};
  std::array<Function, kSlots * kFunctions> functions_{};
};

}  // namespace amber::hv::pci
