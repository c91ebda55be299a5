// SPDX-License-Identifier: GPL-2.0-or-later
// HPET: the High Precision Event Timer QEMU's `pc` machine has at
// 0xFED00000 (1 KiB of MMIO), with QEMU's identity: capabilities
// 0x8086A201 (vendor 8086, revision 1, 3 timers, 64-bit counter, legacy
// replacement capable), a 100 MHz counter (period 10,000,000 fs), and
// timers that are periodic- and 64-bit capable whose interrupt route
// capability is QEMU's pc-i440fx one: IOAPIC input 2 only.
//
// Interrupts, as QEMU's hpet.c routes them:
//  - legacy replacement (GEN_CONF.LEG_RT_CNF): timer 0 drives ISA IRQ 0
//    (PIC pin 0, IOAPIC pin 2), timer 1 ISA IRQ 8, and the PIT's output and
//    the RTC's IRQ 8 are cut off (on_legacy(true); the RTC's level reaches
//    IRQ 8 through rtc_irq() and is held back while legacy is on);
//  - otherwise a timer drives the IOAPIC pin in Tn_INT_ROUTE_CNF; only pin
//    2 is in the capability, and it is delivered on ISA line 0 (this
//    VMM's GSI 0 is IOAPIC pin 2, QEMU's routing). A route outside the
//    capability delivers nothing (QEMU's KVM path loses it too: GSI 2 is
//    not routed). FSB (MSI) delivery is not offered, as in QEMU by default.
//  - edge timers pulse the line; level timers raise it and set their bit
//    in GEN_INT_STATUS until the guest writes 1 there.
// Periodic timers add the period to the comparator on each interrupt and
// skip the periods they missed (one interrupt, as QEMU); a 32-bit one-shot
// timer also interrupts when the counter wraps at 2^32 (the HPET spec, as
// QEMU). The counter is the host's monotonic clock while enabled, so it
// also runs while the VM is paused (QEMU's stops with the virtual clock).
// Accesses of any size 1..8 are served as parts of the 64-bit registers.
//
// Thread-safety: one mutex; vCPU threads and the timer thread. The
// callbacks are called with it held: they must not call back into Hpet.
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <thread>

#include "hv/bus/io_bus.h"

namespace amber::hv::devices {

inline constexpr uint64_t kHpetBase = 0xFED00000;
inline constexpr uint64_t kHpetSize = 0x400;

class Hpet : public bus::IoDevice {
 public:
  static constexpr unsigned kTimers = 3;
  static constexpr uint64_t kPeriodFs = 10000000;  // 10 ns: 100 MHz
  // The capability bits of every timer's Tn_INT_ROUTE_CAP (QEMU pc-i440fx).
  static constexpr uint32_t kRouteCap = 1u << 2;

  // isa_irq(line, level) drives ISA line 0 or 8; on_legacy(on) is told
  // when legacy replacement starts (true) or ends (false), to silence and
  // restore the PIT.
  Hpet(std::function<void(unsigned, bool)> isa_irq, std::function<void(bool)> on_legacy);
  ~Hpet() override;
  void start();  // the timer thread
  void reset_state();
  // The RTC's IRQ 8 level; passed on unless legacy replacement is on.
  void rtc_irq(bool level);

  void io_read(uint64_t offset, std::span<uint8_t> data) override;
  void io_write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  using Clock = std::chrono::steady_clock;
  struct Timer {
    uint64_t config = 0;  // Tn_CONF_CAP (capabilities in the top half)
    uint64_t cmp = ~0ULL;
    uint64_t period = 0;
    uint64_t fsb = 0;
    bool wrap = false;    // the armed deadline is the 32-bit wrap, not cmp
    uint64_t target = 0;  // the counter value the armed deadline stands for
    std::optional<Clock::time_point> deadline;
  };

  uint64_t read_register(uint64_t reg);                              // under mutex_
  void write_register(uint64_t reg, uint64_t value, uint64_t mask);  // under mutex_
  void write_timer(unsigned n, uint64_t reg, uint64_t value, uint64_t mask);
  uint64_t ticks(Clock::time_point now) const;  // the main counter
  bool enabled() const { return (config_ & 1) != 0; }
  bool legacy() const { return (config_ & 2) != 0; }
  // All under mutex_.
  void arm(unsigned n, Clock::time_point now);
  void disarm(unsigned n);
  void fire(unsigned n, Clock::time_point now);
  // Timer n's interrupt: set = one (a pulse, or the level and its status
  // bit), !set = lower it and clear the status bit.
  void update_irq(unsigned n, bool set);
  // The ISA line timer n drives now (0 or 8), if any.
  std::optional<unsigned> line_of(unsigned n) const;
  // Drives lines 0 and 8 to the OR of the level timers on them (and the
  // RTC's level on 8 outside legacy mode), telling isa_irq_ of changes.
  void sync_lines();
  void timer_loop();

  std::function<void(unsigned, bool)> isa_irq_;
  std::function<void(bool)> on_legacy_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::thread thread_;
  bool stop_ = false;
  uint64_t config_ = 0;   // GEN_CONF
  uint64_t isr_ = 0;      // GEN_INT_STATUS
  uint64_t counter_ = 0;  // the counter while disabled; at enable_time_ while enabled
  Clock::time_point enable_time_{};
  bool rtc_level_ = false;
  std::array<bool, 2> sent_{};  // what lines 0 and 8 were last driven to
  std::array<Timer, kTimers> timers_{};
};

}  // namespace amber::hv::devices
