// SPDX-License-Identifier: GPL-2.0-or-later
// CMOS / RTC (MC146818) at 0x70 (index; bit 7 = NMI mask, ignored) and 0x71
// (data). The clock registers read the host's UTC time (BCD, 24-hour, as
// the BIOS sets register B); the NVRAM bytes carry what SeaBIOS reads:
// memory sizes and the CPU count, in QEMU's encoding (cmos_platform_bytes).
// Interrupts (IRQ 8, edge): the periodic interrupt at register A's rate
// when register B's PIE is set (ticks at a fixed phase, as the divider
// chain's: the first one after PIE comes at the next boundary), and the update-ended interrupt once
// a second when UIE is set; register C reports PF/UF/IRQF and clears on read. A timer thread,
// started by start(), produces them. Alarms are not implemented (AF never sets).
//
// Thread-safety: one mutex; any vCPU thread and the timer thread.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "hv/bus/io_bus.h"
#include "hv/memory/ram.h"

namespace amber::hv::devices {

// (index, value) pairs QEMU's pc machine writes for this RAM / CPU count.
std::vector<std::pair<uint8_t, uint8_t>> cmos_platform_bytes(const RamLayout& layout,
                                                             unsigned cpus);

class Cmos : public bus::IoDevice {
 public:
  static constexpr unsigned kSize = 128;
  Cmos();
  ~Cmos() override;
  // Starts the interrupt timer; irq(level) drives IRQ 8.
  void start(std::function<void(bool)> irq);
  void reset_state();
  void set(uint8_t index, uint8_t value);
  uint8_t get(uint8_t index);  // as the guest would read it (time included)
  void io_read(uint64_t offset, std::span<uint8_t> data) override;
  void io_write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  uint8_t read_register(uint8_t index);
  void timer_loop();
  std::mutex mutex_;
  std::condition_variable changed_;
  std::thread thread_;
  bool stop_ = false;
  uint8_t flags_ = 0;  // register C
  std::function<void(bool)> irq_;
  std::array<uint8_t, kSize> bytes_{};
  uint8_t index_ = 0;
};

}  // namespace amber::hv::devices
