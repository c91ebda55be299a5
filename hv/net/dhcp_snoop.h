// SPDX-License-Identifier: GPL-2.0-or-later
// DhcpSnoop: the DHCP leases a user-mode (libslirp) network handed out,
// read off the frames between the guest and slirp, because libslirp keeps
// its lease table to itself. `virsh domifaddr --source lease` reports them
// through query-nics.
//
// What counts: a DHCPACK from the server (UDP 67 -> 68) records yiaddr for
// chaddr with the subnet mask (option 1) and lease time (option 51); a
// DHCPNAK from the server or a DHCPRELEASE from the guest forgets chaddr's
// lease; a lease is dropped when its time runs out. The frames are the
// guest's and slirp's: every field is bounds-checked, and anything that is
// not a well-formed BOOTP message over unfragmented IPv4/UDP is ignored.
//
// Thread-safety: observe() and leases() may be called from any threads
// (a mutex guards the table).
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

namespace amber::hv::net {

// At most this many clients are tracked (a guest could make up MACs); the
// oldest lease goes first.
inline constexpr size_t kMaxDhcpLeases = 16;

enum class DhcpEvent { kAck, kNak, kRelease };

// One DHCP message that changes a lease, as parsed from an Ethernet frame.
struct DhcpMessage {
  DhcpEvent event = DhcpEvent::kAck;
  std::array<uint8_t, 6> mac{};  // chaddr
  uint32_t address = 0;          // yiaddr (kAck) or ciaddr (kRelease), host order
  unsigned prefix = 0;           // from option 1; 0 when absent
  uint32_t lease_seconds = 0;    // option 51; 0 when absent
};

// The DHCP message in FRAME, or nullopt when FRAME is anything else.
std::optional<DhcpMessage> parse_dhcp(std::span<const uint8_t> frame);

struct DhcpLease {
  std::array<uint8_t, 6> mac{};
  uint32_t address = 0;    // host order
  unsigned prefix = 0;     // 0: the server gave no mask
  int64_t expires_ms = 0;  // on the steady clock; INT64_MAX for an infinite lease
  bool operator==(const DhcpLease&) const = default;
};

class DhcpSnoop {
 public:
  // Looks at one frame (either direction) seen at NOW_MS.
  void observe(std::span<const uint8_t> frame, int64_t now_ms);
  // The leases still valid at NOW_MS, oldest first.
  std::vector<DhcpLease> leases(int64_t now_ms) const;

 private:
  mutable std::mutex mutex_;
  std::vector<DhcpLease> leases_;
};

// Milliseconds on the steady clock (the clock DhcpSnoop's times use).
int64_t steady_now_ms();

}  // namespace amber::hv::net
