// SPDX-License-Identifier: GPL-2.0-or-later
// Small fixed-port PC devices, each a few lines:
//  - DebugConsole (0x402): bytes written go to a log file; reads return
//    0xE9 (SeaBIOS checks this before it logs there).
//  - DebugExit (isa-debug-exit compatible, 0x501): a write of value v
//    ends the VM with process exit status (v << 1) | 1, like QEMU's
//    `-device isa-debug-exit,iobase=0x501`.
//  - SystemControlA (0x92): A20 gate + fast reset (bit 0), value stored.
//  - ResetControl (0xCF9): bit 2 set with bit 1 -> reset (PIIX3 RCR).
//  - PostCode (0x80): sink.
//  - ZeroPorts: a range that reads 0 and ignores writes (ACPI hotplug
//    registers 0xAE00.., which must read 0, see the SeaBIOS notes).
//
// Thread-safety: each device locks its own (tiny) state; callable from any
// vCPU thread.
#pragma once

#include <cstdio>
#include <functional>
#include <mutex>
#include <vector>

#include "hv/bus/io_bus.h"

namespace amber::hv::devices {

// Called by devices to request a machine-wide action.
struct MachineActions {
  std::function<void()> reset;
  std::function<void(int exit_code)> guest_exit;  // debug-exit port
  std::function<void()> guest_shutdown;           // ACPI S5
};

class DebugConsole : public bus::IoDevice {
 public:
  explicit DebugConsole(std::FILE* out) : out_(out) {}
  ~DebugConsole() override;
  void io_read(uint64_t offset, std::span<uint8_t> data) override;
  void io_write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  // A guest printing forever must not fill the host disk: stop logging
  // after 64 MiB (SeaBIOS's whole boot log is a few KiB).
  static constexpr uint64_t kMaxLogBytes = 64ULL << 20;
  std::mutex mutex_;
  std::FILE* out_;  // owned; nullptr = discard
  uint64_t written_ = 0;
};

class DebugExit : public bus::IoDevice {
 public:
  explicit DebugExit(std::function<void(int)> on_exit) : on_exit_(std::move(on_exit)) {}
  void io_read(uint64_t, std::span<uint8_t> data) override;
  void io_write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  std::function<void(int)> on_exit_;
};

class SystemControlA : public bus::IoDevice {
 public:
  explicit SystemControlA(std::function<void()> reset) : reset_(std::move(reset)) {}
  void io_read(uint64_t, std::span<uint8_t> data) override;
  void io_write(uint64_t, std::span<const uint8_t> data) override;
  void reset_state();

 private:
  std::mutex mutex_;
  uint8_t value_ = 0x02;  // A20 enabled
  std::function<void()> reset_;
};

class ResetControl : public bus::IoDevice {
 public:
  explicit ResetControl(std::function<void()> reset) : reset_(std::move(reset)) {}
  void io_read(uint64_t, std::span<uint8_t> data) override;
  void io_write(uint64_t, std::span<const uint8_t> data) override;
  void reset_state();

 private:
  std::mutex mutex_;
  uint8_t value_ = 0;
  std::function<void()> reset_;
};

// Fixed bytes (the ACPI CPU-present bitmap at 0xAF00); writes ignored.
class ReadOnlyBytes : public bus::IoDevice {
 public:
  explicit ReadOnlyBytes(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {}
  void io_read(uint64_t offset, std::span<uint8_t> data) override {
    for (size_t i = 0; i < data.size(); ++i)
      data[i] = offset + i < bytes_.size() ? bytes_[offset + i] : 0;
  }
  void io_write(uint64_t, std::span<const uint8_t>) override {}

 private:
  std::vector<uint8_t> bytes_;
};

class ZeroPorts : public bus::IoDevice {
 public:
  void io_read(uint64_t, std::span<uint8_t> data) override;
  void io_write(uint64_t, std::span<const uint8_t>) override {}
};

}  // namespace amber::hv::devices
