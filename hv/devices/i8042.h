// SPDX-License-Identifier: GPL-2.0-or-later
// i8042 keyboard controller, as much as firmware and OS reset paths need:
// status/command port 0x64 and data port 0x60, the controller self tests,
// the command byte, a keyboard that acknowledges commands (reset answers
// 0xAA, identify answers AB 83) and never produces keys, and command 0xFE
// (pulse the reset line) plus output-port writes with bit 0 clear, which
// reset the machine. No interrupts are raised (there is no input source).
//
// Thread-safety: one mutex; any vCPU thread.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>

#include "hv/bus/io_bus.h"

namespace amber::hv::devices {

class I8042 : public bus::IoDevice {
 public:
  explicit I8042(std::function<void()> reset) : reset_(std::move(reset)) {}
  // Registered twice: offset 0 = port 0x60, offset 4 = port 0x64 (one range
  // 0x60..0x64 would swallow 0x61, which belongs to the PIT).
  void io_read(uint64_t offset, std::span<uint8_t> data) override;
  void io_write(uint64_t offset, std::span<const uint8_t> data) override;
  void reset_state();

 private:
  // Output buffer is bounded: replies are at most 3 bytes per command.
  static constexpr size_t kMaxQueue = 16;
  void push(uint8_t byte);

  std::mutex mutex_;
  std::deque<uint8_t> output_;
  uint8_t command_byte_ = 0x61;
  uint8_t pending_command_ = 0;  // controller command waiting for its data byte
  std::function<void()> reset_;
};

// Adapter: registers one port of a device with a fixed offset.
class PortAlias : public bus::IoDevice {
 public:
  PortAlias(bus::IoDevice* target, uint64_t offset) : target_(target), offset_(offset) {}
  void io_read(uint64_t offset, std::span<uint8_t> data) override {
    target_->io_read(offset_ + offset, data);
  }
  void io_write(uint64_t offset, std::span<const uint8_t> data) override {
    target_->io_write(offset_ + offset, data);
  }

 private:
  bus::IoDevice* target_;
  uint64_t offset_;
};

}  // namespace amber::hv::devices
