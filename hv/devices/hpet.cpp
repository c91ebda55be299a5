// SPDX-License-Identifier: GPL-2.0-or-later
// HPET registers and timers (see hpet.h).
//
// Thread-safety: mutex_ guards everything; the timer thread waits on
// changed_ for the earliest armed deadline.
#include "hv/devices/hpet.h"

#include <algorithm>
#include <cstring>

namespace amber::hv::devices {
namespace {

constexpr uint64_t kRegCapabilities = 0x000;
constexpr uint64_t kRegConfig = 0x010;
constexpr uint64_t kRegStatus = 0x020;
constexpr uint64_t kRegCounter = 0x0F0;
constexpr uint64_t kRegTimers = 0x100;
constexpr uint64_t kTimerStride = 0x20;

constexpr uint64_t kConfigEnable = 1u << 0;
constexpr uint64_t kConfigLegacy = 1u << 1;
constexpr uint64_t kConfigWritable = kConfigEnable | kConfigLegacy;

// Tn_CONF_CAP bits.
constexpr uint64_t kTimerLevel = 1u << 1;
constexpr uint64_t kTimerIntEnable = 1u << 2;
constexpr uint64_t kTimerPeriodic = 1u << 3;
constexpr uint64_t kTimerPeriodicCap = 1u << 4;
constexpr uint64_t kTimerSizeCap = 1u << 5;
constexpr uint64_t kTimerSetValue = 1u << 6;
constexpr uint64_t kTimer32Bit = 1u << 8;
constexpr unsigned kTimerRouteShift = 9;
constexpr uint64_t kTimerRouteMask = 0x1Fu << kTimerRouteShift;
// QEMU's write mask (0x7F4E) less FSB_EN_CNF (bit 14): no FSB capability.
constexpr uint64_t kTimerWritable = 0x3F4E;

// The capabilities register: QEMU's 0x8086A001 with NUM_TIM_CAP = 2.
constexpr uint64_t kCapabilities =
    0x8086A001ULL | ((Hpet::kTimers - 1) << 8) | (Hpet::kPeriodFs << 32);

constexpr int64_t kNsPerTick = 10;
// The timer thread sleeps at most this many ticks at once (no time_point
// overflow for far-away comparators; it re-checks on waking).
constexpr uint64_t kMaxSleepTicks = 1ULL << 36;
// A periodic timer is re-armed no sooner than this after it fires: a
// guest programming a 1-tick period must not spin the timer thread (the
// missed periods are skipped as any late ones are).
constexpr auto kMinPeriodicRearm = std::chrono::microseconds(10);

bool after32(uint64_t a, uint64_t b) {
  return static_cast<int32_t>(static_cast<uint32_t>(b) - static_cast<uint32_t>(a)) < 0;
}
bool after64(uint64_t a, uint64_t b) {
  return static_cast<int64_t>(b - a) < 0;
}

}  // namespace

Hpet::Hpet(std::function<void(unsigned, bool)> isa_irq, std::function<void(bool)> on_legacy)
    : isa_irq_(std::move(isa_irq)), on_legacy_(std::move(on_legacy)) {
  std::lock_guard lock(mutex_);
  for (Timer& t : timers_) t = Timer{};
  for (Timer& t : timers_)
    t.config = kTimerPeriodicCap | kTimerSizeCap | (static_cast<uint64_t>(kRouteCap) << 32);
}

Hpet::~Hpet() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Hpet::start() {
  thread_ = std::thread([this] { timer_loop(); });
}

void Hpet::reset_state() {
  std::lock_guard lock(mutex_);
  const bool was_legacy = legacy();
  config_ = 0;
  isr_ = 0;
  counter_ = 0;
  for (Timer& t : timers_) {
    t = Timer{};
    t.config = kTimerPeriodicCap | kTimerSizeCap | (static_cast<uint64_t>(kRouteCap) << 32);
  }
  if (was_legacy && on_legacy_) on_legacy_(false);
  sync_lines();
  changed_.notify_all();
}

void Hpet::rtc_irq(bool level) {
  std::lock_guard lock(mutex_);
  rtc_level_ = level;
  sync_lines();
}

uint64_t Hpet::ticks(Clock::time_point now) const {
  if (!enabled()) return counter_;
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now - enable_time_).count();
  return counter_ + static_cast<uint64_t>(std::max<int64_t>(ns, 0) / kNsPerTick);
}

std::optional<unsigned> Hpet::line_of(unsigned n) const {
  if (legacy() && n == 0) return 0u;
  if (legacy() && n == 1) return 8u;
  const unsigned route =
      static_cast<unsigned>((timers_[n].config & kTimerRouteMask) >> kTimerRouteShift);
  if (route == 2 && (kRouteCap & (1u << route))) return 0u;  // IOAPIC pin 2 = GSI 0
  return std::nullopt;
}

void Hpet::sync_lines() {
  constexpr std::array<unsigned, 2> kLines{0, 8};
  for (size_t i = 0; i < kLines.size(); ++i) {
    bool want = kLines[i] == 8 && !legacy() && rtc_level_;
    for (unsigned n = 0; n < kTimers; ++n) {
      if (!(isr_ & (1u << n))) continue;
      if (line_of(n) == kLines[i]) want = true;
    }
    if (want == sent_[i]) continue;
    sent_[i] = want;
    if (isa_irq_) isa_irq_(kLines[i], want);
  }
}

void Hpet::update_irq(unsigned n, bool set) {
  const Timer& t = timers_[n];
  const uint64_t bit = 1u << n;
  if (!set || !(t.config & kTimerIntEnable) || !enabled()) {
    isr_ &= ~bit;
    sync_lines();
    return;
  }
  if (t.config & kTimerLevel) {
    isr_ |= bit;
    sync_lines();
    return;
  }
  isr_ &= ~bit;
  sync_lines();
  const std::optional<unsigned> line = line_of(n);
  if (!line || !isa_irq_) return;
  const bool held = sent_[*line == 0 ? 0 : 1];
  if (held) return;  // a shared line already high: no edge to give
  isa_irq_(*line, true);
  isa_irq_(*line, false);
}

void Hpet::arm(unsigned n, Clock::time_point now) {
  Timer& t = timers_[n];
  t.wrap = false;
  t.deadline.reset();
  if (!enabled()) return;
  const uint64_t cur = ticks(now);
  uint64_t diff;
  if (t.config & kTimer32Bit) {
    const uint32_t d = static_cast<uint32_t>(t.cmp) - static_cast<uint32_t>(cur);
    diff = static_cast<int32_t>(d) > 0 ? d : 1;
    // In 32-bit one-shot mode the counter's wrap interrupts too.
    const uint32_t to_wrap = 0xFFFFFFFFu - static_cast<uint32_t>(cur);
    if (!(t.config & kTimerPeriodic) && to_wrap < diff) {
      diff = to_wrap;
      t.wrap = true;
    }
  } else {
    const uint64_t d = t.cmp - cur;
    diff = static_cast<int64_t>(d) > 0 ? d : 1;
  }
  t.target = cur + diff;
  t.deadline = now + std::chrono::nanoseconds(static_cast<int64_t>(std::min(diff, kMaxSleepTicks)) *
                                              kNsPerTick);
  changed_.notify_all();
}

void Hpet::disarm(unsigned n) {
  timers_[n].deadline.reset();
  timers_[n].wrap = false;
}

void Hpet::fire(unsigned n, Clock::time_point now) {
  Timer& t = timers_[n];
  const uint64_t cur = ticks(now);
  if ((t.config & kTimerPeriodic) && t.period != 0) {
    // Skip to the first period boundary not behind the counter (missed
    // periods give one interrupt, as QEMU's catch-up loop does).
    if (t.config & kTimer32Bit) {
      if (after32(cur, t.cmp)) {
        const uint32_t behind = static_cast<uint32_t>(cur) - static_cast<uint32_t>(t.cmp);
        const uint64_t steps = (behind + t.period - 1) / t.period;
        t.cmp = static_cast<uint32_t>(t.cmp + steps * t.period);
      }
    } else if (after64(cur, t.cmp)) {
      const uint64_t behind = cur - t.cmp;
      t.cmp += ((behind + t.period - 1) / t.period) * t.period;
    }
    arm(n, now);
    if (t.deadline && *t.deadline < now + kMinPeriodicRearm) t.deadline = now + kMinPeriodicRearm;
  } else if (t.wrap) {
    arm(n, now);  // now for the comparator itself
  } else {
    disarm(n);
  }
  update_irq(n, true);
}

void Hpet::timer_loop() {
  std::unique_lock lock(mutex_);
  while (!stop_) {
    const auto now = Clock::now();
    std::optional<Clock::time_point> wake;
    for (unsigned n = 0; n < kTimers; ++n) {
      Timer& t = timers_[n];
      if (!t.deadline) continue;
      if (*t.deadline <= now) {
        if (static_cast<int64_t>(ticks(now) - t.target) >= 0) {
          fire(n, now);
        } else {  // a capped sleep ended early: sleep on towards target
          const uint64_t left = std::min(t.target - ticks(now), kMaxSleepTicks);
          t.deadline = now + std::chrono::nanoseconds(static_cast<int64_t>(left) * kNsPerTick);
        }
      }
      if (t.deadline && (!wake || *t.deadline < *wake)) wake = t.deadline;
    }
    if (wake)
      changed_.wait_until(lock, *wake);
    else
      changed_.wait(lock);
  }
}

uint64_t Hpet::read_register(uint64_t reg) {
  const auto now = Clock::now();
  switch (reg) {
    case kRegCapabilities:
      return kCapabilities;
    case kRegConfig:
      return config_;
    case kRegStatus:
      return isr_;
    case kRegCounter:
      return ticks(now);
    default:
      break;
  }
  if (reg < kRegTimers || reg >= kRegTimers + kTimers * kTimerStride) return 0;
  const Timer& t = timers_[(reg - kRegTimers) / kTimerStride];
  switch ((reg - kRegTimers) % kTimerStride) {
    case 0x00:
      return t.config;
    case 0x08:
      return t.cmp;
    case 0x10:
      return t.fsb;
    default:
      return 0;
  }
}

void Hpet::write_register(uint64_t reg, uint64_t value, uint64_t mask) {
  if (reg == kRegConfig) {
    const auto now = Clock::now();
    const uint64_t old = config_;
    const uint64_t writable = kConfigWritable & mask;
    const uint64_t next = (old & ~writable) | (value & writable);
    if ((next & kConfigEnable) && !(old & kConfigEnable)) {
      config_ = next;
      enable_time_ = now;
      for (unsigned n = 0; n < kTimers; ++n)
        if (timers_[n].cmp != ~0ULL) arm(n, now);
    } else if (!(next & kConfigEnable) && (old & kConfigEnable)) {
      counter_ = ticks(now);
      config_ = next;
      for (unsigned n = 0; n < kTimers; ++n) {
        disarm(n);
        isr_ &= ~(1u << n);
      }
    } else {
      config_ = next;
    }
    if ((next ^ old) & kConfigLegacy) {
      if (on_legacy_) on_legacy_((next & kConfigLegacy) != 0);
    }
    sync_lines();
    return;
  }
  if (reg == kRegStatus) {
    const uint64_t clear = value & mask & isr_;
    for (unsigned n = 0; n < kTimers; ++n)
      if (clear & (1u << n)) update_irq(n, false);
    return;
  }
  if (reg == kRegCounter) {
    // The counter is writable while halted (a write while it runs is
    // lost, as QEMU's is once the counter is next read back).
    if (!enabled()) counter_ = (counter_ & ~mask) | (value & mask);
    return;
  }
  if (reg < kRegTimers || reg >= kRegTimers + kTimers * kTimerStride) return;
  write_timer(static_cast<unsigned>((reg - kRegTimers) / kTimerStride),
              (reg - kRegTimers) % kTimerStride, value, mask);
}

void Hpet::write_timer(unsigned n, uint64_t reg, uint64_t value, uint64_t mask) {
  Timer& t = timers_[n];
  const auto now = Clock::now();
  if (reg == 0x00) {
    const uint64_t old = t.config;
    const uint64_t writable = kTimerWritable & mask;
    t.config = (old & ~writable) | (value & writable);
    if (t.config & kTimer32Bit) {
      t.cmp = static_cast<uint32_t>(t.cmp);
      t.period = static_cast<uint32_t>(t.period);
    }
    const bool was_on = old & kTimerIntEnable;
    const bool on = t.config & kTimerIntEnable;
    if (!on) {
      disarm(n);
      isr_ &= ~(1u << n);
    } else if (!was_on || t.deadline) {
      arm(n, now);  // newly enabled, or its mode changed under a deadline
    }
    sync_lines();  // a new route or trigger mode takes the level with it
    return;
  }
  if (reg == 0x08) {
    uint64_t m = mask;
    if (t.config & kTimer32Bit) m &= 0xFFFFFFFFULL;
    const bool periodic = t.config & kTimerPeriodic;
    if (!periodic || (t.config & kTimerSetValue)) t.cmp = (t.cmp & ~m) | (value & m);
    if (periodic) {
      const uint64_t limit = (t.config & kTimer32Bit) ? 0x7FFFFFFFULL : 0x7FFFFFFFFFFFFFFFULL;
      t.period = ((t.period & ~m) | (value & m)) & limit;
    }
    t.config &= ~kTimerSetValue;
    if (enabled()) arm(n, now);
    return;
  }
  if (reg == 0x10) t.fsb = (t.fsb & ~mask) | (value & mask);
}

void Hpet::io_read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < data.size();) {
    const uint64_t at = offset + i;
    const uint64_t shift = (at & 7) * 8;
    const size_t n = std::min<size_t>(data.size() - i, 8 - (at & 7));
    const uint64_t value = read_register(at & ~7ULL) >> shift;
    for (size_t k = 0; k < n; ++k) data[i + k] = static_cast<uint8_t>(value >> (8 * k));
    i += n;
  }
}

void Hpet::io_write(uint64_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < data.size();) {
    const uint64_t at = offset + i;
    const uint64_t shift = (at & 7) * 8;
    const size_t n = std::min<size_t>(data.size() - i, 8 - (at & 7));
    uint64_t value = 0;
    for (size_t k = 0; k < n; ++k) value |= static_cast<uint64_t>(data[i + k]) << (8 * k);
    const uint64_t mask = (n == 8 ? ~0ULL : ((1ULL << (8 * n)) - 1)) << shift;
    write_register(at & ~7ULL, value << shift, mask);
    i += n;
  }
}

}  // namespace amber::hv::devices
