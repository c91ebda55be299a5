// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/pci/pci_config.h"

#include <gtest/gtest.h>

#include <vector>

#include "hv/bus/io_bus.h"
#include "hv/pci/host_bridge.h"

namespace amber::hv::pci {
namespace {

class TestDevice : public PciConfigSpace {
 public:
  TestDevice() : PciConfigSpace({0x1af4, 0x1001, 0, 0x010000, 0x1af4, 0x0002, 0}) {
    EXPECT_TRUE(set_bar(0, BarKind::kIo, 0x40).ok());
    EXPECT_TRUE(set_bar(1, BarKind::kMemory32, 0x1000).ok());
    EXPECT_TRUE(set_bar(4, BarKind::kMemory64, 0x4000, Prefetch::kYes).ok());
    set_interrupt_pin(1);
    const uint8_t body[] = {0x01, 0x00, 0xAA, 0xBB};
    const uint8_t mask[] = {0xFF, 0x00, 0x00, 0x00};
    first_cap = *add_capability(kCapabilityVendor, body, mask);
    second_cap = *add_capability(kCapabilityMsix, std::vector<uint8_t>(10, 0));
  }
  void bar_read(unsigned, uint64_t, std::span<uint8_t> data) override {
    std::fill(data.begin(), data.end(), 0x5A);
  }
  void bar_write(unsigned, uint64_t, std::span<const uint8_t>) override {}
  void bar_remapped(unsigned index, const BarInfo&) override { remapped.push_back(index); }
  void capability_written(unsigned cap, unsigned offset, unsigned, uint32_t value) override {
    written_cap = cap;
    written_offset = offset;
    written_value = value;
  }
  unsigned first_cap = 0, second_cap = 0;
  unsigned written_cap = 0, written_offset = 0;
  uint32_t written_value = 0;
  std::vector<unsigned> remapped;
};

TEST(PciConfig, IdentityAndReadOnlyHeader) {
  TestDevice d;
  EXPECT_EQ(d.config_read(0, 4), 0x10011af4u);
  EXPECT_EQ(d.config_read(0x08, 4), 0x01000000u);  // class 010000 rev 0
  EXPECT_EQ(d.config_read(0x2C, 4), 0x00021af4u);
  d.config_write(0, 4, 0xFFFFFFFF);
  EXPECT_EQ(d.config_read(0, 4), 0x10011af4u);
  EXPECT_EQ(d.config_read(0x3D, 1), 1u);
  d.config_write(0x3C, 1, 11);
  EXPECT_EQ(d.config_read(0x3C, 1), 11u);
  EXPECT_EQ(d.config_read(0x30, 4), 0u);  // no ROM BAR
}

TEST(PciConfig, BarSizing) {
  TestDevice d;
  d.config_write(0x10, 4, 0xFFFFFFFF);
  EXPECT_EQ(d.config_read(0x10, 4), 0xFFFFFFC1u);  // 64 bytes of I/O
  d.config_write(0x14, 4, 0xFFFFFFFF);
  EXPECT_EQ(d.config_read(0x14, 4), 0xFFFFF000u);  // 4 KiB memory
  d.config_write(0x20, 4, 0xFFFFFFFF);
  d.config_write(0x24, 4, 0xFFFFFFFF);
  EXPECT_EQ(d.config_read(0x20, 4), 0xFFFFC00Cu);  // 16 KiB, 64-bit, prefetchable
  EXPECT_EQ(d.config_read(0x24, 4), 0xFFFFFFFFu);
  d.config_write(0x18, 4, 0xFFFFFFFF);
  EXPECT_EQ(d.config_read(0x18, 4), 0u);  // unimplemented BAR
  // Sizing patterns are never "enabled" mappings.
  d.config_write(kCommand, 2, kCommandIo | kCommandMemory);
  EXPECT_FALSE(d.bar(0).enabled);
  EXPECT_FALSE(d.bar(1).enabled);
}

TEST(PciConfig, BarEnableFollowsCommand) {
  TestDevice d;
  d.config_write(0x10, 4, 0xC001);
  d.config_write(0x14, 4, 0xFEBFF000);
  d.config_write(0x20, 4, 0x00000000);
  d.config_write(0x24, 4, 0x00000008);  // 32 GiB
  EXPECT_FALSE(d.bar(0).enabled);
  d.config_write(kCommand, 2, kCommandIo);
  EXPECT_TRUE(d.bar(0).enabled);
  EXPECT_EQ(d.bar(0).address, 0xC000u);
  EXPECT_EQ(d.bar(0).size, 0x40u);
  EXPECT_FALSE(d.bar(1).enabled);
  d.config_write(kCommand, 2, kCommandIo | kCommandMemory);
  EXPECT_TRUE(d.bar(1).enabled);
  EXPECT_EQ(d.bar(4).address, 0x800000000ULL);
  EXPECT_TRUE(d.bar(4).enabled);
  EXPECT_EQ(d.bar(4).kind, BarKind::kMemory64);
  EXPECT_EQ(d.bar(5).size, 0u);  // upper half is not a BAR of its own
  // Byte writes to a BAR merge into the register.
  d.config_write(0x11, 1, 0xD0);
  EXPECT_EQ(d.bar(0).address, 0xD000u);
  d.reset();
  EXPECT_EQ(d.config_read(0x10, 4), 0x1u);
  EXPECT_EQ(d.command(), 0u);
}

TEST(PciConfig, CapabilityListAndHook) {
  TestDevice d;
  EXPECT_TRUE(d.config_read(kStatus, 2) & kStatusCapabilityList);
  EXPECT_EQ(d.config_read(kCapabilityPointer, 1), d.first_cap);
  EXPECT_EQ(d.first_cap, 0x40u);
  EXPECT_EQ(d.config_read(d.first_cap, 1), kCapabilityVendor);
  EXPECT_EQ(d.config_read(d.first_cap + 1, 1), d.second_cap);
  EXPECT_EQ(d.second_cap % 4, 0u);
  EXPECT_EQ(d.config_read(d.second_cap, 1), kCapabilityMsix);
  EXPECT_EQ(d.config_read(d.second_cap + 1, 1), 0u);  // end of list
  EXPECT_EQ(d.config_read(d.first_cap + 4, 2), 0xBBAAu);
  d.config_write(d.first_cap + 2, 4, 0x11223344);  // only the first body byte is writable
  EXPECT_EQ(d.config_read(d.first_cap + 2, 4), 0xBBAA0044u);
  EXPECT_EQ(d.written_cap, d.first_cap);
  EXPECT_EQ(d.written_offset, d.first_cap + 2);
  EXPECT_EQ(d.written_value, 0x11223344u);
}

TEST(HostBridge, LatchAndRouting) {
  bus::IoBus pio("pio"), mmio("mmio");
  HostBridge bridge(pio, mmio, nullptr);
  ASSERT_TRUE(pio.add(kConfigAddressPort, 8, &bridge, "bridge").ok());
  TestDevice d;
  ASSERT_TRUE(bridge.attach(3, 0, &d).ok());
  EXPECT_FALSE(bridge.attach(3, 0, &d).ok());
  auto out32 = [&](uint64_t port, uint32_t v) {
    uint8_t b[4] = {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8),
                    static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 24)};
    pio.write(port, b);
  };
  auto in32 = [&](uint64_t port) {
    uint8_t b[4];
    pio.read(port, b);
    return uint32_t{b[0]} | (uint32_t{b[1]} << 8) | (uint32_t{b[2]} << 16) | (uint32_t{b[3]} << 24);
  };
  out32(0xCF8, 0x80000000);
  EXPECT_EQ(in32(0xCF8), 0x80000000u);
  EXPECT_EQ(in32(0xCFC), 0xFFFFFFFFu);  // 00:00.0 absent here
  out32(0xCF8, 0x80001800);             // 00:03.0
  EXPECT_EQ(in32(0xCFC), 0x10011af4u);
  out32(0xCF8, 0x80001810);
  out32(0xCFC, 0xC001);
  out32(0xCF8, 0x80001804);
  out32(0xCFC, kCommandIo);
  EXPECT_EQ(d.remapped, std::vector<unsigned>{0});
  uint8_t byte[1];
  EXPECT_TRUE(pio.read(0xC010, byte));
  EXPECT_EQ(byte[0], 0x5A);
  // Moving the BAR moves the registration.
  out32(0xCF8, 0x80001810);
  out32(0xCFC, 0xD001);
  EXPECT_FALSE(pio.read(0xC010, byte));
  EXPECT_TRUE(pio.read(0xD010, byte));
  bridge.reset();
  EXPECT_FALSE(pio.read(0xD010, byte));
}

}  // namespace
}  // namespace amber::hv::pci
