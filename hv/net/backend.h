// SPDX-License-Identifier: GPL-2.0-or-later
// NetBackend: the host side of one network card, the same for every NIC
// model (e1000 now, virtio-net later). A backend carries whole Ethernet
// frames (no FCS) both ways:
//  - guest -> host: the NIC calls send() with each frame its guest queued;
//  - host -> guest: the backend's own thread calls FrameSink::receive_frame()
//    on the NIC, after asking FrameSink::can_receive(); a backend that can
//    wait (tap: the kernel queues for us) stops reading while the NIC is
//    full and reads again after wake().
//
// Lifetime: the NIC owns its backend and calls stop() (which joins the
// backend's thread) before the sink goes away.
//
// Thread-safety: send() and wake() may be called from any thread (vCPU
// threads, with the NIC's lock held: neither may call back into the sink
// synchronously). FrameSink's methods are called from the backend's
// thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/result.h"

namespace amber::hv::net {

class DhcpSnoop;

// The largest frame either side carries: the 64 KiB a TX packet is bounded
// to (as QEMU's e1000), far above any MTU a guest configures.
inline constexpr size_t kMaxFrameSize = 65536;

class FrameSink {
 public:
  virtual ~FrameSink() = default;
  // One frame from the host. The NIC copies what it keeps.
  virtual void receive_frame(std::span<const uint8_t> frame) = 0;
  // False while the NIC could only drop a frame (its ring and its small
  // queue of held frames are full, or its receiver is off).
  virtual bool can_receive() = 0;
};

enum class SendResult { kSent, kDropped, kFailed };

class NetBackend {
 public:
  virtual ~NetBackend() = default;
  // Starts the backend's thread, which delivers to `sink` until stop().
  virtual Result<void> start(FrameSink& sink) = 0;
  // One frame to the host: kDropped when the host side had no room (a full
  // tap queue), kFailed on an error (both are counted by the NIC).
  virtual SendResult send(std::span<const uint8_t> frame) = 0;
  // The sink has room again: re-check can_receive().
  virtual void wake() = 0;
  // Joins the thread; idempotent.
  virtual void stop() = 0;
  // The DHCP leases this backend's own server handed out (user
  // networking); null for a backend without a DHCP server (tap).
  virtual const DhcpSnoop* dhcp_leases() const { return nullptr; }
};

}  // namespace amber::hv::net
