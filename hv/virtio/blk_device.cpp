// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/virtio/blk_device.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <optional>

#include "hv/virtio/virtio_spec.h"

namespace amber::hv::virtio {
namespace {

void put(uint8_t* config, unsigned offset, uint64_t value, unsigned size) {
  std::memcpy(config + offset, &value, size);  // little-endian host
}

uint64_t now_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

Result<std::unique_ptr<BlkDevice>> BlkDevice::create(std::shared_ptr<block::Image> image,
                                                     const BlkOptions& options,
                                                     const GuestMemory& memory,
                                                     DeviceSignals& signals) {
  if (image == nullptr) return Error(ErrorKind::kInvalidArgument, "virtio-blk: no image");
  if (options.queues == 0 || options.queues > kMaxQueues)
    return Error(ErrorKind::kInvalidArgument, "virtio-blk: queues must be 1..64");
  std::unique_ptr<BlkDevice> device(new BlkDevice(std::move(image), options, memory, signals));
  for (unsigned i = 0; i < options.queues; ++i) {
    auto queue = std::make_unique<Queue>();
    AMBER_TRY_ASSIGN(queue->thread, IoThread::create("blk-q" + std::to_string(i)));
    queue->chain.segments.reserve(kMaxQueueSize);
    device->queues_.push_back(std::move(queue));
  }
  return device;
}

BlkDevice::~BlkDevice() {
  reset();
}

void BlkDevice::kick(unsigned queue) {
  if (queue < queues_.size()) queues_[queue]->thread->kick();
}

void BlkDevice::read_config(uint64_t offset, std::span<uint8_t> data) const {
  uint8_t config[kBlkConfigSize] = {};
  put(config, kBlkCfgCapacity, engine_.capacity_sectors(), 8);
  put(config, kBlkCfgSizeMax, kBlkSizeMax, 4);
  put(config, kBlkCfgSegMax, kBlkSegMax, 4);
  put(config, kBlkCfgBlkSize, block::kSectorSize, 4);
  put(config, kBlkCfgPhysicalBlockExp, 0, 1);  // physical block == logical (512)
  put(config, kBlkCfgMinIoSize, 1, 2);         // in logical blocks
  put(config, kBlkCfgOptIoSize, 0, 4);         // no preference
  put(config, kBlkCfgWriteback, engine_.write_cache() == WriteCache::kWriteback ? 1 : 0, 1);
  put(config, kBlkCfgNumQueues, queues_.size(), 2);
  if (engine_.offered_features() & feature_bit(kBlkFeatureDiscard)) {
    put(config, kBlkCfgMaxDiscardSectors, kBlkMaxDiscardSectors, 4);
    put(config, kBlkCfgMaxDiscardSeg, kBlkMaxDiscardSegments, 4);
    put(config, kBlkCfgDiscardSectorAlignment, 1, 4);
    put(config, kBlkCfgMaxWriteZeroesSectors, kBlkMaxDiscardSectors, 4);
    put(config, kBlkCfgMaxWriteZeroesSeg, kBlkMaxDiscardSegments, 4);
    put(config, kBlkCfgWriteZeroesMayUnmap, 1, 1);
  }
  // offset/size come from the guest: bytes beyond the structure read 0.
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = offset + i < kBlkConfigSize ? config[offset + i] : 0;
}

void BlkDevice::write_config(uint64_t offset, std::span<const uint8_t> data) {
  // Only the writeback byte is writable (CONFIG_WCE); the rest is ignored.
  for (size_t i = 0; i < data.size(); ++i) {
    if (offset + i == kBlkCfgWriteback)
      engine_.set_write_cache(data[i] != 0 ? WriteCache::kWriteback : WriteCache::kWritethrough);
  }
}

Result<void> BlkDevice::activate(uint64_t features, std::span<const QueueLayout> layouts) {
  // The transport never activates an active device; should that change,
  // no iothread may be using a ring while it is reset below.
  for (auto& q : queues_) q->thread->stop();
  for (auto& q : queues_) {
    q->ring.reset();
    q->poll.reset();
    q->idle_since_ns = 0;
  }
  engine_.set_negotiated_features(features);
  // Without CONFIG_WCE the cache mode follows FLUSH (spec 5.2.5.1).
  if ((features & feature_bit(kBlkFeatureConfigWce)) == 0) {
    engine_.set_write_cache((features & feature_bit(kBlkFeatureFlush)) ? WriteCache::kWriteback
                                                                       : WriteCache::kWritethrough);
  }
  const RingFeatures ring{(features & feature_bit(kFeatureEventIdx)) != 0,
                          (features & feature_bit(kFeatureIndirectDesc)) != 0};
  for (size_t i = 0; i < queues_.size() && i < layouts.size(); ++i) {
    if (layouts[i].size == 0) continue;
    if (auto r = queues_[i]->ring.activate(memory_, layouts[i], ring); !r.ok()) {
      for (auto& q : queues_) q->ring.reset();
      return std::move(r).error().with_context("queue " + std::to_string(i));
    }
  }
  active_ = true;
  for (unsigned i = 0; i < queues_.size(); ++i) {
    if (!queues_[i]->ring.active()) continue;
    AMBER_TRY(queues_[i]->thread->start([this, i] { return serve(i); }));
  }
  return ok();
}

void BlkDevice::reset() {
  // Joining quiesces: every request in flight completes before we return.
  for (auto& q : queues_) q->thread->stop();
  for (auto& q : queues_) {
    q->ring.reset();
    q->poll.reset();
    q->idle_since_ns = 0;
  }
  engine_.set_negotiated_features(0);
  engine_.set_write_cache(WriteCache::kWriteback);
  active_ = false;
}

IoWork BlkDevice::serve(unsigned index) {
  Queue& q = *queues_[index];
  if (!q.ring.active()) return IoWork::kIdle;  // broken earlier: wait for reset
  // Woken by a kick after sleeping on an empty ring: that gap counts too.
  if (q.idle_since_ns != 0) {
    q.poll.record_idle(now_ns() - q.idle_since_ns);
    q.idle_since_ns = 0;
  }
  // While this thread is awake it looks at the ring anyway: no kicks.
  q.ring.disable_notifications();
  unsigned batches_left = kBlkMaxBatchesPerServe;
  for (;;) {
    const Drained drained = drain(index, batches_left);
    if (drained == Drained::kBroken) return IoWork::kIdle;
    // Notifications stay off: the thread comes straight back.
    if (drained == Drained::kBudgetSpent) return IoWork::kMore;
    const uint64_t idle_since = now_ns();
    if (poll_for_work(q, idle_since)) continue;
    if (!q.ring.prepare_to_sleep()) {
      q.idle_since_ns = idle_since;
      return IoWork::kIdle;
    }
    // A buffer slipped in while kicks were being re-enabled.
    q.ring.disable_notifications();
  }
}

BlkDevice::Drained BlkDevice::drain(unsigned index, unsigned& batches_left) {
  Queue& q = *queues_[index];
  for (;;) {
    if (batches_left == 0 || q.thread->stop_requested()) return Drained::kBudgetSpent;
    --batches_left;
    q.batch.clear();
    std::optional<Error> broken;
    bool ring_still_active = true;
    while (!q.batch.full()) {
      Result<bool> popped = q.ring.pop(q.chain);
      if (!popped.ok()) {
        broken = std::move(popped).error();
        ring_still_active = false;  // pop() already stopped the queue
        break;
      }
      if (!*popped) break;
      if (auto parsed = engine_.parse(q.chain, q.batch); !parsed.ok()) {
        broken = std::move(parsed).error();
        break;
      }
    }
    // The requests before a broken chain were well-formed: serve them as
    // if they had been popped one by one (completions reach the guest only
    // while the ring is still active).
    engine_.execute(q.batch);
    for (const BlkRequest& r : q.batch.requests()) q.ring.push_used(r.head, r.written);
    if (broken) {
      if (ring_still_active) q.ring.reset();
      signals_.needs_reset(*broken);
      return Drained::kBroken;
    }
    if (q.batch.empty()) return Drained::kEmpty;
    // One interrupt for the whole batch.
    if (q.ring.should_notify()) signals_.notify_queue(index);
    if (!q.batch.full()) return Drained::kEmpty;
  }
}

bool BlkDevice::poll_for_work(Queue& q, uint64_t idle_since_ns) {
  const uint64_t window = q.poll.window_ns();
  if (window == 0) return false;
  for (;;) {
    // Check the clock every few loads: a clock read costs more than a
    // ring load, and the window is only a bound, not a deadline.
    for (int i = 0; i < 16; ++i) {
      if (q.ring.has_available()) {
        q.poll.record_idle(now_ns() - idle_since_ns);
        return true;
      }
      cpu_relax();
    }
    if (now_ns() - idle_since_ns >= window) return false;
  }
}

}  // namespace amber::hv::virtio
