// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/devices/cmos.h"

#include <algorithm>
#include <chrono>
#include <ctime>

namespace amber::hv::devices {
namespace {

constexpr uint8_t kSeconds = 0x00, kMinutes = 0x02, kHours = 0x04, kWeekday = 0x06, kDay = 0x07,
                  kMonth = 0x08, kYear = 0x09, kStatusA = 0x0A, kStatusB = 0x0B, kStatusC = 0x0C,
                  kStatusD = 0x0D, kCentury = 0x32;
constexpr uint8_t kStatusBBinary = 0x04;
constexpr uint8_t kStatusBPeriodic = 0x40;
constexpr uint8_t kStatusBUpdateEnded = 0x10;
constexpr uint8_t kFlagIrq = 0x80, kFlagPeriodic = 0x40, kFlagUpdateEnded = 0x10;
constexpr unsigned kMaxReinjectPerTick = 20;   // QEMU's RTC_REINJECT_ON_ACK_COUNT
constexpr uint64_t kMaxLostTicks = 8192 * 60;  // a minute at the fastest rate
constexpr uint8_t kStatusB24Hour = 0x02;

uint8_t to_bcd(int value) {
  return static_cast<uint8_t>(((value / 10) << 4) | (value % 10));
}

uint8_t clamp16_low(uint64_t v) {
  return static_cast<uint8_t>(std::min<uint64_t>(v, 0xFFFF));
}
uint8_t clamp16_high(uint64_t v) {
  return static_cast<uint8_t>(std::min<uint64_t>(v, 0xFFFF) >> 8);
}

}  // namespace

std::vector<std::pair<uint8_t, uint8_t>> cmos_platform_bytes(const RamLayout& layout,
                                                             unsigned cpus) {
  std::vector<std::pair<uint8_t, uint8_t>> out;
  // Base memory: 640 KiB.
  out.push_back({0x15, 0x80});
  out.push_back({0x16, 0x02});
  // Extended memory above 1 MiB, in KiB (max 0xFFFF).
  const uint64_t extended_kib = layout.below_4g > kMiB ? (layout.below_4g - kMiB) / 1024 : 0;
  for (uint8_t base : {uint8_t{0x17}, uint8_t{0x30}}) {
    out.push_back({base, clamp16_low(extended_kib)});
    out.push_back({static_cast<uint8_t>(base + 1), clamp16_high(extended_kib)});
  }
  // Memory above 16 MiB below 4 GiB, in 64 KiB units.
  const uint64_t above_16m =
      layout.below_4g > 16 * kMiB ? (layout.below_4g - 16 * kMiB) / 65536 : 0;
  out.push_back({0x34, clamp16_low(above_16m)});
  out.push_back({0x35, clamp16_high(above_16m)});
  // Memory above 4 GiB, 64 KiB units, 24 bits.
  const uint64_t high = layout.above_4g / 65536;
  out.push_back({0x5B, static_cast<uint8_t>(high)});
  out.push_back({0x5C, static_cast<uint8_t>(high >> 8)});
  out.push_back({0x5D, static_cast<uint8_t>(high >> 16)});
  out.push_back({0x5F, static_cast<uint8_t>(cpus - 1)});
  out.push_back({0x10, 0x00});  // no floppy drives
  // QEMU's -boot order=cad (its default): hard disk, floppy, CD-ROM, with
  // the floppy boot-signature check on. SeaBIOS uses this order for what
  // the bootorder file does not list (its fallback floppy and hard-disk
  // entries), so a VM without a bootable disk says what QEMU's says.
  out.push_back({0x3D, 0x12});
  out.push_back({0x38, 0x30});
  return out;
}

Cmos::~Cmos() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Cmos::start(std::function<void(bool)> irq) {
  irq_ = std::move(irq);
  thread_ = std::thread([this] { timer_loop(); });
}

void Cmos::reset_state() {
  std::lock_guard lock(mutex_);
  bytes_[kStatusA] = 0x26;
  bytes_[kStatusB] = kStatusB24Hour;
  flags_ = 0;
  changed_.notify_all();
  lost_ = 0;
  reinjected_ = 0;
}

void Cmos::timer_loop() {
  using Clock = std::chrono::steady_clock;
  // The periodic ticks keep one phase, as the MC146818's divider chain
  // does: multiples of the period from `epoch`, whatever the moment PIE or
  // the rate was set. Every rate's period divides the longest, so a rate
  // change keeps the chain's alignment; the first interrupt after PIE comes
  // at the next boundary and the ones after it exactly a period apart.
  const auto epoch = Clock::now();
  auto next_update = epoch + std::chrono::seconds(1);
  Clock::time_point next_periodic{};
  bool ticking = false;  // next_periodic is set
  Clock::duration last_period{};
  auto boundary_after = [&epoch](Clock::time_point t, Clock::duration period) {
    return epoch + ((t - epoch) / period + 1) * period;
  };
  std::unique_lock lock(mutex_);
  while (!stop_) {
    const unsigned rate = bytes_[kStatusA] & 0x0F;
    const bool periodic = (bytes_[kStatusB] & kStatusBPeriodic) && rate != 0;
    // Rates 1 and 2 are aliases of 8 and 9 on the MC146818.
    const unsigned effective = rate < 3 ? rate + 7 : rate;
    const Clock::duration period = std::chrono::duration_cast<Clock::duration>(
        std::chrono::nanoseconds((1000000000LL << (effective - 1)) / 32768));
    if (!periodic) {
      ticking = false;
    } else if (!ticking || period != last_period) {
      next_periodic = boundary_after(Clock::now(), period);
      ticking = true;
    }
    last_period = period;
    auto wake = next_update;
    if (ticking) wake = std::min(wake, next_periodic);
    changed_.wait_until(lock, wake);
    if (stop_) break;
    const auto now = Clock::now();
    uint8_t raised = 0;
    if (periodic && ticking && now >= next_periodic) {
      raised |= kFlagPeriodic;
      // Unacknowledged previous tick: this one merges with it (lost).
      if (catchup_ && (flags_ & kFlagPeriodic)) ++lost_;
      reinjected_ = 0;
      next_periodic += period;
      // Late: the boundaries passed are lost (owed under catch-up) and
      // the chain goes on from the next one.
      if (next_periodic <= now) {
        const auto next = boundary_after(now, period);
        if (catchup_) lost_ += static_cast<uint64_t>((next - next_periodic) / period);
        next_periodic = next;
      }
      if (lost_ > kMaxLostTicks) lost_ = kMaxLostTicks;
    }
    if (now >= next_update) {
      next_update += std::chrono::seconds(1);
      if (bytes_[kStatusB] & kStatusBUpdateEnded) raised |= kFlagUpdateEnded;
    }
    if (raised == 0) continue;
    flags_ |= raised | kFlagIrq;
    if (irq_) {
      // Edge on IRQ 8: the guest acknowledges by reading register C.
      irq_(true);
      irq_(false);
    }
  }
}

Cmos::Cmos() {
  bytes_[kStatusA] = 0x26;
  bytes_[kStatusB] = kStatusB24Hour;
  bytes_[kStatusD] = 0x80;  // battery good
}

void Cmos::set_catchup(bool on) {
  std::lock_guard lock(mutex_);
  catchup_ = on;
}

void Cmos::set_localtime(bool on) {
  std::lock_guard lock(mutex_);
  localtime_ = on;
}

uint64_t Cmos::lost_ticks() {
  std::lock_guard lock(mutex_);
  return lost_;
}

void Cmos::set(uint8_t index, uint8_t value) {
  std::lock_guard lock(mutex_);
  bytes_[index % kSize] = value;
}

uint8_t Cmos::get(uint8_t index) {
  std::lock_guard lock(mutex_);
  return read_register(index % kSize);
}

uint8_t Cmos::read_register(uint8_t index) {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  if (localtime_)
    localtime_r(&now, &utc);
  else
    gmtime_r(&now, &utc);
  const bool binary = (bytes_[kStatusB] & kStatusBBinary) != 0;
  auto encode = [&](int v) { return binary ? static_cast<uint8_t>(v) : to_bcd(v); };
  switch (index) {
    case kSeconds:
      return encode(utc.tm_sec);
    case kMinutes:
      return encode(utc.tm_min);
    case kHours:
      return encode(utc.tm_hour);
    case kWeekday:
      return encode(utc.tm_wday + 1);
    case kDay:
      return encode(utc.tm_mday);
    case kMonth:
      return encode(utc.tm_mon + 1);
    case kYear:
      return encode(utc.tm_year % 100);
    case kCentury:
      return encode(19 + utc.tm_year / 100);
    case kStatusA:
      return bytes_[kStatusA] & 0x7F;  // never "update in progress"
    case kStatusC: {
      const uint8_t flags = flags_;
      flags_ = 0;
      // Catch-up: the acknowledgement lets one owed tick in at once.
      if (catchup_ && lost_ > 0 && (bytes_[kStatusB] & kStatusBPeriodic) &&
          reinjected_ < kMaxReinjectPerTick) {
        --lost_;
        ++reinjected_;
        flags_ = kFlagPeriodic | kFlagIrq;
        if (irq_) {
          irq_(true);
          irq_(false);
        }
      }
      return flags;
    }
    default:
      return bytes_[index];
  }
}

void Cmos::io_read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mutex_);
  const uint8_t value = offset == 1 ? read_register(index_) : 0xFF;
  std::fill(data.begin(), data.end(), value);
}

void Cmos::io_write(uint64_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mutex_);
  if (offset == 0) {
    index_ = data[0] & 0x7F;  // bit 7 is the NMI mask
    return;
  }
  switch (index_) {
    case kStatusC:
    case kStatusD:
      break;  // read-only
    default:
      bytes_[index_] = data[0];
      if (index_ == kStatusA || index_ == kStatusB) changed_.notify_all();
  }
}

}  // namespace amber::hv::devices
