// SPDX-License-Identifier: GPL-2.0-or-later
// TapBackend: frames to and from a tap device the caller opened and
// attached (libvirt's <interface type='bridge'/'network'> or QEMU's
// -netdev tap,fd=N): one frame per read()/write() on the inherited
// descriptor, no privileges needed here. The descriptor must be a tap
// (IFF_TAP) opened with IFF_NO_PI and without IFF_VNET_HDR; anything that
// is not a tun/tap (a socketpair in tests) is taken as a packet stream.
//
// The backend's thread reads while the NIC can take frames and sleeps
// otherwise (the kernel then queues, up to the tap's txqueuelen); send()
// writes from the caller's thread without blocking (a full queue drops).
//
// Thread-safety: as NetBackend.
#pragma once

#include <atomic>
#include <memory>
#include <thread>

#include "common/result.h"
#include "common/unique_fd.h"
#include "hv/net/backend.h"

namespace amber::hv::net {

class TapBackend final : public NetBackend {
 public:
  // Takes ownership of `fd`.
  static Result<std::unique_ptr<TapBackend>> create(int fd);
  ~TapBackend() override;

  Result<void> start(FrameSink& sink) override;
  SendResult send(std::span<const uint8_t> frame) override;
  void wake() override;
  void stop() override;

 private:
  TapBackend(UniqueFd tap, UniqueFd wakeup) : tap_(std::move(tap)), wakeup_(std::move(wakeup)) {}
  void run();

  UniqueFd tap_;
  UniqueFd wakeup_;  // eventfd: the NIC has room again, or stop
  FrameSink* sink_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
};

}  // namespace amber::hv::net
