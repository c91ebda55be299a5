// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/devices/piix4_pm.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include "common/uint128.h"
#include "hv/devices/piix.h"

namespace amber::hv::devices {
namespace {
constexpr unsigned kPmBase = 0x40;
constexpr unsigned kPmRegMisc = 0x80;
constexpr uint16_t kSciEnable = 1u << 0;
constexpr uint16_t kSleepEnable = 1u << 13;
constexpr uint64_t kPmTimerHz = 3579545;

uint64_t pm_ticks_now() {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count();
  // 128-bit intermediate: ns * 3.58e6 overflows 64 bits after ~85 minutes.
  return static_cast<uint64_t>(static_cast<Uint128>(ns) * kPmTimerHz / 1000000000u);
}

uint32_t pm_timer_now() {
  return static_cast<uint32_t>(pm_ticks_now()) & 0xFFFFFF;
}

constexpr uint64_t kTimerMsb = 1ULL << 23;
}  // namespace

void AcpiPmRegisters::update_sci() {
  const bool level = (pm1_status_ & pm1_enable_) != 0 || (gpe_status_ & gpe_enable_) != 0;
  if (level != sci_level_) {
    sci_level_ = level;
    if (sci_) sci_(level);
  }
}

void AcpiPmRegisters::update_timer_status() {
  if (pm_ticks_now() >= timer_overflow_) pm1_status_ |= kTimerStatus;
}

void AcpiPmRegisters::reset_state() {
  std::lock_guard lock(mutex_);
  pm1_status_ = pm1_enable_ = pm1_control_ = gpe_status_ = gpe_enable_ = 0;
  timer_overflow_ = 0;
  apm_status_ = 0;
  update_sci();
}

bool AcpiPmRegisters::press_power_button() {
  std::lock_guard lock(mutex_);
  if ((pm1_enable_ & kPowerButtonStatus) == 0) return false;
  pm1_status_ |= kPowerButtonStatus;
  update_sci();
  return true;
}

bool AcpiPmRegisters::sci_level() {
  std::lock_guard lock(mutex_);
  return sci_level_;
}

void AcpiPmRegisters::io_read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mutex_);
  // Each byte comes from the register it falls in: the guest picks the
  // offset and size, and an access may straddle registers (a 4-byte read
  // at +7 covers PM1 and the timer). The timer is sampled once per access.
  std::optional<uint32_t> timer;
  for (size_t i = 0; i < data.size(); ++i) {
    const uint64_t at = offset + i;
    uint64_t word = 0;
    uint64_t base = at;
    if (at < 8) {
      if (at < 2) {
        update_timer_status();
        update_sci();
      }
      word = pm1_status_ | (uint64_t{pm1_enable_} << 16) | (uint64_t{pm1_control_} << 32);
      base = 0;
    } else if (at < 12) {
      if (!timer) timer = pm_timer_now();
      word = *timer;
      base = 8;
    } else if (at == kApmOffset + 1) {
      word = apm_status_;
    } else if (at >= kGpeOffset && at < kGpeOffset + 4) {
      word = gpe_status_ | (uint64_t{gpe_enable_} << 16);
      base = kGpeOffset;
    }
    // at - base < 8 in every branch: the shift stays below 64.
    data[i] = static_cast<uint8_t>(word >> (8 * (at - base)));
  }
}

void AcpiPmRegisters::io_write(uint64_t offset, std::span<const uint8_t> data) {
  bool shutdown = false;
  {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < data.size(); ++i) {
      const uint64_t at = offset + i;
      const uint8_t byte = data[i];
      const unsigned half = static_cast<unsigned>(at & 1) * 8;
      switch (at) {
        case 0:
        case 1:
          pm1_status_ = static_cast<uint16_t>(pm1_status_ & ~(byte << half));
          // Clearing TMR_STS arms it for the next bit-23 change.
          if (at == 0 && (byte & kTimerStatus))
            timer_overflow_ = (pm_ticks_now() + kTimerMsb) & ~(kTimerMsb - 1);
          break;
        case 2:
        case 3:
          pm1_enable_ = static_cast<uint16_t>((pm1_enable_ & ~(0xFF << half)) | (byte << half));
          break;
        case 4:
        case 5: {
          const uint16_t value =
              static_cast<uint16_t>((pm1_control_ & ~(0xFF << half)) | (byte << half));
          pm1_control_ = static_cast<uint16_t>(value & ~kSleepEnable);
          // SLP_TYP (bits 10-12) 0 is S5 in SeaBIOS's tables; S3 is not offered.
          if ((value & kSleepEnable) && ((value >> 10) & 7) == 0) shutdown = true;
          break;
        }
        case kApmOffset:
          if (byte == 0xF1) pm1_control_ |= kSciEnable;
          if (byte == 0xF0) pm1_control_ &= static_cast<uint16_t>(~kSciEnable);
          break;
        case kApmOffset + 1:
          apm_status_ = byte;
          break;
        case kGpeOffset:
        case kGpeOffset + 1:
          gpe_status_ = static_cast<uint16_t>(gpe_status_ & ~(byte << half));
          break;
        case kGpeOffset + 2:
        case kGpeOffset + 3:
          gpe_enable_ = static_cast<uint16_t>((gpe_enable_ & ~(0xFF << half)) | (byte << half));
          break;
        default:
          break;
      }
    }
    update_sci();
  }
  if (shutdown && shutdown_) shutdown_();
}

Piix4Pm::Piix4Pm(bus::IoBus& pio, AcpiPmRegisters* registers)
    : PciConfigSpace({0x8086, 0x7113, 0x03, 0x068000, kQemuSubsystemVendor, kQemuSubsystem, 0x00}),
      pio_(pio),
      registers_(registers) {
  set_interrupt_pin(1);
  store(pci::kInterruptLine, 1, 9);
  store(kPmBase, 4, 0x00000001);
  set_writable(kPmBase, 4, 0x0000FFC0);
  set_writable(kPmRegMisc, 1, 0x01);
  store(0x5B, 1, 0x02);  // SMM "already initialized"
  // QEMU's piix4_pm_machine_ready: 0x5F = 0x10 | 0x80 with an LPT at
  // 0x378 (none here), 0x63 = 0x60, 0x67 = 0x08 with COM1 at 0x3F8 (| 0x90
  // with COM2: none).
  store(0x5F, 1, 0x10);
  store(0x63, 1, 0x60);
  store(0x67, 1, 0x08);
  set_writable(0x90, 4, 0x0000FFF0);
  store(0x90, 4, 0x00000001);
  set_writable(0xD2, 1, 0xFF);
  snapshot_reset_state();
}

void Piix4Pm::remap_block() {
  const uint64_t base = load(kPmBase, 4) & 0xFFC0;
  const bool enabled = (load(kPmRegMisc, 1) & 1) != 0 && base != 0;
  const uint64_t want = enabled ? base : 0;
  if (want == mapped_base_) return;
  if (mapped_base_ != 0) pio_.remove(mapped_base_);
  mapped_base_ = 0;
  if (want != 0 && pio_.add(want, kBlockSize, registers_, "PIIX4 PM registers").ok())
    mapped_base_ = want;
}

void Piix4Pm::device_config_write(unsigned offset, unsigned size, uint32_t value) {
  masked_write(offset, size, value);
  if ((offset < kPmBase + 4 && offset + size > kPmBase) || offset == kPmRegMisc) remap_block();
}

void Piix4Pm::reset() {
  PciConfigSpace::reset();
  remap_block();
}

}  // namespace amber::hv::devices
