// SPDX-License-Identifier: GPL-2.0-or-later
// fw_cfg: QEMU's firmware configuration interface, as SeaBIOS reads it.
//   0x510 (16-bit write): select an item; 0x511 (byte read): next byte of
//   it; 0x514/0x518: DMA address, big-endian halves, the write to 0x518
//   runs the transfer (read/skip/select; writes are refused). A transfer
//   completes within the exit that starts it (firmware polls the control
//   word in RAM, which causes no exit to continue on), so its cost is
//   bounded instead: see kFwCfgMaxDmaZeroFill.
// Items: legacy keys (signature "QEMU", ID with the DMA bit, NB_CPUS,
// MAX_CPUS, BOOT_MENU...) and named files (etc/e820, bootorder, ...),
// listed in the file directory (key 0x19) sorted by name like QEMU does.
//
// Set-up (add_key/add_file) happens before the vCPUs run; after that the
// items are read-only. Thread-safety: guest accesses take one mutex.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.h"
#include "hv/bus/io_bus.h"
#include "hv/memory/guest_memory.h"

namespace amber::hv::devices {

inline constexpr uint16_t kFwCfgSignature = 0x00;
inline constexpr uint16_t kFwCfgId = 0x01;
inline constexpr uint16_t kFwCfgUuid = 0x02;
inline constexpr uint16_t kFwCfgNbCpus = 0x05;
inline constexpr uint16_t kFwCfgBootMenu = 0x0E;
inline constexpr uint16_t kFwCfgMaxCpus = 0x0F;
inline constexpr uint16_t kFwCfgFileDir = 0x19;
inline constexpr uint16_t kFwCfgFileFirst = 0x20;
inline constexpr uint16_t kFwCfgIrq0Override = 0x8002;
inline constexpr uint64_t kFwCfgPort = 0x510;
inline constexpr uint64_t kFwCfgPortSpan = 12;  // 0x510..0x51B
// The most zero bytes one DMA read writes past the end of its item (QEMU
// zero-fills any length there). A longer read is refused with the error
// status before anything is written, so one exit costs at most the item's
// own bytes (host-sized) plus this much: it bounds the time a guest can hold
// a vCPU thread, and the fw_cfg mutex, with one register write.
inline constexpr uint32_t kFwCfgMaxDmaZeroFill = 64 * 1024;

class FwCfg : public bus::IoDevice {
 public:
  explicit FwCfg(const GuestMemory* memory) : memory_(memory) {}

  void add_key(uint16_t key, std::vector<uint8_t> bytes);
  void add_u16(uint16_t key, uint16_t value);
  Result<void> add_file(const std::string& name, std::vector<uint8_t> bytes);
  // Builds the directory and the fixed keys; call once after the last add.
  void finalize();

  // The bytes of an item (tests and the builder).
  const std::vector<uint8_t>* item(uint16_t key) const;

  void io_read(uint64_t offset, std::span<uint8_t> data) override;
  void io_write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  void run_dma(uint64_t address);  // under mutex_

  const GuestMemory* memory_;
  std::map<uint16_t, std::vector<uint8_t>> items_;
  std::map<std::string, std::vector<uint8_t>> files_;

  std::mutex mutex_;
  uint16_t selected_ = 0;
  uint32_t position_ = 0;
  uint64_t dma_address_ = 0;
};

}  // namespace amber::hv::devices
