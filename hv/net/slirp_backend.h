// SPDX-License-Identifier: GPL-2.0-or-later
// SlirpBackend: user-mode networking on libslirp, as QEMU's -netdev user:
// the guest gets DHCP from `dhcp_start` on, a gateway at `host` (NAT to the
// host's sockets), a DNS forwarder at `dns`, and host ports forwarded to
// it (hostfwd=). No privileges, no host interface. IPv4 only.
//
// Every libslirp call runs on the backend's one thread (libslirp is not
// thread-safe): frames the guest sends are queued (kMaxQueuedFrames) and
// handed to slirp_input() there; slirp's timers and sockets are polled
// there too.
//
// Thread-safety: as NetBackend (send()/wake() from any thread).
#pragma once

#include <poll.h>

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "hv/net/backend.h"
#include "hv/net/dhcp_snoop.h"
#include "vmmctl/launch.h"

struct Slirp;

namespace amber::hv::net {

// Frames queued for slirp between two turns of its thread: more than a
// TX ring's burst; beyond it send() drops (counted by the NIC).
inline constexpr size_t kMaxQueuedFrames = 256;

struct SlirpSettings {
  vmmctl::Ipv4Net net;  // host byte order, as the other addresses
  uint32_t host = 0;
  uint32_t dns = 0;
  uint32_t dhcp_start = 0;
  std::vector<vmmctl::HostForward> forwards;
};

// The settings of one --nic backend=user (validated by vmmctl::validate).
Result<SlirpSettings> slirp_settings(const vmmctl::NicSettings& nic);

class SlirpBackend final : public NetBackend {
 public:
  // Creates the slirp instance and its host forwards (a busy host port is
  // an error naming the rule).
  static Result<std::unique_ptr<SlirpBackend>> create(const SlirpSettings& settings);
  ~SlirpBackend() override;

  Result<void> start(FrameSink& sink) override;
  SendResult send(std::span<const uint8_t> frame) override;
  void wake() override;
  void stop() override;
  const DhcpSnoop* dhcp_leases() const override { return &dhcp_; }

  // libslirp's callbacks (C linkage trampolines call these).
  struct Timer;
  void deliver(std::span<const uint8_t> frame);
  Timer* new_timer(void (*callback)(void*), void* callback_opaque, int id, bool by_id);
  void free_timer(Timer* timer);
  void modify_timer(Timer* timer, int64_t expire_ms);
  int add_poll(int fd, int events);
  int revents(int index) const;

 private:
  SlirpBackend() = default;
  void run();
  int64_t next_timer_ms() const;  // -1: none
  void fire_timers();

  Slirp* slirp_ = nullptr;
  UniqueFd wakeup_;  // eventfd: a queued frame, or stop
  FrameSink* sink_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::mutex queue_mutex_;
  std::deque<std::vector<uint8_t>> queue_;
  // Backend thread only (and create(), before the thread starts).
  std::vector<std::unique_ptr<Timer>> timers_;
  std::vector<pollfd> pollfds_;
  DhcpSnoop dhcp_;  // fed with both directions' frames on the backend thread
};

}  // namespace amber::hv::net
