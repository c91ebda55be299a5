// SPDX-License-Identifier: GPL-2.0-or-later
// Test doubles for the NIC unit tests: vector-backed guest RAM, an
// interrupt controller that records the INTx level, a backend that records
// what the NIC sends, and a driver-side view of an e1000's rings.
//
// Thread-safety: test-thread only (the NIC is driven synchronously).
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "hv/memory/guest_memory.h"
#include "hv/net/backend.h"
#include "hv/net/e1000.h"
#include "hv/pci/interrupts.h"

namespace amber::hv::net::test {

inline constexpr uint64_t kRamSize = 4 << 20;

class Ram {
 public:
  Ram() : bytes_(kRamSize, 0) { memory.add_region(0, kRamSize, bytes_.data()); }
  uint8_t* at(uint64_t gpa) { return bytes_.data() + gpa; }
  template <typename T>
  void put(uint64_t gpa, T value) {
    std::memcpy(at(gpa), &value, sizeof value);
  }
  template <typename T>
  T get(uint64_t gpa) {
    T v;
    std::memcpy(&v, at(gpa), sizeof v);
    return v;
  }
  GuestMemory memory;

 private:
  std::vector<uint8_t> bytes_;
};

class FakeInterrupts final : public InterruptController {
 public:
  Result<void> signal_msi(const MsiMessage&) override { return ok(); }
  Result<void> set_intx(unsigned slot, unsigned pin, bool level) override {
    last_slot = slot;
    last_pin = pin;
    this->level = level;
    ++changes;
    return ok();
  }
  unsigned last_slot = 0, last_pin = 0;
  bool level = false;
  unsigned changes = 0;
};

class FakeBackend final : public NetBackend {
 public:
  Result<void> start(FrameSink& sink) override {
    this->sink = &sink;
    return ok();
  }
  SendResult send(std::span<const uint8_t> frame) override {
    sent.emplace_back(frame.begin(), frame.end());
    return result;
  }
  void wake() override { ++wakes; }
  void stop() override {}
  FrameSink* sink = nullptr;
  std::vector<std::vector<uint8_t>> sent;
  SendResult result = SendResult::kSent;
  unsigned wakes = 0;
};

inline constexpr std::array<uint8_t, 6> kMac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

// An e1000 with bus mastering on, over Ram, with the rings of a driver.
struct Nic {
  static constexpr uint64_t kRxRing = 0x1000;
  static constexpr uint64_t kTxRing = 0x8000;
  static constexpr uint64_t kRxBuffers = 0x100000;  // 2 KiB apart
  static constexpr uint64_t kTxBuffers = 0x200000;  // 2 KiB apart

  explicit Nic(std::vector<uint8_t> rom = {}) {
    auto owned = std::make_unique<FakeBackend>();
    backend = owned.get();
    E1000Config config;
    config.mac = kMac;
    config.rom = std::move(rom);
    config.pci_slot = 5;
    device = std::make_unique<E1000>(config, ram.memory, irqs, std::move(owned));
    EXPECT_TRUE(device->start().ok());
    device->config_write(pci::kCommand, 2,
                         pci::kCommandMemory | pci::kCommandIo | pci::kCommandBusMaster);
  }
  uint32_t reg(uint32_t offset) { return device->read_register(offset); }
  void set(uint32_t offset, uint32_t value) { device->write_register(offset, value); }

  // RX: `count` descriptors with buffers, all given to the card but one.
  void setup_rx(uint32_t count,
                uint32_t rctl = e1000::kRctlEn | e1000::kRctlBam | e1000::kRctlSecrc) {
    for (uint32_t i = 0; i < count; ++i) {
      ram.put<uint64_t>(kRxRing + 16 * i, kRxBuffers + 2048 * i);
      ram.put<uint64_t>(kRxRing + 16 * i + 8, 0);
    }
    set(e1000::kRdbal, kRxRing);
    set(e1000::kRdbah, 0);
    set(e1000::kRdlen, count * 16);
    set(e1000::kRdh, 0);
    set(e1000::kRdt, count - 1);
    set(e1000::kRctl, rctl);
  }
  uint8_t rx_status(uint32_t index) { return ram.get<uint8_t>(kRxRing + 16 * index + 12); }
  uint16_t rx_length(uint32_t index) { return ram.get<uint16_t>(kRxRing + 16 * index + 8); }
  const uint8_t* rx_buffer(uint32_t index) { return ram.at(kRxBuffers + 2048 * index); }

  void setup_tx(uint32_t count) {
    set(e1000::kTdbal, kTxRing);
    set(e1000::kTdbah, 0);
    set(e1000::kTdlen, count * 16);
    set(e1000::kTdh, 0);
    set(e1000::kTdt, 0);
    set(e1000::kTctl, e1000::kTctlEn);
    tx_count = count;
  }
  // Writes a descriptor at the tail and advances the tail variable (not TDT).
  void put_tx(uint64_t buffer, uint32_t lower, uint32_t upper = 0) {
    ram.put<uint64_t>(kTxRing + 16 * tx_tail, buffer);
    ram.put<uint32_t>(kTxRing + 16 * tx_tail + 8, lower);
    ram.put<uint32_t>(kTxRing + 16 * tx_tail + 12, upper);
    tx_tail = (tx_tail + 1) % tx_count;
  }
  void put_tx_raw(const uint8_t (&desc)[16]) {
    std::memcpy(ram.at(kTxRing + 16 * tx_tail), desc, 16);
    tx_tail = (tx_tail + 1) % tx_count;
  }
  void kick() { set(e1000::kTdt, tx_tail); }
  uint32_t tx_upper(uint32_t index) { return ram.get<uint32_t>(kTxRing + 16 * index + 12); }

  Ram ram;
  FakeInterrupts irqs;
  FakeBackend* backend = nullptr;
  std::unique_ptr<E1000> device;
  uint32_t tx_count = 0, tx_tail = 0;
};

// An Ethernet frame to `dst` of `size` bytes (type 0x88B5, pattern).
inline std::vector<uint8_t> frame_to(const std::array<uint8_t, 6>& dst, size_t size,
                                     uint8_t seed = 0) {
  std::vector<uint8_t> f(size);
  std::memcpy(f.data(), dst.data(), 6);
  const uint8_t src[6] = {0x02, 0, 0, 0, 0, 1};
  std::memcpy(f.data() + 6, src, 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  for (size_t i = 14; i < size; ++i) f[i] = static_cast<uint8_t>(i * 7 + seed);
  return f;
}

// The Internet checksum of bytes [begin, end).
inline uint16_t internet_checksum(const uint8_t* data, size_t length, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < length; i += 2)
    sum += static_cast<uint32_t>(data[i] << 8 | data[i + 1]);
  if (length & 1) sum += static_cast<uint32_t>(data[length - 1]) << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

}  // namespace amber::hv::net::test
