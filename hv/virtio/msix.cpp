#include "hv/virtio/msix.h"

#include <cstring>

namespace amber::hv::virtio {
namespace {

constexpr unsigned kVectorControl = 12;  // entry offset; bit 0 = mask
constexpr uint32_t kVectorMasked = 1;

}  // namespace

MsixTable::MsixTable(unsigned vectors, InterruptController& interrupts)
    : vectors_(vectors), interrupts_(interrupts) {
  reset();
}

void MsixTable::reset() {
  std::lock_guard lock(mutex_);
  table_.assign(vectors_ * kEntrySize, 0);
  for (unsigned v = 0; v < vectors_; ++v) table_[v * kEntrySize + kVectorControl] = kVectorMasked;
  pending_.assign(vectors_, 0);
  enabled_ = false;
  function_masked_ = false;
}

void MsixTable::set_control(bool enabled, bool function_masked) {
  std::lock_guard lock(mutex_);
  enabled_ = enabled;
  function_masked_ = function_masked;
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
  // A failed injection (bad address programmed by the guest) is the
  // guest's problem; nothing sensible to do on our side.
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
