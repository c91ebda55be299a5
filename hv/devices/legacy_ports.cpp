// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/devices/legacy_ports.h"

#include <algorithm>

namespace amber::hv::devices {

DebugConsole::~DebugConsole() {
  if (out_ != nullptr) std::fclose(out_);
}

void DebugConsole::io_read(uint64_t, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0xE9);
}

void DebugConsole::io_write(uint64_t, std::span<const uint8_t> data) {
  std::lock_guard lock(mutex_);
  if (out_ == nullptr || written_ >= kMaxLogBytes) return;
  ++written_;
  // Only the low byte is a character (the port is byte wide).
  std::fputc(data[0], out_);
  if (data[0] == '\n') std::fflush(out_);
}

void DebugExit::io_read(uint64_t, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0xFF);
}

void DebugExit::io_write(uint64_t offset, std::span<const uint8_t> data) {
  if (offset != 0) return;
  uint32_t value = 0;
  for (size_t i = 0; i < data.size() && i < 4; ++i)
    value |= static_cast<uint32_t>(data[i]) << (8 * i);
  // The status is truncated to 8 bits by exit() anyway; QEMU does the same.
  on_exit_(static_cast<int>(((value << 1) | 1) & 0xFF));
}

void SystemControlA::io_read(uint64_t, std::span<uint8_t> data) {
  std::lock_guard lock(mutex_);
  std::fill(data.begin(), data.end(), value_);
}

void SystemControlA::io_write(uint64_t, std::span<const uint8_t> data) {
  bool reset = false;
  {
    std::lock_guard lock(mutex_);
    reset = (data[0] & 1) && !(value_ & 1);
    value_ = static_cast<uint8_t>(data[0] & ~1u);
  }
  if (reset) reset_();
}

void SystemControlA::reset_state() {
  std::lock_guard lock(mutex_);
  value_ = 0x02;
}

void ResetControl::io_read(uint64_t, std::span<uint8_t> data) {
  std::lock_guard lock(mutex_);
  std::fill(data.begin(), data.end(), value_);
}

void ResetControl::io_write(uint64_t, std::span<const uint8_t> data) {
  if (data.size() != 1) return;
  bool reset = false;
  {
    std::lock_guard lock(mutex_);
    reset = (data[0] & 0x04) != 0;
    value_ = data[0] & 0x02;
  }
  if (reset) reset_();
}

void ResetControl::reset_state() {
  std::lock_guard lock(mutex_);
  value_ = 0;
}

void ZeroPorts::io_read(uint64_t, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0);
}

}  // namespace amber::hv::devices
