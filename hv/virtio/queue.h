// SPDX-License-Identifier: GPL-2.0-or-later
// SplitQueue: one split virtqueue (virtio 1.x, 2.7) living in guest RAM.
//
// The guest is hostile: every ring index, descriptor address, length and
// flag read here is guest-controlled. The queue validates the ring
// placement once when it is activated (the rings must lie wholly in guest
// RAM; GuestMemory never changes after VM set-up, so the host pointers stay
// valid), copies each descriptor out of guest memory before looking at it
// (the guest may change it concurrently), bounds every chain walk, and
// translates each data buffer through GuestMemory::translate(). Any
// violation of the ring protocol is returned as an Error; the caller then
// marks the device DEVICE_NEEDS_RESET and stops using the queue.
//
// Thread-safety: configure()/activate()/reset() run on the transport's
// thread while no iothread uses the queue; pop/push/notification calls are
// made by exactly one thread (the queue's iothread) afterwards.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/result.h"
#include "hv/memory/guest_memory.h"

namespace amber::hv::virtio {

// The largest queue we offer: SeaBIOS and the legacy interface assume at
// most 256 (legacy QUEUE_SIZE is read-only and fixed at this value).
inline constexpr uint16_t kMaxQueueSize = 256;
// Indirect tables longer than this are refused: Linux never builds more
// than seg_max + 2 entries and QEMU refuses past 1024 too. It bounds the
// work one request can make us do and the iovec count (IOV_MAX = 1024).
inline constexpr uint32_t kMaxIndirectDescriptors = 1024;

// One guest buffer of a chain, already translated to host memory.
struct ChainSegment {
  uint8_t* host = nullptr;
  uint32_t length = 0;
  bool device_writable = false;
};

struct DescriptorChain {
  uint16_t head = 0;
  std::vector<ChainSegment> segments;  // in chain order; zero-length buffers dropped
};

struct QueueLayout {
  uint16_t size = 0;  // power of two, 1..kMaxQueueSize
  uint64_t desc = 0;
  uint64_t avail = 0;
  uint64_t used = 0;
};

// Which ring features the driver negotiated.
struct RingFeatures {
  bool event_idx = false;
  bool indirect = false;
};

class SplitQueue {
 public:
  // Checks placement and alignment and caches the ring pointers.
  Result<void> activate(const GuestMemory& memory, const QueueLayout& layout,
                        RingFeatures features);
  void reset();
  bool active() const { return active_; }
  uint16_t size() const { return size_; }

  // Pops the next available chain into `chain`. Returns false when the ring
  // is empty; an Error on a ring-protocol violation (the queue is then
  // unusable until reset).
  Result<bool> pop(DescriptorChain& chain);
  // Returns a chain to the guest with `written` bytes written into it.
  void push_used(uint16_t head, uint32_t written);
  // Returns several chains at once: the guest sees all of them or none
  // (one used->idx store), as a mergeable RX packet needs.
  struct Used {
    uint16_t head;
    uint32_t written;
  };
  void push_used_all(std::span<const Used> elements);
  // Whether the guest wants an interrupt for the used entries pushed since
  // the last call (used_event / NO_INTERRUPT, spec 2.7.10).
  bool should_notify();
  // Whether the guest has made buffers available that pop() has not taken
  // (one load of avail->idx; cheap enough to busy-poll).
  bool has_available() const;
  // Tells the guest it need not kick while this thread is awake and
  // looking at the ring anyway (spec 2.7.10): sets VRING_USED_F_NO_NOTIFY
  // without EVENT_IDX; with EVENT_IDX the avail_event published by the
  // last prepare_to_sleep() already lies behind the guest, so no write.
  void disable_notifications();
  // Re-enables kicks: clears NO_NOTIFY, or publishes avail_event
  // (EVENT_IDX) so the guest kicks for the next buffer, then re-checks the
  // ring. Returns true if buffers are already available (the caller must
  // process again instead of sleeping).
  bool prepare_to_sleep();

 private:
  uint16_t load_avail_idx() const;
  Result<void> walk(uint16_t head, DescriptorChain& chain) const;

  const GuestMemory* memory_ = nullptr;
  bool active_ = false;
  uint16_t size_ = 0;
  RingFeatures features_;
  uint8_t* desc_ = nullptr;      // size_ * 16 bytes of guest RAM
  uint8_t* avail_ = nullptr;     // 4 + 2 * size_ (+ 2 with EVENT_IDX)
  uint8_t* used_ = nullptr;      // 4 + 8 * size_ (+ 2 with EVENT_IDX)
  uint16_t last_avail_ = 0;      // next avail ring slot we consume
  uint16_t used_idx_ = 0;        // our copy of used->idx
  uint16_t signalled_used_ = 0;  // used_idx_ when should_notify() last ran
};

}  // namespace amber::hv::virtio
