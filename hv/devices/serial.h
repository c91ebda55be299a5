// SPDX-License-Identifier: GPL-2.0-or-later
// 16550A UART (COM1 at 0x3F8, IRQ 4): divisor latch, IER/IIR/FCR/LCR/MCR/
// LSR/MSR/SCR, a 16-byte receive FIFO fed by the backend's reader thread,
// transmit straight to the backend (THR is always empty again at once),
// loopback mode, and the RX-data / THR-empty interrupts driven as a level
// through the irq callback.
//
// Thread-safety: one mutex; vCPU threads and the backend reader thread.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>

#include "hv/bus/io_bus.h"
#include "hv/devices/serial_backend.h"

namespace amber::hv::devices {

class Serial : public bus::IoDevice {
 public:
  Serial(std::unique_ptr<SerialBackend> backend, std::function<void(bool)> irq);
  void start();  // begins delivering backend input
  void io_read(uint64_t offset, std::span<uint8_t> data) override;
  void io_write(uint64_t offset, std::span<const uint8_t> data) override;
  void reset_state();
  // Queues received bytes; returns how many fit (used by the backend).
  size_t receive(const uint8_t* bytes, size_t count);

 private:
  // The 16550A's receive FIFO depth.
  static constexpr size_t kFifoSize = 16;
  uint8_t interrupt_id() const;
  void update_irq();  // under mutex_

  std::unique_ptr<SerialBackend> backend_;
  std::function<void(bool)> irq_;
  std::mutex mutex_;
  std::deque<uint8_t> rx_;
  uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0, scr_ = 0, fcr_ = 0;
  uint8_t dll_ = 0x0C, dlm_ = 0;
  bool thr_interrupt_ = false;
  bool irq_level_ = false;
};

}  // namespace amber::hv::devices
