// BlkDevice: the transport-independent virtio-blk device: feature bits,
// the virtio_blk_config space, its virtqueues and their iothreads.
//
// The transport (pci_transport.h) owns the register files and calls
// activate() when the driver sets DRIVER_OK and reset() when it writes
// status 0. Each queue is served by its own IoThread; a queue's ring state
// is touched only by that thread while the device is active, so the data
// path takes no lock. Interrupts and ring-protocol failures go back to the
// transport through DeviceSignals, from the iothreads.
//
// Thread-safety: activate()/reset()/write_config() from the transport's
// thread with the transport's lock held; read_config(), kick() and stats()
// from any thread.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "common/result.h"
#include "hv/memory/guest_memory.h"
#include "hv/virtio/adaptive_poll.h"
#include "hv/virtio/blk.h"
#include "hv/virtio/iothread.h"
#include "hv/virtio/queue.h"

namespace amber::hv::virtio {

// Upper bound on queues: one iothread and one MSI-X vector each; 64 is
// more vCPUs than an Amber VM gets and keeps the MSI-X table in 4 KiB.
inline constexpr unsigned kMaxQueues = 64;

// What a device needs from its transport, called from iothreads.
class DeviceSignals {
 public:
  virtual ~DeviceSignals() = default;
  virtual void notify_queue(unsigned queue) = 0;
  // The guest broke the ring protocol: set DEVICE_NEEDS_RESET and send a
  // configuration-change interrupt.
  virtual void needs_reset(const Error& why) = 0;
};

class BlkDevice {
 public:
  static Result<std::unique_ptr<BlkDevice>> create(std::shared_ptr<block::Image> image,
                                                   const BlkOptions& options,
                                                   const GuestMemory& memory,
                                                   DeviceSignals& signals);
  ~BlkDevice();

  unsigned num_queues() const { return static_cast<unsigned>(queues_.size()); }
  uint64_t device_features() const { return engine_.offered_features(); }
  int kick_fd(unsigned queue) const { return queues_[queue]->thread->kick_fd(); }
  // A notify that reached a vCPU thread instead of an ioeventfd.
  void kick(unsigned queue);

  void read_config(uint64_t offset, std::span<uint8_t> data) const;
  void write_config(uint64_t offset, std::span<const uint8_t> data);

  // Starts serving: `layouts[i].size == 0` leaves queue i disabled.
  // An Error means a ring lies outside RAM / is malformed (NEEDS_RESET).
  Result<void> activate(uint64_t features, std::span<const QueueLayout> layouts);
  // Stops and joins the iothreads, forgets the rings, restores defaults.
  void reset();
  bool active() const { return active_; }

  BlkStats stats() const { return engine_.stats(); }
  BlkEngine& engine() { return engine_; }

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
  };

  BlkDevice(std::shared_ptr<block::Image> image, const BlkOptions& options,
            const GuestMemory& memory, DeviceSignals& signals)
      : engine_(std::move(image), options), memory_(memory), signals_(signals) {}
  void serve(unsigned index);
  // Pops every available chain, in batches of at most kBlkMaxBatch that
  // are executed together (merging neighbours) and completed with one
  // notification each. False when the queue broke (NEEDS_RESET already
  // signalled).
  bool drain(unsigned index);
  // Spins on avail->idx for the queue's poll window; true if a buffer
  // appeared. Records the idle gap it saw.
  bool poll_for_work(Queue& q, uint64_t idle_since_ns);

  BlkEngine engine_;
  const GuestMemory& memory_;
  DeviceSignals& signals_;
  std::vector<std::unique_ptr<Queue>> queues_;
  bool active_ = false;
};

}  // namespace amber::hv::virtio
