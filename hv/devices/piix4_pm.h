// SPDX-License-Identifier: GPL-2.0-or-later
// PIIX4 power management function (00:01.3, 8086:7113 rev 03) and its ACPI
// register block.
//  - config 0x40 PMBASE (I/O, 64 bytes) enabled by 0x80 bit 0: the block
//    moves on the PIO bus when the guest programs it (SeaBIOS: 0x600, the
//    FADT's PM1a_EVT, since amber-vmm passes etc/table-loader; else 0xB000);
//  - 0x5B bit 1 preset: "SMM already set up" so bios-256k.bin skips its SMI
//    handshake (the SeaBIOS notes §1.6);
//  - 0x5F / 0x63 / 0x67: the device-decode bytes QEMU's
//    piix4_pm_machine_ready sets (0x5F bit 7 LPT 0x378: absent here, 0x67
//    bit 3 COM1 0x3F8: present); Windows and the DSDT's _STA methods read
//    them;
//  - PM1 status/enable/control: SLP_EN with SLP_TYP 0 (SeaBIOS's _S5) ->
//    guest shutdown; the fixed-feature power button (press_power_button:
//    PWRBTN_STS, bit 8, set only while PWRBTN_EN is, as in QEMU, so a press
//    before the OS is listening is dropped rather than kept for later);
//    status bits are write-1-to-clear; PM timer at +8 (24-bit, 3.579545 MHz, host monotonic
//    clock); APM control 0xB2 (0xF1/0xF0 set/clear SCI_EN) and 0xB3; GPE0
//    at 0xAFE0; SCI on IRQ 9 = (PM1_STS & PM1_EN) | (GPE0_STS & GPE0_EN).
//
// Thread-safety: config access serialized by the host bridge; the register
// block has its own mutex (any vCPU thread).
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>

#include "hv/bus/io_bus.h"
#include "hv/pci/pci_config.h"

namespace amber::hv::devices {

inline constexpr uint64_t kApmPort = 0xB2;  // 0xB2 control, 0xB3 status
inline constexpr uint64_t kGpe0Port = 0xAFE0;

class AcpiPmRegisters : public bus::IoDevice {
 public:
  AcpiPmRegisters(std::function<void()> shutdown, std::function<void(bool)> sci)
      : shutdown_(std::move(shutdown)), sci_(std::move(sci)) {}
  // Offsets 0..63: PMBASE block. The APM and GPE0 ports reach it through
  // PortAlias with offsets kApmOffset / kGpeOffset.
  static constexpr uint64_t kApmOffset = 0x100;
  static constexpr uint64_t kGpeOffset = 0x200;
  void io_read(uint64_t offset, std::span<uint8_t> data) override;
  void io_write(uint64_t offset, std::span<const uint8_t> data) override;
  void reset_state();
  // The ACPI power button (system_powerdown). Returns whether the guest had
  // enabled it (PWRBTN_STS set, SCI raised); otherwise nothing changes.
  bool press_power_button();
  // The SCI level now, for tests.
  bool sci_level();

  static constexpr uint16_t kPowerButtonStatus = 1u << 8;  // PM1_STS / PM1_EN bit 8
  // TMR_STS: the PM timer's bit 23 changed since it was last cleared. As
  // QEMU's, it reads set at first (nothing armed yet) and is re-armed for
  // the next 2^23-tick boundary when the guest clears it. It is computed
  // when PM1_STS is read: with TMR_EN the SCI rises then, not at the
  // boundary itself (no timer thread behind it).
  static constexpr uint16_t kTimerStatus = 1u << 0;

 private:
  void update_sci();             // under mutex_
  void update_timer_status();    // under mutex_
  uint64_t timer_overflow_ = 0;  // the tick count at which TMR_STS sets
  std::mutex mutex_;
  uint16_t pm1_status_ = 0, pm1_enable_ = 0, pm1_control_ = 0;
  uint16_t gpe_status_ = 0, gpe_enable_ = 0;
  uint8_t apm_status_ = 0;
  bool sci_level_ = false;
  std::function<void()> shutdown_;
  std::function<void(bool)> sci_;
};

class Piix4Pm : public pci::PciConfigSpace {
 public:
  static constexpr uint64_t kBlockSize = 64;
  Piix4Pm(bus::IoBus& pio, AcpiPmRegisters* registers);
  void bar_read(unsigned, uint64_t, std::span<uint8_t>) override {}
  void bar_write(unsigned, uint64_t, std::span<const uint8_t>) override {}
  void reset() override;

 protected:
  void device_config_write(unsigned offset, unsigned size, uint32_t value) override;

 private:
  void remap_block();
  bus::IoBus& pio_;
  AcpiPmRegisters* registers_;
  uint64_t mapped_base_ = 0;  // 0 = not mapped
};

}  // namespace amber::hv::devices
