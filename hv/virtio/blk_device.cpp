#include "hv/virtio/blk_device.h"

#include <algorithm>
#include <cstring>

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
    AMBER_TRY_ASSIGN(queue->thread, IoThread::create());
    queue->chain.segments.reserve(kMaxQueueSize);
    device->queues_.push_back(std::move(queue));
  }
  return device;
}

BlkDevice::~BlkDevice() { reset(); }

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
  for (auto& q : queues_) q->ring.reset();
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
    AMBER_TRY(queues_[i]->thread->start([this, i] { serve(i); }));
  }
  return ok();
}

void BlkDevice::reset() {
  // Joining quiesces: every request in flight completes before we return.
  for (auto& q : queues_) q->thread->stop();
  for (auto& q : queues_) q->ring.reset();
  engine_.set_negotiated_features(0);
  engine_.set_write_cache(WriteCache::kWriteback);
  active_ = false;
}

void BlkDevice::serve(unsigned index) {
  Queue& q = *queues_[index];
  if (!q.ring.active()) return;  // broken earlier: wait for reset
  for (;;) {
    for (;;) {
      Result<bool> popped = q.ring.pop(q.chain);
      if (!popped.ok()) {
        signals_.needs_reset(popped.error());
        return;
      }
      if (!*popped) break;
      Result<uint32_t> written = engine_.execute(q.chain);
      if (!written.ok()) {
        q.ring.reset();
        signals_.needs_reset(written.error());
        return;
      }
      q.ring.push_used(q.chain.head, *written);
    }
    if (q.ring.should_notify()) signals_.notify_queue(index);
    if (!q.ring.prepare_to_sleep()) return;
  }
}

}  // namespace amber::hv::virtio
