// Interfaces a device uses to reach the rest of the VM: interrupts and
// ioeventfd registration. Implemented by the VM builder on top of KVM
// (irqfd, KVM_SIGNAL_MSI, KVM_IRQ_LINE, KVM_IOEVENTFD) and by fakes in unit
// tests.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <optional>

#include "common/result.h"

namespace amber::hv {

struct MsiMessage {
  uint64_t address = 0;
  uint32_t data = 0;
};

class InterruptController {
 public:
  virtual ~InterruptController() = default;
  // Delivers one MSI (KVM_SIGNAL_MSI).
  virtual Result<void> signal_msi(const MsiMessage& message) = 0;
  // Drives the level of a legacy INTx pin of the device in `slot`.
  virtual Result<void> set_intx(unsigned slot, unsigned pin, bool level) = 0;
};

enum class IoSpace { kPio, kMmio };

class IoEventRegistry {
 public:
  virtual ~IoEventRegistry() = default;
  // Makes guest writes of `length` bytes to `address` (matching `datamatch`
  // when given) signal `eventfd` instead of exiting to a vCPU thread.
  virtual Result<void> add_ioeventfd(IoSpace space, uint64_t address, unsigned length,
                                     int eventfd, std::optional<uint64_t> datamatch) = 0;
  virtual Result<void> remove_ioeventfd(IoSpace space, uint64_t address, unsigned length,
                                        int eventfd, std::optional<uint64_t> datamatch) = 0;
};

}  // namespace amber::hv
