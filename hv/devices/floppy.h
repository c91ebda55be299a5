// SPDX-License-Identifier: GPL-2.0-or-later
// FloppyController: the ISA floppy disk controller of QEMU's `pc` machine
// (an Intel 82078 at 0x3F0, IRQ 6, DMA 2) with no drives attached, as QEMU
// 7.2's isa-fdc shows it when no -drive if=floppy is given, so a driver
// probing the controller (SeaBIOS, Windows' fdc.sys, Linux's floppy.ko)
// finds what it finds there.
//
// Registers (offset from 0x3F0; QEMU claims 0x3F1-0x3F5 and 0x3F7):
// SRA / SRB (read), DOR, TDR, MSR (read) / DSR (write), FIFO (data), DIR
// (read) / CCR (write). Commands answered: SPECIFY, SENSE DRIVE STATUS,
// RECALIBRATE and SEEK (an interrupt, the head moves on no medium), SENSE
// INTERRUPT STATUS (four ready-change answers after a reset, then the
// last interrupt's ST0, or INVALID when none is pending), CONFIGURE,
// DUMPREG, VERSION (0x90), LOCK, PART ID, PERPENDICULAR MODE, POWERDOWN
// MODE, OPTION, SAVE / RESTORE. Data transfers (READ, WRITE, FORMAT,
// READ ID, VERIFY, SCAN) end at once with ABNORMAL TERMINATION and
// NOT READY-style status, as QEMU's with no medium; anything else is
// INVALID (ST0 0x80). A reset (DOR bit 2 rising, DSR bit 7) raises IRQ 6.
//
// Every byte the guest writes is bounded: the FIFO holds at most 18
// command bytes (RESTORE's), results at most 15 (SAVE's). QEMU has two
// drive selects (DOR bit 0); TDR's boot select swaps them, which changes
// nothing with both empty. RESTORE stores what it is given (read back by
// DUMPREG and SAVE), the head positions included; no seek moves a head
// without a medium (QEMU's drives without one refuse every track).
//
// Thread-safety: io_read / io_write / reset_state from any thread (one
// mutex); the IRQ sink is called with it held.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <span>

#include "hv/bus/io_bus.h"

namespace amber::hv::devices {

inline constexpr uint64_t kFloppyBase = 0x3F0;
inline constexpr unsigned kFloppyIrq = 6;

class FloppyController final : public bus::IoDevice {
 public:
  using IrqSink = std::function<void(bool level)>;
  explicit FloppyController(IrqSink irq);

  // Offsets 0..7 from kFloppyBase (the builder maps 1..5 and 7, as QEMU).
  void io_read(uint64_t offset, std::span<uint8_t> data) override;
  void io_write(uint64_t offset, std::span<const uint8_t> data) override;
  void reset_state();  // system reset: no interrupt, as QEMU's device reset

 private:
  enum class Phase { kCommand, kResult };
  uint8_t read_register(unsigned offset);
  void write_register(unsigned offset, uint8_t value);
  void reset(bool interrupt);
  void raise_irq();
  void lower_irq();
  void write_fifo(uint8_t value);
  uint8_t read_fifo();
  void execute();
  void result(std::initializer_list<uint8_t> bytes);
  void command_phase();
  // A data command's end on an empty drive: ST0..ST2, C, H, R, N.
  void stop_transfer(uint8_t st0, uint8_t st1, uint8_t c, uint8_t h, uint8_t r);
  void select(uint8_t drive_byte) { current_drive_ = drive_byte & 1u; }

  std::mutex mutex_;
  IrqSink irq_;
  uint8_t sra_ = 0, srb_ = 0, dor_ = 0, tdr_ = 0, dsr_ = 0, msr_ = 0;
  unsigned current_drive_ = 0;
  uint8_t status0_ = 0;
  bool irq_pending_ = false;
  unsigned reset_sense_ = 0;  // SENSE INTERRUPT answers owed after a reset
  Phase phase_ = Phase::kCommand;
  std::array<uint8_t, 18> fifo_{};
  unsigned fifo_pos_ = 0, fifo_len_ = 0;
  // Kept only to be read back (DUMPREG, SAVE).
  uint8_t timer0_ = 0, timer1_ = 0, config_ = 0, precomp_ = 0, lock_ = 0, powerdown_ = 0;
  std::array<uint8_t, 2> track_{};  // of the two drive selects
  std::array<uint8_t, 2> perpendicular_{};
  std::array<uint8_t, 2> last_sector_{};
};

}  // namespace amber::hv::devices
