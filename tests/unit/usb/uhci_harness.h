// SPDX-License-Identifier: GPL-2.0-or-later
// A UHCI controller over 1 MiB of synthetic guest RAM with a frame list,
// helpers to lay out TDs and QHs, and register access as a guest does it.
// Single-threaded: the tests drive frames with Uhci::run_frames().
#pragma once

#include <cstring>
#include <memory>
#include <vector>

#include "hv/memory/guest_memory.h"
#include "hv/usb/hid_device.h"
#include "hv/usb/uhci.h"

namespace amber::hv::usb::test {

inline constexpr uint32_t kRamSize = 1u << 20;
inline constexpr uint32_t kFrameList = 0x10000;
inline constexpr uint8_t kSetup = 0x2D, kIn = 0x69, kOut = 0xE1;
// Register offsets.
inline constexpr unsigned kUsbCmd = 0x00, kUsbSts = 0x02, kUsbIntr = 0x04, kFrNum = 0x06,
                          kFlBase = 0x08, kSofMod = 0x0C, kPortSc1 = 0x10, kPortSc2 = 0x12;

inline uint32_t token(uint8_t pid, unsigned address, unsigned endpoint, unsigned toggle,
                      unsigned max_length) {
  return pid | address << 8 | endpoint << 15 | toggle << 19 | ((max_length - 1) & 0x7FF) << 21;
}

class UhciHarness {
 public:
  UhciHarness() {
    memory_.add_region(0, kRamSize, ram_.data());
    uhci_ = std::make_unique<Uhci>(memory_, [this](bool level) {
      irq_ = level;
      ++irq_changes_;
    });
    // I/O and bus master on, as a driver sets them.
    uhci_->config_write(0x04, 2, 0x0005);
  }

  Uhci& uhci() { return *uhci_; }
  std::vector<uint8_t>& ram() { return ram_; }
  bool irq() const { return irq_; }

  void outw(unsigned offset, uint16_t value) {
    const uint8_t bytes[2] = {static_cast<uint8_t>(value), static_cast<uint8_t>(value >> 8)};
    uhci_->bar_write(kUhciBar, offset, bytes);
  }
  void outl(unsigned offset, uint32_t value) {
    uint8_t bytes[4];
    std::memcpy(bytes, &value, 4);
    uhci_->bar_write(kUhciBar, offset, bytes);
  }
  uint16_t inw(unsigned offset) {
    uint8_t bytes[2] = {};
    uhci_->bar_read(kUhciBar, offset, bytes);
    return static_cast<uint16_t>(bytes[0] | bytes[1] << 8);
  }
  uint32_t inl(unsigned offset) {
    uint8_t bytes[4] = {};
    uhci_->bar_read(kUhciBar, offset, bytes);
    uint32_t value;
    std::memcpy(&value, bytes, 4);
    return value;
  }

  void put32(uint32_t address, uint32_t value) { std::memcpy(&ram_[address], &value, 4); }
  uint32_t get32(uint32_t address) const {
    uint32_t value;
    std::memcpy(&value, &ram_[address], 4);
    return value;
  }
  void put_bytes(uint32_t address, std::vector<uint8_t> bytes) {
    std::memcpy(&ram_[address], bytes.data(), bytes.size());
  }
  std::vector<uint8_t> bytes(uint32_t address, size_t length) const {
    return std::vector<uint8_t>(ram_.begin() + address, ram_.begin() + address + length);
  }
  void td(uint32_t address, uint32_t link, uint32_t control, uint32_t token_word, uint32_t buffer) {
    put32(address, link);
    put32(address + 4, control);
    put32(address + 8, token_word);
    put32(address + 12, buffer);
  }
  void qh(uint32_t address, uint32_t link, uint32_t element) {
    put32(address, link);
    put32(address + 4, element);
  }
  // Every frame list entry points at `link`.
  void all_frames(uint32_t link) {
    for (uint32_t i = 0; i < 1024; ++i) put32(kFrameList + 4 * i, link);
  }
  // Frame list base, port 1 reset done and enabled, interrupts on, run.
  void start() {
    outl(kFlBase, kFrameList);
    outw(kPortSc1, kPortReset);
    outw(kPortSc1, 0);
    outw(kPortSc1, kPortEnabled | kPortConnectChange);
    outw(kUsbIntr, 0x000F);
    outw(kUsbCmd, kCmdRun);
  }

 private:
  std::vector<uint8_t> ram_ = std::vector<uint8_t>(kRamSize);
  GuestMemory memory_;
  std::unique_ptr<Uhci> uhci_;
  bool irq_ = false;
  unsigned irq_changes_ = 0;
};

}  // namespace amber::hv::usb::test
