// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/devices/i8042.h"

#include <algorithm>

namespace amber::hv::devices {
namespace {
constexpr uint64_t kDataOffset = 0;
constexpr uint8_t kStatusOutputFull = 0x01;
constexpr uint8_t kStatusSystemFlag = 0x04;
constexpr uint8_t kStatusCommand = 0x08;
}  // namespace

void I8042::push(uint8_t byte) {
  if (output_.size() < kMaxQueue) output_.push_back(byte);
}

void I8042::reset_state() {
  std::lock_guard lock(mutex_);
  output_.clear();
  command_byte_ = 0x61;
  pending_command_ = 0;
}

void I8042::io_read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mutex_);
  uint8_t value;
  if (offset == kDataOffset) {
    value = output_.empty() ? 0 : output_.front();
    if (!output_.empty()) output_.pop_front();
  } else {
    value = static_cast<uint8_t>(kStatusSystemFlag | (pending_command_ ? kStatusCommand : 0) |
                                 (output_.empty() ? 0 : kStatusOutputFull));
  }
  std::fill(data.begin(), data.end(), value);
}

void I8042::io_write(uint64_t offset, std::span<const uint8_t> data) {
  const uint8_t value = data[0];
  bool reset = false;
  {
    std::lock_guard lock(mutex_);
    if (offset != kDataOffset) {
      switch (value) {
        case 0x20:
          push(command_byte_);
          break;
        case 0x60:
        case 0xD1:
        case 0xD2:
        case 0xD3:
        case 0xD4:
          pending_command_ = value;
          break;
        case 0xAA:
          push(0x55);
          break;  // controller self test passed
        case 0xA9:
        case 0xAB:
          push(0x00);
          break;  // interface tests passed
        case 0xD0:
          push(0x03);
          break;  // output port: A20 on, not in reset
        case 0xFE:
          reset = true;
          break;  // pulse reset line
        default:
          break;  // enable/disable port etc.
      }
    } else if (pending_command_ != 0) {
      const uint8_t command = pending_command_;
      pending_command_ = 0;
      if (command == 0x60)
        command_byte_ = value;
      else if (command == 0xD1)
        reset = (value & 1) == 0;
      else if (command == 0xD2 || command == 0xD3)
        push(value);  // echo as if typed
      else if (command == 0xD4)
        push(0xFE);  // no mouse: resend
    } else {
      // A keyboard command: acknowledge; reset and identify have replies.
      push(0xFA);
      if (value == 0xFF) push(0xAA);
      if (value == 0xF2) {
        push(0xAB);
        push(0x83);
      }
    }
  }
  if (reset) reset_();
}

}  // namespace amber::hv::devices
