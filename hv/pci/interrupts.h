// SPDX-License-Identifier: GPL-2.0-or-later
// Interfaces a device uses to reach the rest of the VM: interrupts and
// ioeventfd registration. Implemented by the VM builder on top of KVM
// (irqfd, KVM_SIGNAL_MSI, KVM_IRQ_LINE, KVM_IOEVENTFD) and by fakes in unit
// tests.
//
// MSI-X via irqfd (the fast path, no VMM thread in the loop): a device asks
// for an eventfd bound to one MSI message with msi_irqfd(); writing 1 to it
// (eventfd_write) makes KVM deliver that MSI. When the guest reprograms the
// vector, update_msi_irqfd() re-targets the same fd; release_msi_irqfd()
// unbinds and closes it. A masked vector: release it, or keep it and use
// signal_msi() yourself when it is unmasked (then set the pending bit
// yourself while masked). The defaults return kUnsupported so fakes in
// tests need not implement them; callers then fall back to signal_msi().
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

  // An eventfd (owned by the controller until release) that delivers
  // `message` when written.
  virtual Result<int> msi_irqfd(const MsiMessage& /*message*/) {
    return Error(ErrorKind::kUnsupported, "irqfd MSI delivery not available");
  }
  virtual Result<void> update_msi_irqfd(int /*eventfd*/, const MsiMessage& /*message*/) {
    return Error(ErrorKind::kUnsupported, "irqfd MSI delivery not available");
  }
  virtual Result<void> release_msi_irqfd(int /*eventfd*/) {
    return Error(ErrorKind::kUnsupported, "irqfd MSI delivery not available");
  }
};

enum class IoSpace { kPio, kMmio };

class IoEventRegistry {
 public:
  virtual ~IoEventRegistry() = default;
  // Makes guest writes of `length` bytes to `address` (matching `datamatch`
  // when given) signal `eventfd` instead of exiting to a vCPU thread.
  virtual Result<void> add_ioeventfd(IoSpace space, uint64_t address, unsigned length, int eventfd,
                                     std::optional<uint64_t> datamatch) = 0;
  virtual Result<void> remove_ioeventfd(IoSpace space, uint64_t address, unsigned length,
                                        int eventfd, std::optional<uint64_t> datamatch) = 0;
};

}  // namespace amber::hv
