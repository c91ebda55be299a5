// SPDX-License-Identifier: GPL-2.0-or-later
// MsixTable: the MSI-X vector table and pending-bit array of one PCI
// function, and delivery of its vectors through InterruptController.
//
// The table lives in a memory BAR (the transport decides where: Amber puts
// it in BAR1 like QEMU, table at 0, PBA at kPbaOffset). A vector that fires
// while masked (per entry, or the function mask) sets its pending bit and
// is delivered when unmasked, as PCI requires.
//
// Delivery: each vector gets an MSI irqfd from the InterruptController the
// first time it fires (re-targeted when the guest has reprogrammed the
// entry since), so an interrupt costs one eventfd write instead of a
// KVM_SIGNAL_MSI ioctl; where irqfds are unsupported (test fakes) or fail,
// signal_msi() is used. Masking stays ours: a masked vector only sets its
// pending bit and nothing is written to its irqfd.
//
// Thread-safety: every method may be called from any thread (vCPU threads
// for BAR and capability accesses, iothreads for fire()); one mutex per
// table guards entries and pending bits.
#pragma once

#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "hv/pci/interrupts.h"

namespace amber::hv::virtio {

// The two mode bits of the MSI-X capability's Message Control register.
enum class MsixEnable { kDisabled, kEnabled };
enum class MsixFunctionMask { kUnmasked, kMasked };

class MsixTable {
 public:
  // Table at BAR offset 0; the PBA follows at this offset (QEMU's layout;
  // room for 128 vectors of 16 bytes before it).
  static constexpr uint64_t kPbaOffset = 0x800;
  static constexpr uint64_t kEntrySize = 16;

  MsixTable(unsigned vectors, InterruptController& interrupts);
  ~MsixTable();
  MsixTable(const MsixTable&) = delete;
  MsixTable& operator=(const MsixTable&) = delete;

  unsigned size() const { return vectors_; }
  // From the capability's Message Control register.
  void set_control(MsixEnable enable, MsixFunctionMask function_mask);
  bool enabled() const;

  void read(uint64_t offset, std::span<uint8_t> data);
  void write(uint64_t offset, std::span<const uint8_t> data);

  // Signals `vector` (or marks it pending while masked). Out-of-range
  // vectors are ignored: the guest programs vector numbers.
  void fire(uint16_t vector);
  // PCI reset: every entry masked and zero, nothing pending, disabled.
  void reset();

 private:
  bool masked_locked(unsigned vector) const;
  void deliver_locked(unsigned vector);
  void deliver_unmasked_pending_locked();
  void release_irqfds_locked();

  // One vector's irqfd and the message it is routed to.
  struct Irqfd {
    int fd = -1;
    MsiMessage message;
  };

  const unsigned vectors_;
  InterruptController& interrupts_;
  mutable std::mutex mutex_;
  std::vector<uint8_t> table_;    // vectors_ * 16 bytes, little-endian entries
  std::vector<uint8_t> pending_;  // one byte per vector (0/1)
  bool enabled_ = false;
  bool function_masked_ = false;
  std::vector<Irqfd> irqfds_;        // per vector
  bool irqfds_unsupported_ = false;  // the controller refused once: stop asking
};

}  // namespace amber::hv::virtio
