// SPDX-License-Identifier: GPL-2.0-or-later
// Unit tests of MsixTable's delivery: through an irqfd when the controller
// offers one (re-routed when the guest reprograms the entry, nothing written
// while masked, released on reset), else through signal_msi().
#include "hv/virtio/msix.h"

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>
#include <map>

namespace amber::hv::virtio {
namespace {

// A controller with working irqfds: real eventfds, routes recorded.
class IrqfdInterrupts final : public InterruptController {
 public:
  ~IrqfdInterrupts() override {
    for (const auto& [fd, message] : routes) close(fd);
  }
  Result<void> signal_msi(const MsiMessage&) override {
    ++signalled;
    return ok();
  }
  Result<void> set_intx(unsigned, unsigned, bool) override { return ok(); }
  Result<int> msi_irqfd(const MsiMessage& message) override {
    const int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) return Error::from_errno(errno, "eventfd");
    routes[fd] = message;
    return fd;
  }
  Result<void> update_msi_irqfd(int fd, const MsiMessage& message) override {
    routes.at(fd) = message;
    ++updates;
    return ok();
  }
  Result<void> release_msi_irqfd(int fd) override {
    routes.erase(fd);
    close(fd);
    ++released;
    return ok();
  }
  // Reads (and clears) the counter of the only irqfd.
  uint64_t take_count() {
    EXPECT_EQ(routes.size(), 1u);
    uint64_t count = 0;
    if (read(routes.begin()->first, &count, sizeof count) != sizeof count) return 0;
    return count;
  }
  std::map<int, MsiMessage> routes;
  int signalled = 0;
  int updates = 0;
  int released = 0;
};

// signal_msi only (the InterruptController defaults refuse irqfds).
class PlainInterrupts final : public InterruptController {
 public:
  Result<void> signal_msi(const MsiMessage& message) override {
    last = message;
    ++signalled;
    return ok();
  }
  Result<void> set_intx(unsigned, unsigned, bool) override { return ok(); }
  MsiMessage last;
  int signalled = 0;
};

void program(MsixTable& table, unsigned vector, uint32_t data, bool masked) {
  uint8_t entry[16] = {};
  const uint64_t address = 0xFEE00000;
  std::memcpy(entry, &address, 8);
  std::memcpy(entry + 8, &data, 4);
  entry[12] = masked ? 1 : 0;
  table.write(vector * MsixTable::kEntrySize, entry);
}

TEST(MsixTest, DeliversThroughIrqfdAndReroutesOnReprogram) {
  IrqfdInterrupts irq;
  MsixTable table(2, irq);
  table.set_control(MsixEnable::kEnabled, MsixFunctionMask::kUnmasked);
  program(table, 1, 0x41, false);
  table.fire(1);
  table.fire(1);
  EXPECT_EQ(irq.signalled, 0);
  ASSERT_EQ(irq.routes.size(), 1u);
  EXPECT_EQ(irq.routes.begin()->second.data, 0x41u);
  EXPECT_EQ(irq.take_count(), 2u);
  // The guest moves the interrupt: the same fd is re-routed.
  program(table, 1, 0x42, false);
  table.fire(1);
  EXPECT_EQ(irq.updates, 1);
  EXPECT_EQ(irq.routes.begin()->second.data, 0x42u);
  EXPECT_EQ(irq.take_count(), 1u);
  // Masked: pending only, nothing reaches the irqfd until unmasked.
  program(table, 1, 0x42, true);
  table.fire(1);
  EXPECT_EQ(irq.take_count(), 0u);
  program(table, 1, 0x42, false);
  EXPECT_EQ(irq.take_count(), 1u);
  table.reset();
  EXPECT_EQ(irq.released, 1);
  EXPECT_TRUE(irq.routes.empty());
}

TEST(MsixTest, FallsBackToSignalMsiWithoutIrqfds) {
  PlainInterrupts irq;
  MsixTable table(2, irq);
  table.set_control(MsixEnable::kEnabled, MsixFunctionMask::kUnmasked);
  program(table, 0, 0x30, false);
  table.fire(0);
  table.fire(0);
  EXPECT_EQ(irq.signalled, 2);
  EXPECT_EQ(irq.last.data, 0x30u);
  // Disabled MSI-X or an out-of-range vector: nothing.
  table.fire(7);
  table.set_control(MsixEnable::kDisabled, MsixFunctionMask::kUnmasked);
  table.fire(0);
  EXPECT_EQ(irq.signalled, 2);
}

}  // namespace
}  // namespace amber::hv::virtio
