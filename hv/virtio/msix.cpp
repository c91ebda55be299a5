// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/virtio/msix.h"

#include <sys/eventfd.h>

#include <cstring>

namespace amber::hv::virtio {
namespace {

constexpr unsigned kVectorControl = 12;  // entry offset; bit 0 = mask
constexpr uint32_t kVectorMasked = 1;

}  // namespace

MsixTable::MsixTable(unsigned vectors, InterruptController& interrupts)
    : vectors_(vectors), interrupts_(interrupts), irqfds_(vectors) {
  reset();
}

MsixTable::~MsixTable() {
  std::lock_guard lock(mutex_);
  release_irqfds_locked();
}

void MsixTable::release_irqfds_locked() {
  for (Irqfd& irqfd : irqfds_) {
    if (irqfd.fd >= 0) {
      [[maybe_unused]] auto r = interrupts_.release_msi_irqfd(irqfd.fd);
    }
    irqfd = {};
  }
}

void MsixTable::reset() {
  std::lock_guard lock(mutex_);
  release_irqfds_locked();
  table_.assign(vectors_ * kEntrySize, 0);
  for (unsigned v = 0; v < vectors_; ++v) table_[v * kEntrySize + kVectorControl] = kVectorMasked;
  pending_.assign(vectors_, 0);
  enabled_ = false;
  function_masked_ = false;
}

void MsixTable::set_control(MsixEnable enable, MsixFunctionMask function_mask) {
  std::lock_guard lock(mutex_);
  enabled_ = enable == MsixEnable::kEnabled;
  function_masked_ = function_mask == MsixFunctionMask::kMasked;
  deliver_unmasked_pending_locked();
}

bool MsixTable::enabled() const {
  std::lock_guard lock(mutex_);
  return enabled_;
}

bool MsixTable::masked_locked(unsigned vector) const {
  return function_masked_ || (table_[vector * kEntrySize + kVectorControl] & kVectorMasked) != 0;
}

void MsixTable::deliver_locked(unsigned vector) {
  const uint8_t* entry = table_.data() + vector * kEntrySize;
  MsiMessage message;
  std::memcpy(&message.address, entry, 8);
  std::memcpy(&message.data, entry + 8, 4);
  Irqfd& irqfd = irqfds_[vector];
  if (irqfd.fd < 0 && !irqfds_unsupported_) {
    if (auto fd = interrupts_.msi_irqfd(message); fd.ok()) {
      irqfd = {*fd, message};
    } else {
      irqfds_unsupported_ = true;
    }
  }
  if (irqfd.fd >= 0 &&
      (irqfd.message.address != message.address || irqfd.message.data != message.data)) {
    // The guest reprogrammed the entry: re-route (rare; an ioctl).
    if (interrupts_.update_msi_irqfd(irqfd.fd, message).ok()) {
      irqfd.message = message;
    } else {
      [[maybe_unused]] auto r = interrupts_.release_msi_irqfd(irqfd.fd);
      irqfd = {};
    }
  }
  // An eventfd counter cannot overflow from single increments, and the
  // message came from the guest: a bad one is the guest's problem either
  // way, nothing sensible to do on our side.
  if (irqfd.fd >= 0 && eventfd_write(irqfd.fd, 1) == 0) return;
  [[maybe_unused]] auto r = interrupts_.signal_msi(message);
}

void MsixTable::deliver_unmasked_pending_locked() {
  if (!enabled_) return;
  for (unsigned v = 0; v < vectors_; ++v) {
    if (pending_[v] && !masked_locked(v)) {
      pending_[v] = 0;
      deliver_locked(v);
    }
  }
}

void MsixTable::read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mutex_);
  // offset/size are guest-controlled: each byte is bounds-checked.
  for (size_t i = 0; i < data.size(); ++i) {
    const uint64_t at = offset + i;
    if (at < table_.size()) {
      data[i] = table_[at];
    } else if (at >= kPbaOffset && at - kPbaOffset < (vectors_ + 7) / 8) {
      uint8_t bits = 0;
      const uint64_t first = (at - kPbaOffset) * 8;
      for (unsigned b = 0; b < 8 && first + b < vectors_; ++b)
        bits = static_cast<uint8_t>(bits | (pending_[first + b] << b));
      data[i] = bits;
    } else {
      data[i] = 0;
    }
  }
}

void MsixTable::write(uint64_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mutex_);
  // Only the table is writable (the PBA is read-only); bounds per byte.
  for (size_t i = 0; i < data.size(); ++i) {
    const uint64_t at = offset + i;
    if (at < table_.size()) table_[at] = data[i];
  }
  deliver_unmasked_pending_locked();
}

void MsixTable::fire(uint16_t vector) {
  std::lock_guard lock(mutex_);
  if (vector >= vectors_ || !enabled_) return;
  if (masked_locked(vector)) {
    pending_[vector] = 1;
    return;
  }
  deliver_locked(vector);
}

}  // namespace amber::hv::virtio
