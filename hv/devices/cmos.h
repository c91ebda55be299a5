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
// Catch-up (set_catchup, QEMU's -rtc driftfix=slew, libvirt's
// tickpolicy='catchup'): a periodic tick that comes while the previous one
// is still unacknowledged (register C unread) or that the timer thread
// came too late for is counted as lost; each read of register C then
// re-raises one lost tick at once, at most 20 between two real ticks (QEMU's
// RTC_REINJECT_ON_ACK_COUNT), so a guest that fell behind gets its ticks.
// set_localtime: the clock registers show the host's local time (QEMU's
// -rtc base=localtime, what Windows expects) instead of UTC.
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
  void set_catchup(bool on);
  void set_localtime(bool on);
  uint64_t lost_ticks();  // not yet re-injected (catch-up only)
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
  bool catchup_ = false;
  bool localtime_ = false;
  uint64_t lost_ = 0;        // periodic ticks owed to the guest
  unsigned reinjected_ = 0;  // since the last real periodic tick
};

}  // namespace amber::hv::devices
