// SPDX-License-Identifier: GPL-2.0-or-later
// The two register files of VirtioPciTransport (declared in pci_transport.h):
// the modern common configuration structure (spec 4.1.4.3) and the legacy
// 0.9.5 I/O header, plus the device-status state machine both share.
//
// Thread-safety: every function here runs with VirtioPciTransport::mutex_ held.
#include <cstring>

#include "hv/virtio/pci_transport.h"
#include "hv/virtio/virtio_spec.h"

namespace amber::hv::virtio {
namespace {

void put(uint8_t* regs, unsigned offset, uint64_t value, unsigned size) {
  std::memcpy(regs + offset, &value, size);
}

uint32_t get(const uint8_t* regs, uint64_t offset, unsigned size) {
  uint32_t value = 0;
  std::memcpy(&value, regs + offset, size);
  return value;
}

// Legacy rings: avail follows the descriptors, used starts on the next
// 4 KiB boundary after avail (including its used_event slot).
QueueLayout legacy_layout(uint64_t desc) {
  const uint64_t n = kMaxQueueSize;
  const uint64_t avail = desc + n * kDescriptorSize;
  const uint64_t used = (avail + 6 + 2 * n + kLegacyRingAlign - 1) & ~(kLegacyRingAlign - 1);
  return {static_cast<uint16_t>(n), desc, avail, used};
}

}  // namespace

uint32_t VirtioPciTransport::common_read(uint64_t offset, unsigned size) {
  if (offset >= kCommonSize || size > 4 || offset + size > kCommonSize) return 0;
  uint8_t regs[kCommonSize] = {};
  const uint64_t features = offered_features(VirtioInterface::kModern);
  put(regs, kCommonDeviceFeatureSelect, device_feature_select_, 4);
  // Feature words beyond the second are all zero.
  if (device_feature_select_ < 2)
    put(regs, kCommonDeviceFeature, features >> (32 * device_feature_select_), 4);
  put(regs, kCommonDriverFeatureSelect, driver_feature_select_, 4);
  if (driver_feature_select_ < 2)
    put(regs, kCommonDriverFeature, driver_features_ >> (32 * driver_feature_select_), 4);
  put(regs, kCommonMsixConfig, config_vector_.load(), 2);
  put(regs, kCommonNumQueues, queues_.size(), 2);
  put(regs, kCommonDeviceStatus, status_.load(), 1);
  put(regs, kCommonConfigGeneration, generation_.load(), 1);
  put(regs, kCommonQueueSelect, queue_select_, 2);
  // queue_select is guest-written: only a valid index reaches queues_.
  if (queue_select_ < queues_.size()) {
    const QueueRegs& q = *queues_[queue_select_];
    put(regs, kCommonQueueSize, q.size, 2);
    put(regs, kCommonQueueMsixVector, q.vector.load(), 2);
    put(regs, kCommonQueueEnable, q.enabled ? 1 : 0, 2);
    put(regs, kCommonQueueNotifyOff, queue_select_, 2);
    put(regs, kCommonQueueDesc, q.desc, 8);
    put(regs, kCommonQueueDriver, q.driver, 8);
    put(regs, kCommonQueueDevice, q.device, 8);
  }
  return get(regs, offset, size);
}

void VirtioPciTransport::common_write(uint64_t offset, unsigned size, uint32_t value) {
  QueueRegs* q = queue_select_ < queues_.size() ? queues_[queue_select_].get() : nullptr;
  // Queue registers may not change while the device runs (spec 4.1.4.3.2).
  const bool live = (status_.load() & kStatusDriverOk) != 0;
  auto set_half = [&](uint64_t& field, unsigned half) {
    if (live || size != 4) return;
    const uint64_t mask = 0xFFFFFFFFull << (32 * half);
    field = (field & ~mask) | (uint64_t{value} << (32 * half));
  };
  switch (offset) {
    case kCommonDeviceFeatureSelect:
      device_feature_select_ = value;
      break;
    case kCommonDriverFeatureSelect:
      driver_feature_select_ = value;
      break;
    case kCommonDriverFeature:
      if (driver_feature_select_ < 2 && (status_.load() & kStatusFeaturesOk) == 0) {
        const unsigned shift = 32 * driver_feature_select_;
        driver_features_ =
            (driver_features_ & ~(0xFFFFFFFFull << shift)) | (uint64_t{value} << shift);
      }
      break;
    case kCommonMsixConfig:
      // A vector the table does not have reads back as NO_VECTOR (4.1.5.1.2).
      config_vector_ = (value & 0xFFFF) < msix_.size() ? static_cast<uint16_t>(value) : kNoVector;
      break;
    case kCommonDeviceStatus:
      write_status(static_cast<uint8_t>(value));
      break;
    case kCommonQueueSelect:
      queue_select_ = static_cast<uint16_t>(value);
      break;
    case kCommonQueueSize:
      // Validated (power of two, <= 256) when the queue is activated.
      if (q != nullptr && !live) q->size = static_cast<uint16_t>(value);
      break;
    case kCommonQueueMsixVector:
      if (q != nullptr)
        q->vector = (value & 0xFFFF) < msix_.size() ? static_cast<uint16_t>(value) : kNoVector;
      break;
    case kCommonQueueEnable:
      if (q != nullptr && !live && (value & 1)) q->enabled = true;
      break;
    case kCommonQueueDesc:
      if (q) set_half(q->desc, 0);
      break;
    case kCommonQueueDesc + 4:
      if (q) set_half(q->desc, 1);
      break;
    case kCommonQueueDriver:
      if (q) set_half(q->driver, 0);
      break;
    case kCommonQueueDriver + 4:
      if (q) set_half(q->driver, 1);
      break;
    case kCommonQueueDevice:
      if (q) set_half(q->device, 0);
      break;
    case kCommonQueueDevice + 4:
      if (q) set_half(q->device, 1);
      break;
    default:
      break;  // read-only or reserved
  }
}

uint32_t VirtioPciTransport::legacy_read(uint64_t offset, unsigned size) {
  const bool msix = msix_.enabled();
  const uint64_t config_base = msix ? kLegacyDeviceConfigMsix : kLegacyDeviceConfig;
  uint8_t regs[kLegacyBarSize] = {};
  put(regs, kLegacyHostFeatures, offered_features(VirtioInterface::kLegacy),
      4);  // 32 bits: no VERSION_1
  put(regs, kLegacyGuestFeatures, driver_features_, 4);
  if (queue_select_ < queues_.size()) {
    const QueueRegs& q = *queues_[queue_select_];
    put(regs, kLegacyQueuePfn, q.enabled ? q.desc >> kLegacyPageShift : 0, 4);
    put(regs, kLegacyQueueSize, kMaxQueueSize, 2);
    if (msix) put(regs, kLegacyQueueVector, q.vector.load(), 2);
  }
  put(regs, kLegacyQueueSelect, queue_select_, 2);
  put(regs, kLegacyStatus, status_.load(), 1);
  if (msix) put(regs, kLegacyConfigVector, config_vector_.load(), 2);
  // Reading ISR clears it (and deasserts INTx): only when the access covers it.
  if (offset <= kLegacyIsr && offset + size > kLegacyIsr) regs[kLegacyIsr] = read_isr();
  if (offset + size > config_base) {
    device_->read_config(0, std::span(regs + config_base, kLegacyBarSize - config_base));
  }
  return offset + size <= kLegacyBarSize ? get(regs, offset, size) : 0;
}

void VirtioPciTransport::legacy_write(uint64_t offset, unsigned size, uint32_t value) {
  const bool msix = msix_.enabled();
  const uint64_t config_base = msix ? kLegacyDeviceConfigMsix : kLegacyDeviceConfig;
  if (offset >= config_base) {
    uint8_t bytes[4];
    std::memcpy(bytes, &value, 4);
    device_->write_config(offset - config_base, std::span(bytes, size));
    return;
  }
  QueueRegs* q = queue_select_ < queues_.size() ? queues_[queue_select_].get() : nullptr;
  const bool live = (status_.load() & kStatusDriverOk) != 0;
  switch (offset) {
    case kLegacyGuestFeatures:
      // Legacy drivers see and ack only the low 32 offered bits.
      if (!live)
        driver_features_ = value & offered_features(VirtioInterface::kLegacy) & 0xFFFFFFFFull;
      break;
    case kLegacyQueuePfn:
      if (q == nullptr || live) break;
      if (value == 0) {
        q->enabled = false;
        q->desc = q->driver = q->device = 0;
      } else {
        // PFN is 32 bits, so the ring address fits in 44 bits: no overflow.
        const QueueLayout layout = legacy_layout(uint64_t{value} << kLegacyPageShift);
        q->size = layout.size;
        q->desc = layout.desc;
        q->driver = layout.avail;
        q->device = layout.used;
        q->enabled = true;
      }
      break;
    case kLegacyQueueSelect:
      queue_select_ = static_cast<uint16_t>(value);
      break;
    case kLegacyQueueNotify:
      notify(value & 0xFFFF);
      break;
    case kLegacyStatus:
      write_status(static_cast<uint8_t>(value));
      break;
    case kLegacyConfigVector:
      if (msix)
        config_vector_ = (value & 0xFFFF) < msix_.size() ? static_cast<uint16_t>(value) : kNoVector;
      break;
    case kLegacyQueueVector:
      if (msix && q != nullptr)
        q->vector = (value & 0xFFFF) < msix_.size() ? static_cast<uint16_t>(value) : kNoVector;
      break;
    default:
      break;
  }
}

void VirtioPciTransport::write_status(uint8_t value) {
  if (value == 0) {
    reset_virtio_locked();
    return;
  }
  const bool features_acceptable =
      (driver_features_ & ~offered_features(VirtioInterface::kModern)) == 0;
  uint8_t old = status_.load();
  uint8_t next;
  // CAS: an iothread may set NEEDS_RESET concurrently; never lose it.
  do {
    next = static_cast<uint8_t>(value | (old & kStatusNeedsReset));
    // FEATURES_OK sticks only if the driver acked nothing we did not offer.
    if ((next & kStatusFeaturesOk) && !(old & kStatusFeaturesOk) && !features_acceptable)
      next = static_cast<uint8_t>(next & ~kStatusFeaturesOk);
  } while (!status_.compare_exchange_weak(old, next));
  if ((next & kStatusDriverOk) && !(old & kStatusDriverOk) && !(next & kStatusFailed)) {
    // DRIVER_OK dropped and set again without a reset (status 0): the
    // driver may not clear status bits (spec 2.1.2), and re-activating
    // would reset rings under their running iothreads.
    if (device_->active()) {
      needs_reset(Error(ErrorKind::kInvalidArgument, "DRIVER_OK set again without a reset"));
      return;
    }
    std::vector<QueueLayout> layouts;
    for (const auto& q : queues_)
      layouts.push_back(q->enabled ? QueueLayout{q->size, q->desc, q->driver, q->device}
                                   : QueueLayout{});
    if (auto r = device_->activate(driver_features_, layouts); !r.ok()) needs_reset(r.error());
  }
}

void VirtioPciTransport::reset_virtio_locked() {
  device_->reset();  // joins the iothreads: no request is in flight after this
  status_ = 0;
  device_feature_select_ = driver_feature_select_ = 0;
  driver_features_ = 0;
  queue_select_ = 0;
  for (auto& q : queues_) {
    q->size = kMaxQueueSize;
    q->enabled = false;
    q->desc = q->driver = q->device = 0;
    q->vector = kNoVector;
  }
  config_vector_ = kNoVector;
  read_isr();  // clears ISR and deasserts INTx
}

void VirtioPciTransport::notify(uint64_t queue) {
  // `queue` comes from the guest (register value or doorbell offset).
  if (queue < queues_.size() && device_->active()) device_->kick(static_cast<unsigned>(queue));
}

}  // namespace amber::hv::virtio
