// SPDX-License-Identifier: GPL-2.0-or-later
// ScsiDevice: the virtio-scsi VirtioDevice (virtio 1.x, 5.6): one
// controller (channel 0) with targets 0..255 and LUNs 0..16383, each LUN a
// ScsiDisk. Queues: 0 control (task management: every task completes
// synchronously, so TMFs answer FUNCTION COMPLETE; AN query/subscribe
// answer "no events"), 1 event (buffers are kept, never used: no hotplug),
// 2.. request queues, one iothread each.
//
// Requests: virtio_scsi_cmd_req (lun[8], tag, task_attr, prio, crn,
// cdb[cdb_size]) in the device-readable part, then data-out; the
// device-writable part holds virtio_scsi_cmd_resp (sense_len, resid,
// status_qualifier, status, response, sense[sense_size]) then data-in.
// Any layout across descriptors. LUN addressing as QEMU: lun[0] == 1,
// lun[1] = target, (lun[2] << 8 | lun[3]) & 0x3FFF = LUN; a bad lun[0] or
// a target without LUNs is VIRTIO_SCSI_S_BAD_TARGET; a missing LUN of an
// existing target answers INQUIRY with peripheral qualifier 3, REPORT
// LUNS with the target's LUNs and everything else with CHECK CONDITION /
// LOGICAL UNIT NOT SUPPORTED. A short request header answers
// VIRTIO_SCSI_S_FAILURE; a chain without 12 writable response bytes
// breaks the queue (NEEDS_RESET). Sense is cut to the guest's buffer.
//
// A request a disk's stop policy held (ScsiOutcome::kHeld) is not
// answered: its queue keeps it and pops nothing more until retry_held()
// (the VM resumed), which has the queue's thread execute it again first
// (held again if it fails again). reset() drops held requests.
//
// Thread-safety: as BlkDevice (virtio_device.h): activate()/reset()/
// write_config() under the transport's lock; serve_request() from the
// iothreads concurrently (the disks are thread-safe); read_config() from
// any thread; retry_held() and held_requests() from any thread.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <vector>

#include "hv/memory/guest_memory.h"
#include "hv/virtio/adaptive_poll.h"
#include "hv/virtio/iothread.h"
#include "hv/virtio/queue.h"
#include "hv/virtio/scsi_disk.h"
#include "hv/virtio/virtio_device.h"

namespace amber::hv::virtio {

inline constexpr uint16_t kVirtioIdScsi = 8;
inline constexpr VirtioPciIdentity kVirtioScsiIdentity{.device_type = kVirtioIdScsi,
                                                       .transitional_id = 0x1004,
                                                       .class_code = 0x010000,
                                                       .name = "virtio-scsi"};

// virtio_scsi_cmd_resp.response values (spec 5.6.6.1).
inline constexpr uint8_t kScsiRespOk = 0;
inline constexpr uint8_t kScsiRespOverrun = 1;
inline constexpr uint8_t kScsiRespBadTarget = 3;
inline constexpr uint8_t kScsiRespFailure = 9;
inline constexpr uint8_t kScsiRespFunctionComplete = 0;
inline constexpr uint8_t kScsiRespFunctionRejected = 11;

inline constexpr uint32_t kScsiDefaultSenseSize = 96;
inline constexpr uint32_t kScsiDefaultCdbSize = 32;
inline constexpr uint32_t kScsiMaxCdbSize = 256;
inline constexpr uint32_t kScsiMaxSenseSize = 256;
inline constexpr uint16_t kScsiMaxTarget = 255;
inline constexpr uint32_t kScsiMaxLun = 16383;
inline constexpr unsigned kScsiConfigSize = 36;

struct ScsiLun {
  unsigned target = 0;
  unsigned lun = 0;
  std::shared_ptr<ScsiDisk> disk;
};

class ScsiDevice final : public VirtioDevice {
 public:
  // `request_queues`: 1..kMaxQueues - 2.
  static Result<std::unique_ptr<ScsiDevice>> create(std::vector<ScsiLun> luns,
                                                    unsigned request_queues,
                                                    const GuestMemory& memory,
                                                    DeviceSignals& signals);
  ~ScsiDevice() override;

  const VirtioPciIdentity& identity() const override { return kVirtioScsiIdentity; }
  uint64_t device_features() const override { return 0; }
  unsigned num_queues() const override { return static_cast<unsigned>(queues_.size()); }
  int kick_fd(unsigned queue) const override { return queues_[queue]->thread->kick_fd(); }
  void kick(unsigned queue) override;
  void read_config(uint64_t offset, std::span<uint8_t> data) const override;
  void write_config(uint64_t offset, std::span<const uint8_t> data) override;
  Result<void> activate(uint64_t features, std::span<const QueueLayout> layouts) override;
  void reset() override;
  bool active() const override { return active_; }

  // One request-queue chain: answers it in guest memory and returns the
  // used length; an Error when it has no room for a response (the queue
  // must be reset).
  // kHeld: a stop policy held it (nothing written; the caller keeps it).
  Result<uint32_t> serve_request(const DescriptorChain& chain);
  static constexpr uint32_t kHeld = UINT32_MAX;
  // One control-queue chain, likewise.
  Result<uint32_t> serve_control(const DescriptorChain& chain);

  // Has every queue holding a request execute it again (resume hook).
  void retry_held();
  size_t held_requests() const { return held_requests_.load(std::memory_order_acquire); }

  ScsiDisk* find(unsigned target, unsigned lun) const;
  bool find_target(unsigned target) const;

 private:
  struct Queue {
    SplitQueue ring;
    std::unique_ptr<IoThread> thread;
    DescriptorChain chain;
    // iothread only: the busy-poll window (as BlkDevice's) and when the
    // ring last ran empty before the thread slept (0: it did not).
    AdaptivePoll poll;
    uint64_t idle_since_ns = 0;
    // A request a stop policy held (iothread only while active) and the
    // resume's request to run it again (any thread).
    DescriptorChain held;
    bool holding = false;
    std::atomic<bool> retry{false};
  };
  ScsiDevice(const GuestMemory& memory, DeviceSignals& signals)
      : memory_(memory), signals_(signals) {}
  IoWork serve(unsigned index);
  // Runs the queue's held request again; true when it is answered (pushed).
  bool serve_held(unsigned index);
  // Spins on avail->idx for the queue's poll window; true if a buffer came.
  bool poll_for_work(Queue& q, uint64_t idle_since_ns);
  // Target-level answers for a LUN that does not exist, and REPORT LUNS
  // whichever LUN it goes to (scsi_target.cpp).
  ScsiResult target_command(unsigned target, unsigned lun, const ScsiCommand& command) const;

  const GuestMemory& memory_;
  DeviceSignals& signals_;
  std::map<std::pair<unsigned, unsigned>, std::shared_ptr<ScsiDisk>> luns_;
  std::vector<std::unique_ptr<Queue>> queues_;
  std::atomic<uint32_t> sense_size_{kScsiDefaultSenseSize};
  std::atomic<uint32_t> cdb_size_{kScsiDefaultCdbSize};
  bool active_ = false;
  std::atomic<size_t> held_requests_{0};
};

}  // namespace amber::hv::virtio
