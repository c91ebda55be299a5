// SPDX-License-Identifier: GPL-2.0-or-later
// The i440FX/PIIX3 chipset functions SeaBIOS and Windows look for:
//  - I440fxHost (00:00.0, 8086:1237 rev 02, subsystem 1af4:1100): PAM
//    registers 0x59..0x5F and SMRAM 0x72 are stored and otherwise ignored
//    (the BIOS area is plain RAM; see the SeaBIOS notes §1.2).
//  - Piix3Isa (00:01.0, 8086:7000, multi-function): PIRQ route registers
//    0x60..0x63 (reset 0x80 = disabled); every change is pushed to the
//    interrupt router so PCI INTx follows the guest's routing live.
//
// Thread-safety: config access is serialized by the host bridge.
#pragma once

#include <array>
#include <functional>

#include "hv/pci/pci_config.h"

namespace amber::hv::devices {

inline constexpr uint16_t kQemuSubsystemVendor = 0x1af4;
inline constexpr uint16_t kQemuSubsystem = 0x1100;

class I440fxHost : public pci::PciConfigSpace {
 public:
  I440fxHost();
  void bar_read(unsigned, uint64_t, std::span<uint8_t>) override {}
  void bar_write(unsigned, uint64_t, std::span<const uint8_t>) override {}
};

class Piix3Isa : public pci::PciConfigSpace {
 public:
  using RouteSink = std::function<void(const std::array<uint8_t, 4>&)>;
  explicit Piix3Isa(RouteSink sink);
  void bar_read(unsigned, uint64_t, std::span<uint8_t>) override {}
  void bar_write(unsigned, uint64_t, std::span<const uint8_t>) override {}
  void reset() override;

 protected:
  void device_config_write(unsigned offset, unsigned size, uint32_t value) override;

 private:
  void publish();
  RouteSink sink_;
};

}  // namespace amber::hv::devices
