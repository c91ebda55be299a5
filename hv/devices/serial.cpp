// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/devices/serial.h"

#include <algorithm>

namespace amber::hv::devices {
namespace {
constexpr uint8_t kLcrDlab = 0x80;
constexpr uint8_t kMcrLoopback = 0x10;
constexpr uint8_t kIerRx = 0x01, kIerThr = 0x02;
constexpr uint8_t kIirNone = 0x01, kIirThr = 0x02, kIirRx = 0x04, kIirFifo = 0xC0;
constexpr uint8_t kLsrDataReady = 0x01, kLsrThrEmpty = 0x20, kLsrIdle = 0x40;
}  // namespace

Serial::Serial(std::unique_ptr<SerialBackend> backend, std::function<void(bool)> irq)
    : backend_(std::move(backend)), irq_(std::move(irq)) {}

void Serial::start() {
  if (backend_) backend_->start([this](const uint8_t* b, size_t n) { return receive(b, n); });
}

size_t Serial::receive(const uint8_t* bytes, size_t count) {
  std::lock_guard lock(mutex_);
  if (mcr_ & kMcrLoopback) return count;  // the line is disconnected in loopback
  size_t taken = 0;
  while (taken < count && rx_.size() < kFifoSize) rx_.push_back(bytes[taken++]);
  update_irq();
  return taken;
}

uint8_t Serial::interrupt_id() const {
  const uint8_t fifo = (fcr_ & 1) ? kIirFifo : 0;
  if ((ier_ & kIerRx) && !rx_.empty()) return fifo | kIirRx;
  if ((ier_ & kIerThr) && thr_interrupt_) return fifo | kIirThr;
  return fifo | kIirNone;
}

void Serial::update_irq() {
  const bool level = (interrupt_id() & kIirNone) == 0;
  if (level != irq_level_) {
    irq_level_ = level;
    if (irq_) irq_(level);
  }
}

void Serial::reset_state() {
  std::lock_guard lock(mutex_);
  rx_.clear();
  ier_ = lcr_ = mcr_ = scr_ = fcr_ = 0;
  thr_interrupt_ = false;
  update_irq();
}

void Serial::io_read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mutex_);
  uint8_t value = 0xFF;
  switch (offset) {
    case 0:
      if (lcr_ & kLcrDlab) {
        value = dll_;
        break;
      }
      value = rx_.empty() ? 0 : rx_.front();
      if (!rx_.empty()) rx_.pop_front();
      break;
    case 1:
      value = (lcr_ & kLcrDlab) ? dlm_ : ier_;
      break;
    case 2:
      value = interrupt_id();
      if ((value & 0x0F) == kIirThr) thr_interrupt_ = false;
      break;
    case 3:
      value = lcr_;
      break;
    case 4:
      value = mcr_;
      break;
    case 5:
      value = static_cast<uint8_t>(kLsrThrEmpty | kLsrIdle | (rx_.empty() ? 0 : kLsrDataReady));
      break;
    case 6:
      // Loopback wires OUT/RTS/DTR back to DCD/RI/DSR/CTS; otherwise a
      // connected modem: DCD, DSR, CTS.
      value = (mcr_ & kMcrLoopback)
                  ? static_cast<uint8_t>(((mcr_ & 0x0C) << 4) | ((mcr_ & 0x01) << 5) |
                                         ((mcr_ & 0x02) << 3))
                  : 0xB0;
      break;
    case 7:
      value = scr_;
      break;
    default:
      break;
  }
  update_irq();
  std::fill(data.begin(), data.end(), value);
}

void Serial::io_write(uint64_t offset, std::span<const uint8_t> data) {
  const uint8_t value = data[0];
  std::lock_guard lock(mutex_);
  switch (offset) {
    case 0:
      if (lcr_ & kLcrDlab) {
        dll_ = value;
        break;
      }
      if (mcr_ & kMcrLoopback) {
        if (rx_.size() < kFifoSize) rx_.push_back(value);
      } else if (backend_) {
        backend_->write(value);
      }
      thr_interrupt_ = true;
      break;
    case 1:
      if (lcr_ & kLcrDlab) {
        dlm_ = value;
        break;
      }
      // Enabling the THR interrupt while THR is empty raises it at once.
      if ((value & kIerThr) && !(ier_ & kIerThr)) thr_interrupt_ = true;
      ier_ = value & 0x0F;
      break;
    case 2:
      fcr_ = value & 0xC9;
      if (value & 0x02) rx_.clear();
      break;
    case 3:
      lcr_ = value;
      break;
    case 4:
      mcr_ = value & 0x1F;
      break;
    case 7:
      scr_ = value;
      break;
    default:
      break;
  }
  update_irq();
}

}  // namespace amber::hv::devices
