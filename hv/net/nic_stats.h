// SPDX-License-Identifier: GPL-2.0-or-later
// NicStats: the per-NIC counters query-nics reports (libvirt's
// domifstat): bytes and packets that reached the guest (rx) or the host
// (tx), errors (a guest descriptor or buffer that is not RAM, a backend
// that failed) and drops (no room: the guest's ring and the held queue
// full, or a full host queue).
//
// Thread-safety: relaxed atomics, bumped by the NIC from vCPU and backend
// threads, read from the control thread.
#pragma once

#include <atomic>
#include <cstdint>

namespace amber::hv::net {

struct NicCounters {
  uint64_t rx_bytes = 0, rx_packets = 0, rx_errors = 0, rx_drops = 0;
  uint64_t tx_bytes = 0, tx_packets = 0, tx_errors = 0, tx_drops = 0;
};

class NicStats {
 public:
  void count_rx(uint64_t bytes) {
    rx_bytes_.fetch_add(bytes, std::memory_order_relaxed);
    rx_packets_.fetch_add(1, std::memory_order_relaxed);
  }
  void count_tx(uint64_t bytes) {
    tx_bytes_.fetch_add(bytes, std::memory_order_relaxed);
    tx_packets_.fetch_add(1, std::memory_order_relaxed);
  }
  void count_rx_error() { rx_errors_.fetch_add(1, std::memory_order_relaxed); }
  void count_rx_drop() { rx_drops_.fetch_add(1, std::memory_order_relaxed); }
  void count_tx_error() { tx_errors_.fetch_add(1, std::memory_order_relaxed); }
  void count_tx_drop() { tx_drops_.fetch_add(1, std::memory_order_relaxed); }

  NicCounters snapshot() const {
    NicCounters c;
    c.rx_bytes = rx_bytes_.load(std::memory_order_relaxed);
    c.rx_packets = rx_packets_.load(std::memory_order_relaxed);
    c.rx_errors = rx_errors_.load(std::memory_order_relaxed);
    c.rx_drops = rx_drops_.load(std::memory_order_relaxed);
    c.tx_bytes = tx_bytes_.load(std::memory_order_relaxed);
    c.tx_packets = tx_packets_.load(std::memory_order_relaxed);
    c.tx_errors = tx_errors_.load(std::memory_order_relaxed);
    c.tx_drops = tx_drops_.load(std::memory_order_relaxed);
    return c;
  }

 private:
  std::atomic<uint64_t> rx_bytes_{0}, rx_packets_{0}, rx_errors_{0}, rx_drops_{0};
  std::atomic<uint64_t> tx_bytes_{0}, tx_packets_{0}, tx_errors_{0}, tx_drops_{0};
};

}  // namespace amber::hv::net
