// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/virtio/blk_device.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>

#include "hv/virtio/virtio_spec.h"

namespace amber::hv::virtio {
namespace {

void put(uint8_t* config, unsigned offset, uint64_t value, unsigned size) {
  std::memcpy(config + offset, &value, size);  // little-endian host
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
  drop_held();
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
  // Joining quiesces: every request in flight completes before we return
  // (held ones are not in flight: they wait for a resume, and are dropped).
  for (auto& q : queues_) q->thread->stop();
  drop_held();
  for (auto& q : queues_) {
    q->ring.reset();
    q->poll.reset();
    q->idle_since_ns = 0;
  }
  engine_.set_negotiated_features(0);
  engine_.set_write_cache(WriteCache::kWriteback);
  active_ = false;
}

void BlkDevice::retry_held() {
  for (auto& q : queues_) {
    q->retry.store(true, std::memory_order_release);
    q->thread->kick();
  }
}

void BlkDevice::drop_held() {
  size_t dropped = 0;
  for (auto& q : queues_) {
    dropped += q->held.size();
    q->held.clear();
    q->still_held.clear();
    q->retry.store(false, std::memory_order_relaxed);
  }
  held_requests_.store(0, std::memory_order_release);
  if (dropped != 0)
    std::fprintf(stderr, "amber-vmm: %s: %zu held requests dropped by a device reset\n",
                 engine_.label().c_str(), dropped);
}

size_t BlkDevice::push_completed(Queue& q, const BlkBatch& batch) {
  size_t pushed = 0;
  for (const BlkRequest& r : batch.requests()) {
    if (r.held) continue;
    q.ring.push_used(r.head, r.written);
    ++pushed;
  }
  return pushed;
}

bool BlkDevice::retry(unsigned index) {
  Queue& q = *queues_[index];
  const size_t before = q.held.size();
  engine_.execute(q.held);
  const size_t completed = push_completed(q, q.held);
  q.still_held.clear();
  q.still_held.take_held_from(q.held);
  std::swap(q.held, q.still_held);
  held_requests_.fetch_sub(before - q.held.size(), std::memory_order_acq_rel);
  if (completed != 0 && q.ring.should_notify()) signals_.notify_queue(index);
  return q.held.empty();
}

IoWork BlkDevice::serve(unsigned index) {
  Queue& q = *queues_[index];
  if (!q.ring.active()) return IoWork::kIdle;  // broken earlier: wait for reset
  // A retry asked for while nothing was held means nothing to a later hold.
  const bool retry_asked = q.retry.exchange(false, std::memory_order_acq_rel);
  // Holding: nothing new is popped until the VM resumes and the held
  // requests complete (the guest's kicks meanwhile change nothing).
  if (!q.held.empty() && (!retry_asked || !retry(index))) return IoWork::kIdle;
  // Woken by a kick after sleeping on an empty ring: that gap counts too.
  if (q.idle_since_ns != 0) {
    q.poll.record_idle(monotonic_ns() - q.idle_since_ns);
    q.idle_since_ns = 0;
  }
  // While this thread is awake it looks at the ring anyway: no kicks.
  q.ring.disable_notifications();
  unsigned batches_left = kBlkMaxBatchesPerServe;
  for (;;) {
    const Drained drained = drain(index, batches_left);
    if (drained == Drained::kBroken || drained == Drained::kHeld) return IoWork::kIdle;
    // Notifications stay off: the thread comes straight back.
    if (drained == Drained::kBudgetSpent) return IoWork::kMore;
    const uint64_t idle_since = monotonic_ns();
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
    const size_t pushed = push_completed(q, q.batch);
    if (broken) {
      // Held requests of a broken queue can never complete.
      if (ring_still_active) q.ring.reset();
      signals_.needs_reset(*broken);
      return Drained::kBroken;
    }
    // One interrupt for the whole batch.
    if (pushed != 0 && q.ring.should_notify()) signals_.notify_queue(index);
    if (q.batch.stopped()) {
      q.held.take_held_from(q.batch);
      held_requests_.fetch_add(q.held.size(), std::memory_order_acq_rel);
      return Drained::kHeld;
    }
    if (!q.batch.full()) return Drained::kEmpty;
  }
}

bool BlkDevice::poll_for_work(Queue& q, uint64_t idle_since_ns) {
  return q.poll.spin(idle_since_ns, [&q] { return q.ring.has_available(); });
}

}  // namespace amber::hv::virtio
