// SPDX-License-Identifier: GPL-2.0-or-later
// An EHCI controller with its three companion UHCIs over 1 MiB of
// synthetic guest RAM, helpers to lay out QHs and qTDs, and register
// access as a guest does it. Single-threaded: the tests drive frames with
// Ehci::run_frames() / Uhci::run_frames().
#pragma once

#include <cstring>
#include <memory>
#include <vector>

#include "hv/memory/guest_memory.h"
#include "hv/usb/ehci.h"
#include "hv/usb/hid_descriptors.h"
#include "hv/usb/hid_device.h"
#include "hv/usb/uhci.h"

namespace amber::hv::usb::test {

inline constexpr uint32_t kEhciRamSize = 1u << 20;
inline constexpr uint32_t kEhciFrameList = 0x10000;
// qTD token PID codes and bits.
inline constexpr uint32_t kPidOut = 0, kPidIn = 1, kPidSetup = 2;
inline constexpr uint32_t kQtdActive = 1u << 7, kQtdHalted = 1u << 6, kQtdBabble = 1u << 4,
                          kQtdXactErr = 1u << 3, kQtdIoc = 1u << 15;
inline constexpr uint32_t kQhTypeLink = 1u << 1;

inline uint32_t qtd_token(uint32_t pid, unsigned bytes, bool ioc = false, unsigned toggle = 0) {
  return kQtdActive | pid << 8 | 3u << 10 | (ioc ? kQtdIoc : 0) | bytes << 16 | toggle << 31;
}
inline unsigned qtd_bytes(uint32_t token) {
  return (token >> 16) & 0x7FFF;
}

// A full-speed-only device for hand-over tests: the tablet's identity
// without its high-speed descriptors, no class requests, NAKs on data.
class FullSpeedDevice : public ControlPipeDevice {
 public:
  FullSpeedDevice() : ControlPipeDevice(full_speed_only()) {}

 protected:
  int handle_class_request(const SetupPacket&, std::span<uint8_t>) override { return -1; }
  UsbResult handle_data(UsbPid, unsigned, std::span<uint8_t>) override {
    return {UsbStatus::kNak, 0};
  }

 private:
  static UsbDescriptors full_speed_only() {
    UsbDescriptors d = hid_descriptors(HidKind::kTablet);
    d.high_device.clear();
    d.high_configuration.clear();
    return d;
  }
};

class EhciHarness {
 public:
  EhciHarness() {
    memory_.add_region(0, kEhciRamSize, ram_.data());
    const UhciModel models[] = {UhciModel::kIch9Uhci1, UhciModel::kIch9Uhci2,
                                UhciModel::kIch9Uhci3};
    for (unsigned i = 0; i < kEhciCompanions; ++i) {
      uhci_[i] = std::make_unique<Uhci>(memory_, nullptr, models[i]);
      uhci_[i]->config_write(0x04, 2, 0x0005);
    }
    ehci_ = std::make_unique<Ehci>(memory_, [this](bool level) { irq_ = level; });
    for (unsigned i = 0; i < kEhciCompanions; ++i) ehci_->set_companion(i, uhci_[i].get());
    // Memory decode and bus master on, as a driver sets them.
    ehci_->config_write(0x04, 2, 0x0006);
  }

  Ehci& ehci() { return *ehci_; }
  Uhci& uhci(unsigned i) { return *uhci_[i]; }
  bool irq() const { return irq_; }

  void write(unsigned offset, uint32_t value) {
    uint8_t bytes[4];
    std::memcpy(bytes, &value, 4);
    ehci_->bar_write(kEhciBar, offset, bytes);
  }
  uint32_t read(unsigned offset) {
    uint8_t bytes[4] = {};
    ehci_->bar_read(kEhciBar, offset, bytes);
    uint32_t value;
    std::memcpy(&value, bytes, 4);
    return value;
  }
  uint32_t portsc(unsigned port) { return read(kEhciPortSc + 4 * port); }
  uint16_t uhci_portsc(unsigned companion, unsigned port) {
    uint8_t bytes[2] = {};
    uhci_[companion]->bar_read(kUhciBar, 0x10 + 2 * port, bytes);
    return static_cast<uint16_t>(bytes[0] | bytes[1] << 8);
  }

  void put32(uint32_t address, uint32_t value) { std::memcpy(&ram_[address], &value, 4); }
  uint32_t get32(uint32_t address) const {
    uint32_t value;
    std::memcpy(&value, &ram_[address], 4);
    return value;
  }
  void put_bytes(uint32_t address, const std::vector<uint8_t>& bytes) {
    std::memcpy(&ram_[address], bytes.data(), bytes.size());
  }
  std::vector<uint8_t> bytes(uint32_t address, size_t length) const {
    return std::vector<uint8_t>(ram_.begin() + address, ram_.begin() + address + length);
  }
  std::vector<uint8_t>& ram() { return ram_; }

  // A QH: horizontal link, device address / endpoint / high speed /
  // max packet (DTC for control), S-mask, first qTD; the overlay empty.
  void qh(uint32_t address, uint32_t link, unsigned device, unsigned endpoint, uint32_t first_qtd,
          bool control = true, uint8_t smask = 0) {
    put32(address, link);
    put32(address + 4, device | endpoint << 8 | 2u << 12 | (control ? 1u << 14 : 0) |
                           (control ? 64u : 8u) << 16);
    put32(address + 8, 1u << 30 | smask);
    put32(address + 12, 0);
    put32(address + 16, first_qtd);
    put32(address + 20, 1);
    for (uint32_t i = 24; i < 48; i += 4) put32(address + i, 0);
  }
  void qtd(uint32_t address, uint32_t next, uint32_t token, uint32_t buffer, uint32_t alt = 1) {
    put32(address, next);
    put32(address + 4, alt);
    put32(address + 8, token);
    put32(address + 12, buffer);
    for (uint32_t i = 1; i < 5; ++i) put32(address + 12 + 4 * i, (buffer & ~0xFFFu) + 0x1000 * i);
  }
  void all_frames(uint32_t link) {
    for (uint32_t i = 0; i < 1024; ++i) put32(kEhciFrameList + 4 * i, link);
  }
  // The guest takes every port (CONFIGFLAG) and resets `port`.
  void take_and_reset(unsigned port) {
    write(kEhciConfigFlag, 1);
    write(kEhciPortSc + 4 * port, kEhciPortPower | kEhciPortReset);
    write(kEhciPortSc + 4 * port, kEhciPortPower);
  }
  void run(uint32_t async_qh, bool periodic = false) {
    write(kEhciUsbIntr, 0x3F);
    write(kEhciAsyncListAddr, async_qh);
    write(kEhciPeriodicListBase, kEhciFrameList);
    write(kEhciUsbCmd, kEhciCmdRun | (async_qh != 0 ? kEhciCmdAsync : 0) |
                           (periodic ? kEhciCmdPeriodic : 0) | 8u << 16);
  }

 private:
  std::vector<uint8_t> ram_ = std::vector<uint8_t>(kEhciRamSize);
  GuestMemory memory_;
  std::unique_ptr<Uhci> uhci_[kEhciCompanions];
  std::unique_ptr<Ehci> ehci_;
  bool irq_ = false;
};

}  // namespace amber::hv::usb::test
