// SPDX-License-Identifier: GPL-2.0-or-later
// Piix3Ide: the PIIX3 IDE function (00:01.1, 8086:7010 rev 00, class
// 010180: legacy-mode ISA compatibility channels with bus mastering,
// subsystem 1af4:1100, as QEMU's `pc`). BARs 0-3 are not implemented (the
// channels sit at their legacy ports); BAR4 is the 16-byte bus-master I/O
// block (channel 0 at +0, channel 1 at +8). Registers 0x40-0xFF (IDETIM,
// SIDETIM, ...) are plain storage (SeaBIOS writes IDETIM 0x8000: decode
// enable).
//
// The legacy ports are separate IoDevices the builder registers:
// IdeCommandPorts at 0x1F0/0x170 (8 bytes) and IdeControlPort at
// 0x3F6/0x376 (1 byte); IRQ 14 / 15 go through each IdeBus's sink.
//
// Thread-safety: config accesses under the host bridge's lock; BAR and
// port accesses from any vCPU, serialized by each IdeBus.
#pragma once

#include <array>
#include <memory>

#include "hv/bus/io_bus.h"
#include "hv/devices/ide_bus.h"
#include "hv/pci/pci_config.h"

namespace amber::hv::devices {

inline constexpr uint64_t kIdePrimaryCommand = 0x1F0, kIdePrimaryControl = 0x3F6;
inline constexpr uint64_t kIdeSecondaryCommand = 0x170, kIdeSecondaryControl = 0x376;
inline constexpr unsigned kIdePrimaryIrq = 14, kIdeSecondaryIrq = 15;

class Piix3Ide : public pci::PciConfigSpace {
 public:
  Piix3Ide(const GuestMemory& memory, IdeBus::IrqSink primary_irq, IdeBus::IrqSink secondary_irq);

  IdeBus& bus(unsigned index) { return *buses_[index & 1]; }

  void bar_read(unsigned index, uint64_t offset, std::span<uint8_t> data) override;
  void bar_write(unsigned index, uint64_t offset, std::span<const uint8_t> data) override;
  void reset() override;

 private:
  std::array<std::unique_ptr<IdeBus>, 2> buses_;
};

// 0x1F0-0x1F7 / 0x170-0x177.
class IdeCommandPorts : public bus::IoDevice {
 public:
  explicit IdeCommandPorts(IdeBus& bus) : bus_(bus) {}
  void io_read(uint64_t offset, std::span<uint8_t> data) override;
  void io_write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  IdeBus& bus_;
};

// 0x3F6 / 0x376: alternate status, device control.
class IdeControlPort : public bus::IoDevice {
 public:
  explicit IdeControlPort(IdeBus& bus) : bus_(bus) {}
  void io_read(uint64_t offset, std::span<uint8_t> data) override;
  void io_write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  IdeBus& bus_;
};

}  // namespace amber::hv::devices
