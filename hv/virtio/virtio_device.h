// SPDX-License-Identifier: GPL-2.0-or-later
// VirtioDevice: what a virtio device (blk, and later scsi, net) gives the
// generic virtio-PCI transport (pci_transport.h), and DeviceSignals: what
// the transport gives the device back.
//
// A device owns its virtqueues' state and their iothreads, its feature
// bits and its configuration space; the transport owns everything PCI:
// the register files (modern and legacy), feature negotiation, the device
// status state machine, MSI-X / INTx and the doorbell ioeventfds. The
// transport calls activate() once when the driver sets DRIVER_OK and
// reset() when the driver writes status 0 (or on a PCI / machine reset);
// it never calls activate() on an active device (a second DRIVER_OK
// without a reset is a protocol error: NEEDS_RESET).
//
// VirtioPciIdentity is the per-device-type part of the PCI function's
// identity (what a guest driver matches); everything else about the PCI
// function (BAR layout, capabilities) is the same for every device type.
//
// Thread-safety: activate() / reset() / write_config() come from the
// transport with its register lock held (one at a time); read_config(),
// kick() and the const accessors from any thread. DeviceSignals methods are
// called from the device's iothreads.
#pragma once

#include <cstdint>
#include <span>

#include "common/result.h"
#include "hv/virtio/queue.h"

namespace amber::hv::virtio {

// Upper bound on queues of one device: one iothread and one MSI-X vector
// each; 64 is more vCPUs than an Amber VM gets and keeps the MSI-X table
// (plus the configuration vector) within its 0x800 bytes before the PBA.
inline constexpr unsigned kMaxQueues = 64;

// The PCI identity of a transitional virtio device (virtio 1.x, 4.1.2.1):
// vendor 1af4, device 0x1000 + (type-specific transitional id), revision 0,
// subsystem vendor 1af4, subsystem id = the virtio device type.
struct VirtioPciIdentity {
  uint16_t device_type = 0;      // virtio device ID (spec 5): 1 net, 2 block, 8 scsi
  uint16_t transitional_id = 0;  // PCI device ID of the transitional function
  uint32_t class_code = 0;       // PCI class << 16 | subclass << 8 | prog-if
  const char* name = "";         // for log lines: "virtio-blk", ...
};

// What a device needs from its transport, called from iothreads.
class DeviceSignals {
 public:
  virtual ~DeviceSignals() = default;
  virtual void notify_queue(unsigned queue) = 0;
  // The guest broke the ring protocol: set DEVICE_NEEDS_RESET and send a
  // configuration-change interrupt.
  virtual void needs_reset(const Error& why) = 0;
};

class VirtioDevice {
 public:
  virtual ~VirtioDevice() = default;

  virtual const VirtioPciIdentity& identity() const = 0;
  // Device feature bits, without the transport / ring bits (VERSION_1,
  // ANY_LAYOUT, INDIRECT_DESC, EVENT_IDX), which the transport adds.
  virtual uint64_t device_features() const = 0;
  // Fixed for the device's lifetime; 1..kMaxQueues.
  virtual unsigned num_queues() const = 0;
  // The eventfd that wakes queue `queue` (registered as an ioeventfd).
  virtual int kick_fd(unsigned queue) const = 0;
  // A doorbell write that reached a vCPU thread instead of an ioeventfd.
  virtual void kick(unsigned queue) = 0;

  // The device configuration space; offset and size come from the guest:
  // bytes beyond the structure read as 0 and writes there are ignored.
  virtual void read_config(uint64_t offset, std::span<uint8_t> data) const = 0;
  virtual void write_config(uint64_t offset, std::span<const uint8_t> data) = 0;

  // Starts serving with the negotiated features; `layouts[i].size == 0`
  // leaves queue i disabled. An Error means a ring is unusable (outside
  // RAM, misaligned): the transport sets NEEDS_RESET.
  virtual Result<void> activate(uint64_t features, std::span<const QueueLayout> layouts) = 0;
  // Stops and joins the iothreads (every request in flight completes
  // first), forgets the rings and restores the device defaults.
  virtual void reset() = 0;
  virtual bool active() const = 0;
};

}  // namespace amber::hv::virtio
