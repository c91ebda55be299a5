// SPDX-License-Identifier: GPL-2.0-or-later
// NetDevice: the virtio-net VirtioDevice (virtio 1.x, 5.1) as QEMU 7.2's
// virtio-net-pci shows it, behind any net::NetBackend (slirp, tap).
//
// Queues: receiveq/transmitq pairs (rx0, tx0, rx1, tx1, ...) then the
// control queue. Features: CSUM, GUEST_CSUM, MAC, GUEST_TSO4/6,
// HOST_TSO4/6, MRG_RXBUF, STATUS, CTRL_VQ, CTRL_RX and MQ (when there is
// more than one pair); the transport adds VERSION_1 on the modern
// interface. Config space: mac, status (LINK_UP), max_virtqueue_pairs; the
// mac is writable by a legacy driver (as QEMU, without CTRL_MAC_ADDR).
//
// Transmit: each TX queue's iothread gathers virtio_net_hdr + frame from
// the chain's readable part, completes a partial checksum (NEEDS_CSUM) and
// splits TCPv4/TCPv6 GSO packets into gso_size segments in software (the
// backends carry plain frames), then hands each frame to the backend.
// Receive: the backend's thread calls receive_frame(); after the RX filter
// (promiscuous by default, as QEMU; the control queue's RX mode and MAC
// table) the frame lands in rx0 with mergeable buffers when negotiated
// (all of a packet's used entries appear at once), else in one chain. A
// frame that finds no buffers is held (net::kMaxHeldFrames), then dropped
// and counted; a kick on an RX queue delivers held frames and wakes the
// backend. A chain too small for a non-mergeable frame is kept for the
// next frame (the frame is dropped and counted).
//
// Control queue (class, command, data..., ack): RX_MODE (promisc,
// allmulti, alluni, nomulti, nouni, nobcast), MAC TABLE_SET and ADDR_SET,
// MQ VQ_PAIRS_SET (OK for 1..max pairs with MQ negotiated, else ERR);
// anything else answers ERR, as QEMU.
//
// The guest is hostile: short headers, chains without room, GSO fields
// pointing outside the frame, huge lengths and ring violations never crash
// or hang; ring violations set NEEDS_RESET, bad packets are counted in
// NicStats and dropped.
//
// Thread-safety: activate()/reset()/write_config() under the transport's
// lock; one iothread per queue; receive_frame()/can_receive() from the
// backend's thread; the RX side (rx rings, held frames, filter, mac) is
// guarded by rx_mutex_. stats() and read_config() from any thread.
#pragma once

#include <array>
#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "hv/memory/guest_memory.h"
#include "hv/net/backend.h"
#include "hv/net/nic_stats.h"
#include "hv/virtio/iothread.h"
#include "hv/virtio/queue.h"
#include "hv/virtio/virtio_device.h"

namespace amber::hv::virtio {

inline constexpr uint16_t kVirtioIdNet = 1;
inline constexpr VirtioPciIdentity kVirtioNetIdentity{.device_type = kVirtioIdNet,
                                                      .transitional_id = 0x1000,
                                                      .class_code = 0x020000,
                                                      .name = "virtio-net"};

// virtio-net feature bits (spec 5.1.3).
inline constexpr unsigned kNetFeatureCsum = 0;
inline constexpr unsigned kNetFeatureGuestCsum = 1;
inline constexpr unsigned kNetFeatureMac = 5;
inline constexpr unsigned kNetFeatureGuestTso4 = 7;
inline constexpr unsigned kNetFeatureGuestTso6 = 8;
inline constexpr unsigned kNetFeatureHostTso4 = 11;
inline constexpr unsigned kNetFeatureHostTso6 = 12;
inline constexpr unsigned kNetFeatureMrgRxbuf = 15;
inline constexpr unsigned kNetFeatureStatus = 16;
inline constexpr unsigned kNetFeatureCtrlVq = 17;
inline constexpr unsigned kNetFeatureCtrlRx = 18;
inline constexpr unsigned kNetFeatureMq = 22;

// virtio_net_hdr (spec 5.1.6).
inline constexpr uint8_t kNetHdrNeedsCsum = 1;
inline constexpr uint8_t kNetGsoNone = 0;
inline constexpr uint8_t kNetGsoTcpv4 = 1;
inline constexpr uint8_t kNetGsoUdp = 3;
inline constexpr uint8_t kNetGsoTcpv6 = 4;
inline constexpr uint8_t kNetGsoEcn = 0x80;
inline constexpr unsigned kNetHdrSize = 10;          // without num_buffers
inline constexpr unsigned kNetHdrSizeMrg = 12;       // with num_buffers (MRG_RXBUF or 1.0)
inline constexpr unsigned kNetConfigSize = 10;       // mac, status, max_virtqueue_pairs
inline constexpr unsigned kNetMacTableEntries = 64;  // QEMU's MAC_TABLE_ENTRIES

// Control queue (spec 5.1.6.5).
inline constexpr uint8_t kNetCtrlRx = 0;
inline constexpr uint8_t kNetCtrlMac = 1;
inline constexpr uint8_t kNetCtrlMq = 4;
inline constexpr uint8_t kNetCtrlOk = 0;
inline constexpr uint8_t kNetCtrlErr = 1;

struct NetDeviceConfig {
  std::array<uint8_t, 6> mac{};
  unsigned queue_pairs = 1;  // 1..(kMaxQueues - 1) / 2
};

class NetDevice final : public VirtioDevice, public net::FrameSink {
 public:
  // `backend` may be null (frames the guest sends are counted and dropped).
  static Result<std::unique_ptr<NetDevice>> create(const NetDeviceConfig& config,
                                                   const GuestMemory& memory,
                                                   DeviceSignals& signals,
                                                   std::unique_ptr<net::NetBackend> backend);
  ~NetDevice() override;  // stops the backend, then the iothreads

  // Starts the backend's thread (once the PCI function is attached).
  Result<void> start();

  // VirtioDevice
  const VirtioPciIdentity& identity() const override { return kVirtioNetIdentity; }
  uint64_t device_features() const override;
  unsigned num_queues() const override { return static_cast<unsigned>(queues_.size()); }
  int kick_fd(unsigned queue) const override { return queues_[queue]->thread->kick_fd(); }
  void kick(unsigned queue) override;
  void read_config(uint64_t offset, std::span<uint8_t> data) const override;
  void write_config(uint64_t offset, std::span<const uint8_t> data) override;
  Result<void> activate(uint64_t features, std::span<const QueueLayout> layouts) override;
  void reset() override;
  bool active() const override { return active_; }

  // FrameSink (the backend's thread).
  void receive_frame(std::span<const uint8_t> frame) override;
  bool can_receive() override;

  const net::NicStats& stats() const { return stats_; }
  std::array<uint8_t, 6> mac() const;
  unsigned queue_pairs() const { return pairs_; }
  unsigned control_queue() const { return 2 * pairs_; }

  // One TX chain (tests call it directly): the frames it yields go to the
  // backend. Never fails: a bad packet is counted and dropped.
  void transmit(const DescriptorChain& chain);
  // One control chain: the number of bytes written (the ack), or an Error
  // when the chain has no room for the ack (the queue is then reset).
  Result<uint32_t> serve_control(const DescriptorChain& chain);
  // Whether the RX filter passes `frame` (rx_mutex_ held by the caller or
  // test-thread only).
  bool accepts(std::span<const uint8_t> frame) const;

 private:
  struct Queue {
    SplitQueue ring;
    std::unique_ptr<IoThread> thread;
    DescriptorChain chain;
  };
  struct RxMode {
    bool promisc = true;  // QEMU's reset state
    bool allmulti = false, alluni = false, nomulti = false, nouni = false, nobcast = false;
  };

  NetDevice(const NetDeviceConfig& config, const GuestMemory& memory, DeviceSignals& signals,
            std::unique_ptr<net::NetBackend> backend);
  IoWork serve_tx(unsigned index);
  IoWork serve_ctrl();
  IoWork serve_rx_kick();
  void stop_queues();

  // --- RX, rx_mutex_ held ---
  void deliver_locked(std::span<const uint8_t> frame);
  // Writes one frame into rx0: false when the ring had too few buffers
  // (the frame was not consumed; popped chains are kept in rx_stash_).
  bool write_frame_locked(std::span<const uint8_t> frame);
  // The next RX chain (the stash first); nullopt when none is available,
  // or after a ring violation (NEEDS_RESET was signalled).
  std::optional<DescriptorChain> next_rx_chain_locked();
  void drain_held_locked();

  // --- TX (net_tx.cpp) ---
  void send(std::span<const uint8_t> frame);
  void finish_checksum(std::vector<uint8_t>& frame, unsigned start, unsigned offset);
  void segment_tcp(std::vector<uint8_t>& frame, uint8_t gso_type, unsigned csum_start,
                   unsigned mss);

  const GuestMemory& memory_;
  DeviceSignals& signals_;
  const std::array<uint8_t, 6> configured_mac_;
  const unsigned pairs_;
  std::unique_ptr<net::NetBackend> backend_;
  net::NicStats stats_;
  std::vector<std::unique_ptr<Queue>> queues_;
  bool active_ = false;
  uint64_t features_ = 0;
  unsigned hdr_size_ = kNetHdrSize;
  bool mergeable_ = false;

  mutable std::mutex rx_mutex_;
  bool rx_ready_ = false;  // activated with rx0 live
  std::array<uint8_t, 6> mac_{};
  RxMode rx_mode_;
  std::vector<std::array<uint8_t, 6>> uni_table_, multi_table_;
  std::deque<DescriptorChain> rx_stash_;
  std::deque<std::vector<uint8_t>> held_;
  unsigned active_pairs_ = 1;
};

}  // namespace amber::hv::virtio
