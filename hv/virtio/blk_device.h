// SPDX-License-Identifier: GPL-2.0-or-later
// BlkDevice: the virtio-blk VirtioDevice: feature bits, the
// virtio_blk_config space, its virtqueues and their iothreads.
//
// The transport (pci_transport.h) owns the register files and calls
// activate() when the driver sets DRIVER_OK and reset() when it writes
// status 0 (see virtio_device.h). Each queue is served by its own IoThread; a queue's ring state
// is touched only by that thread while the device is active, so the data
// path takes no lock. Interrupts and ring-protocol failures go back to the
// transport through DeviceSignals, from the iothreads.
//
// Requests a stop policy held (blk_engine.h) stay with their queue's
// iothread, in pop order; while a queue holds any, its thread pops nothing
// more from the ring. retry_held() (the VM resumed) has each such thread
// execute them again in the same order; those that fail again are held
// again (and the engine reports the stop again). reset() drops held
// requests without completing them (the rings are forgotten anyway), after
// the iothreads are joined.
//
// Thread-safety: activate()/reset()/write_config() from the transport's
// thread with the transport's lock held; read_config(), kick(), stats(),
// retry_held() and held_requests() from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <span>
#include <vector>

#include "common/result.h"
#include "hv/memory/guest_memory.h"
#include "hv/virtio/adaptive_poll.h"
#include "hv/virtio/blk_engine.h"
#include "hv/virtio/iothread.h"
#include "hv/virtio/queue.h"
#include "hv/virtio/virtio_device.h"
#include "hv/virtio/virtio_spec.h"

namespace amber::hv::virtio {

// Transitional virtio-blk: PCI device 1af4:1001, class 010000 (SCSI-less
// mass storage), as QEMU's (what Windows 7's viostor INF and SeaBIOS match).
inline constexpr VirtioPciIdentity kVirtioBlkIdentity{.device_type = kVirtioIdBlock,
                                                      .transitional_id = 0x1001,
                                                      .class_code = 0x010000,
                                                      .name = "virtio-blk"};

// One serve() call executes at most this many batches (of up to
// kBlkMaxBatch requests each) before it hands back to its IoThread, which
// then checks for a stop: a guest that keeps the ring full (or makes it
// refill itself) cannot keep reset or shutdown waiting. 16 batches is
// 2048 requests, far more than a queue holds, so an honest guest's burst
// is still served in one call.
inline constexpr unsigned kBlkMaxBatchesPerServe = 16;

class BlkDevice final : public VirtioDevice {
 public:
  static Result<std::unique_ptr<BlkDevice>> create(std::shared_ptr<block::Image> image,
                                                   const BlkOptions& options,
                                                   const GuestMemory& memory,
                                                   DeviceSignals& signals);
  ~BlkDevice() override;

  // VirtioDevice.
  const VirtioPciIdentity& identity() const override { return kVirtioBlkIdentity; }
  uint64_t device_features() const override { return engine_.offered_features(); }
  unsigned num_queues() const override { return static_cast<unsigned>(queues_.size()); }
  int kick_fd(unsigned queue) const override { return queues_[queue]->thread->kick_fd(); }
  void kick(unsigned queue) override;
  void read_config(uint64_t offset, std::span<uint8_t> data) const override;
  void write_config(uint64_t offset, std::span<const uint8_t> data) override;
  Result<void> activate(uint64_t features, std::span<const QueueLayout> layouts) override;
  void reset() override;
  bool active() const override { return active_; }

  BlkStats stats() const { return engine_.stats(); }
  BlkEngine& engine() { return engine_; }

  // Every queue that holds requests retries them on its iothread.
  void retry_held();
  // Requests held now, all queues together.
  size_t held_requests() const { return held_requests_.load(std::memory_order_acquire); }

 private:
  struct Queue {
    SplitQueue ring;
    std::unique_ptr<IoThread> thread;
    DescriptorChain chain;  // reused across pops (iothread only)
    BlkBatch batch;         // requests popped together (iothread only)
    // iothread only: the busy-poll window, and when the ring last ran
    // empty before the thread went to sleep (0: not sleeping on an empty
    // ring, e.g. the first run after activate()).
    AdaptivePoll poll;
    uint64_t idle_since_ns = 0;
    // Requests held by a stop policy, in pop order, and the batch their
    // retry keeps the still-held ones in (iothread only while active).
    BlkBatch held;
    BlkBatch still_held;
    std::atomic<bool> retry{false};  // set by retry_held(), any thread
  };

  BlkDevice(std::shared_ptr<block::Image> image, const BlkOptions& options,
            const GuestMemory& memory, DeviceSignals& signals)
      : engine_(std::move(image), options), memory_(memory), signals_(signals) {}
  IoWork serve(unsigned index);
  enum class Drained { kEmpty, kBudgetSpent, kBroken, kHeld };
  // Pops every available chain, in batches of at most kBlkMaxBatch that
  // are executed together (merging neighbours) and completed with one
  // notification each. Stops early (kBudgetSpent) once `batches_left`
  // batches ran or the iothread is asked to stop; kBroken when the queue
  // broke (NEEDS_RESET already signalled); kHeld when a stop policy held
  // requests (the queue then waits for retry_held()).
  Drained drain(unsigned index, unsigned& batches_left);
  // Executes the queue's held requests again; true when none is left.
  bool retry(unsigned index);
  // Pushes the batch's completed (not held) requests; how many.
  size_t push_completed(Queue& q, const BlkBatch& batch);
  // Drops every held request (reset; the iothreads are stopped).
  void drop_held();
  // Spins on avail->idx for the queue's poll window; true if a buffer
  // appeared. Records the idle gap it saw.
  bool poll_for_work(Queue& q, uint64_t idle_since_ns);

  BlkEngine engine_;
  const GuestMemory& memory_;
  DeviceSignals& signals_;
  std::vector<std::unique_ptr<Queue>> queues_;
  std::atomic<size_t> held_requests_{0};
  bool active_ = false;
};

}  // namespace amber::hv::virtio
