// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/virtio/queue.h"

#include <atomic>
#include <cstring>

#include "hv/virtio/virtio_spec.h"

namespace amber::hv::virtio {
namespace {

// Ring alignment required by the spec (2.7, "Alignment requirements").
constexpr uint64_t kDescAlign = 16;
constexpr uint64_t kAvailAlign = 2;
constexpr uint64_t kUsedAlign = 4;

struct Descriptor {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
static_assert(sizeof(Descriptor) == kDescriptorSize);

Error ring_error(const char* what) {
  return Error(ErrorKind::kCorrupt, std::string("virtqueue: ") + what);
}

bool aligned(uint64_t gpa, const uint8_t* host, uint64_t alignment) {
  return gpa % alignment == 0 && reinterpret_cast<uintptr_t>(host) % alignment == 0;
}

// The ring fields are shared with the guest's vCPUs: access them with
// atomics. Callers only pass pointers validated (in RAM, aligned) by
// activate().
uint16_t load16(const uint8_t* p, int order) {
  return __atomic_load_n(reinterpret_cast<const uint16_t*>(p), order);
}
void store16(uint8_t* p, uint16_t value, int order) {
  __atomic_store_n(reinterpret_cast<uint16_t*>(p), value, order);
}

// Spec 2.7.10: whether the event index lies in (old, new].
bool need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx) {
  return static_cast<uint16_t>(new_idx - event - 1) < static_cast<uint16_t>(new_idx - old_idx);
}

}  // namespace

Result<void> SplitQueue::activate(const GuestMemory& memory, const QueueLayout& layout,
                                  RingFeatures features) {
  reset();
  // The size comes from the guest (modern QUEUE_SIZE): it must be a power
  // of two no larger than what we offered, else the ring math below breaks.
  if (layout.size == 0 || layout.size > kMaxQueueSize || (layout.size & (layout.size - 1)) != 0)
    return ring_error("queue size is not a power of two <= 256");
  const uint64_t n = layout.size;
  const uint64_t event_bytes = features.event_idx ? 2 : 0;
  // Each ring must lie wholly in guest RAM; translate() checks the whole
  // length, so every later access at an index < size stays inside.
  uint8_t* desc = memory.translate(layout.desc, n * kDescriptorSize);
  uint8_t* avail = memory.translate(layout.avail, 4 + 2 * n + event_bytes);
  uint8_t* used = memory.translate(layout.used, 4 + kUsedElementSize * n + event_bytes);
  if (desc == nullptr || avail == nullptr || used == nullptr)
    return ring_error("ring outside guest RAM");
  if (!aligned(layout.desc, desc, kDescAlign) || !aligned(layout.avail, avail, kAvailAlign) ||
      !aligned(layout.used, used, kUsedAlign))
    return ring_error("misaligned ring");
  memory_ = &memory;
  size_ = layout.size;
  features_ = features;
  desc_ = desc;
  avail_ = avail;
  used_ = used;
  // Both indexes start at 0 (spec 2.7: the driver zeroes the rings).
  last_avail_ = used_idx_ = signalled_used_ = 0;
  active_ = true;
  return ok();
}

void SplitQueue::reset() {
  memory_ = nullptr;
  active_ = false;
  size_ = 0;
  features_ = {};
  desc_ = avail_ = used_ = nullptr;
  last_avail_ = used_idx_ = signalled_used_ = 0;
}

uint16_t SplitQueue::load_avail_idx() const {
  // Acquire: ring entries and descriptors written before idx are visible.
  return load16(avail_ + 2, __ATOMIC_ACQUIRE);
}

Result<bool> SplitQueue::pop(DescriptorChain& chain) {
  if (!active_) return ring_error("queue not active");
  const uint16_t avail_idx = load_avail_idx();
  const auto pending = static_cast<uint16_t>(avail_idx - last_avail_);
  if (pending == 0) return false;
  // The guest can only have `size` buffers outstanding; a larger jump is a
  // corrupted or malicious index.
  if (pending > size_) {
    active_ = false;
    return ring_error("avail index moved by more than the queue size");
  }
  // last_avail_ % size_ < size_, inside the ring validated by activate().
  const uint16_t head = load16(avail_ + 4 + 2 * (last_avail_ % size_), __ATOMIC_RELAXED);
  if (head >= size_) {
    active_ = false;
    return ring_error("avail ring names a descriptor beyond the queue size");
  }
  if (auto walked = walk(head, chain); !walked.ok()) {
    active_ = false;
    return std::move(walked).error();
  }
  ++last_avail_;
  return true;
}

Result<void> SplitQueue::walk(uint16_t head, DescriptorChain& chain) const {
  chain.head = head;
  chain.segments.clear();
  const uint8_t* table = desc_;
  uint32_t table_length = size_;
  uint32_t index = head;
  uint32_t visited = 0;
  bool in_indirect = false;
  for (;;) {
    // `index` comes from the guest (head or a `next` field).
    if (index >= table_length) return ring_error("descriptor index out of range");
    // A chain cannot have more descriptors than its table; exceeding that
    // means a loop (or a chain that is simply too long).
    if (++visited > table_length) return ring_error("descriptor chain loops or is too long");
    Descriptor d;
    // Copy once: the guest may rewrite the descriptor while we look at it.
    std::memcpy(&d, table + uint64_t{index} * kDescriptorSize, sizeof d);
    if (d.flags & kDescFlagIndirect) {
      if (!features_.indirect) return ring_error("indirect descriptor not negotiated");
      if (in_indirect) return ring_error("nested indirect descriptor");
      if (d.flags & kDescFlagNext) return ring_error("indirect descriptor with NEXT");
      if (d.len == 0 || d.len % kDescriptorSize != 0 ||
          d.len / kDescriptorSize > kMaxIndirectDescriptors)
        return ring_error("bad indirect table length");
      const uint8_t* indirect = memory_->translate(d.addr, d.len);
      if (indirect == nullptr) return ring_error("indirect table outside guest RAM");
      // The table lies wholly in RAM (checked for d.len bytes); entries are
      // copied with memcpy, so no alignment is needed.
      table = indirect;
      table_length = d.len / kDescriptorSize;
      index = 0;
      visited = 0;
      in_indirect = true;
      continue;
    }
    if (d.len != 0) {
      uint8_t* host = memory_->translate(d.addr, d.len);
      if (host == nullptr) return ring_error("buffer outside guest RAM");
      chain.segments.push_back({host, d.len, (d.flags & kDescFlagWrite) != 0});
    }
    if (!(d.flags & kDescFlagNext)) return ok();
    index = d.next;
  }
}

void SplitQueue::push_used(uint16_t head, uint32_t written) {
  if (!active_) return;
  // used_idx_ % size_ < size_: inside the used ring validated by activate().
  uint8_t* element = used_ + 4 + kUsedElementSize * (used_idx_ % size_);
  const uint32_t id = head;
  std::memcpy(element, &id, 4);
  std::memcpy(element + 4, &written, 4);
  ++used_idx_;
  // Release: the element is visible before the index that publishes it.
  store16(used_ + 2, used_idx_, __ATOMIC_RELEASE);
}

void SplitQueue::push_used_all(std::span<const Used> elements) {
  if (!active_) return;
  uint16_t idx = used_idx_;
  for (const Used& e : elements) {
    uint8_t* element = used_ + 4 + kUsedElementSize * (idx % size_);
    const uint32_t id = e.head;
    std::memcpy(element, &id, 4);
    std::memcpy(element + 4, &e.written, 4);
    ++idx;
  }
  used_idx_ = idx;
  store16(used_ + 2, used_idx_, __ATOMIC_RELEASE);
}

bool SplitQueue::should_notify() {
  if (!active_) return false;
  // Full barrier: our used->idx store must be visible before we read the
  // guest's suppression state, or both sides may miss each other.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  const uint16_t old_idx = signalled_used_;
  const uint16_t new_idx = used_idx_;
  signalled_used_ = new_idx;
  if (old_idx == new_idx) return false;
  if (features_.event_idx) {
    // used_event sits after the avail ring (included in activate's range).
    const uint16_t event = load16(avail_ + 4 + 2 * uint64_t{size_}, __ATOMIC_RELAXED);
    return need_event(event, new_idx, old_idx);
  }
  return (load16(avail_, __ATOMIC_RELAXED) & kAvailFlagNoInterrupt) == 0;
}

bool SplitQueue::has_available() const {
  return active_ && load_avail_idx() != last_avail_;
}

void SplitQueue::disable_notifications() {
  if (!active_ || features_.event_idx) return;
  // used->flags is ours to write (the guest only reads it); a hint only: a
  // driver may still kick, and that is harmless.
  store16(used_, kUsedFlagNoNotify, __ATOMIC_RELAXED);
}

bool SplitQueue::prepare_to_sleep() {
  if (!active_) return false;
  if (features_.event_idx) {
    // avail_event sits after the used ring; only written when EVENT_IDX was
    // negotiated (SeaBIOS's used ring has no room for it otherwise).
    store16(used_ + 4 + kUsedElementSize * size_, last_avail_, __ATOMIC_RELAXED);
  } else {
    store16(used_, 0, __ATOMIC_RELAXED);
  }
  // Full barrier: publish avail_event / the cleared flag before re-reading
  // avail->idx, or a buffer the guest added without kicking is missed.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return load_avail_idx() != last_avail_;
}

}  // namespace amber::hv::virtio
