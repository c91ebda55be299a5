// SPDX-License-Identifier: GPL-2.0-or-later
// IoBus: an address map from guest port-I/O or MMIO addresses to devices.
//
// Devices register [base, base + length) ranges; overlapping registrations
// are refused (a second device can never silently shadow the first). A
// vCPU thread dispatches each exit with read()/write(), which call the
// device with the offset inside its range. Accesses nobody claims read as
// all-ones and writes are dropped (the first few are logged).
//
// Thread-safety: all methods may be called from any thread. The map is
// guarded by a shared mutex, released before the device is called, so a
// device may (re)register ranges from inside its own handler (the PCI
// bridge moving BARs). Devices must outlive the bus and lock their own
// state: several vCPUs may call one device at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <shared_mutex>
#include <span>
#include <string>

#include "common/rate_limit.h"
#include "common/result.h"

namespace amber::hv::bus {

class IoDevice {
 public:
  virtual ~IoDevice() = default;
  // offset: from the start of the registered range; data.size() is 1..8.
  virtual void io_read(uint64_t offset, std::span<uint8_t> data) = 0;
  virtual void io_write(uint64_t offset, std::span<const uint8_t> data) = 0;
};

class IoBus {
 public:
  explicit IoBus(std::string name) : name_(std::move(name)) {}

  Result<void> add(uint64_t base, uint64_t length, IoDevice* device, std::string owner);
  // Removes the range that starts at `base` (returns false if none).
  bool remove(uint64_t base);

  // False when no device claimed the address (read data then all-ones).
  bool read(uint64_t address, std::span<uint8_t> data);
  bool write(uint64_t address, std::span<const uint8_t> data);

 private:
  struct Range {
    uint64_t length;
    IoDevice* device;
    std::string owner;
  };
  // Finds the device covering the whole access; nullptr if none.
  IoDevice* find(uint64_t address, uint64_t length, uint64_t* offset) const;
  void log_unclaimed(const char* what, uint64_t address, size_t length);

  std::string name_;
  mutable std::shared_mutex mutex_;
  std::map<uint64_t, Range> ranges_;  // by base
  // Enough lines to diagnose a guest poking at a missing device without
  // letting a guest loop flood the log.
  RateLimiter unclaimed_log_{kGuestLogBurst, kGuestLogInterval};
};

}  // namespace amber::hv::bus
