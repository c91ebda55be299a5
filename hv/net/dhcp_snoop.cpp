// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/net/dhcp_snoop.h"

#include <algorithm>
#include <chrono>
#include <limits>

namespace amber::hv::net {
namespace {

constexpr size_t kEthernetHeader = 14;
constexpr size_t kUdpHeader = 8;
constexpr size_t kBootpFixed = 236;  // op .. file, before the magic cookie
constexpr uint8_t kMagicCookie[4] = {99, 130, 83, 99};

constexpr uint8_t kOptionPad = 0;
constexpr uint8_t kOptionSubnetMask = 1;
constexpr uint8_t kOptionLeaseTime = 51;
constexpr uint8_t kOptionMessageType = 53;
constexpr uint8_t kOptionEnd = 255;

constexpr uint8_t kDhcpNak = 6;
constexpr uint8_t kDhcpAck = 5;
constexpr uint8_t kDhcpRelease = 7;

uint16_t be16(std::span<const uint8_t> b, size_t at) {
  return static_cast<uint16_t>(b[at] << 8 | b[at + 1]);
}

uint32_t be32(std::span<const uint8_t> b, size_t at) {
  return static_cast<uint32_t>(b[at]) << 24 | static_cast<uint32_t>(b[at + 1]) << 16 |
         static_cast<uint32_t>(b[at + 2]) << 8 | b[at + 3];
}

// The prefix length of a contiguous netmask; nullopt for a non-contiguous one.
std::optional<unsigned> mask_prefix(uint32_t mask) {
  unsigned prefix = 0;
  while (prefix < 32 && (mask & (0x80000000u >> prefix)) != 0) ++prefix;
  const uint32_t expected = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  if (mask != expected) return std::nullopt;
  return prefix;
}

}  // namespace

std::optional<DhcpMessage> parse_dhcp(std::span<const uint8_t> frame) {
  if (frame.size() < kEthernetHeader + 20) return std::nullopt;
  if (be16(frame, 12) != 0x0800) return std::nullopt;  // IPv4 only (slirp sends no VLAN tags)
  const std::span<const uint8_t> ip = frame.subspan(kEthernetHeader);
  if ((ip[0] >> 4) != 4) return std::nullopt;
  const size_t ihl = static_cast<size_t>(ip[0] & 0x0F) * 4;
  const size_t total = be16(ip, 2);
  if (ihl < 20 || total < ihl || total > ip.size()) return std::nullopt;
  if (ip[9] != 17) return std::nullopt;                  // UDP
  if ((be16(ip, 6) & 0x3FFF) != 0) return std::nullopt;  // a fragment (MF or an offset)
  const std::span<const uint8_t> udp = ip.subspan(ihl, total - ihl);
  if (udp.size() < kUdpHeader) return std::nullopt;
  const uint16_t source_port = be16(udp, 0), dest_port = be16(udp, 2);
  const size_t udp_length = be16(udp, 4);
  if (udp_length < kUdpHeader || udp_length > udp.size()) return std::nullopt;
  const bool from_server = source_port == 67 && dest_port == 68;
  const bool from_client = source_port == 68 && dest_port == 67;
  if (!from_server && !from_client) return std::nullopt;
  const std::span<const uint8_t> bootp = udp.subspan(kUdpHeader, udp_length - kUdpHeader);
  if (bootp.size() < kBootpFixed + sizeof kMagicCookie) return std::nullopt;
  const uint8_t op = bootp[0];
  if (op != (from_server ? 2 : 1)) return std::nullopt;     // BOOTREPLY from the server
  if (bootp[1] != 1 || bootp[2] != 6) return std::nullopt;  // Ethernet, 6-byte addresses
  if (!std::equal(std::begin(kMagicCookie), std::end(kMagicCookie), bootp.begin() + kBootpFixed))
    return std::nullopt;

  DhcpMessage message;
  std::copy_n(bootp.begin() + 28, 6, message.mac.begin());
  std::optional<uint8_t> type;
  size_t at = kBootpFixed + sizeof kMagicCookie;
  while (at < bootp.size()) {
    const uint8_t code = bootp[at];
    if (code == kOptionEnd) break;
    if (code == kOptionPad) {
      ++at;
      continue;
    }
    if (at + 2 > bootp.size()) return std::nullopt;
    const size_t length = bootp[at + 1];
    const size_t value = at + 2;
    if (value + length > bootp.size()) return std::nullopt;  // runs past the message
    if (code == kOptionMessageType && length == 1) type = bootp[value];
    if (code == kOptionSubnetMask && length == 4) {
      if (auto prefix = mask_prefix(be32(bootp, value))) message.prefix = *prefix;
    }
    if (code == kOptionLeaseTime && length == 4) message.lease_seconds = be32(bootp, value);
    at = value + length;
  }
  if (!type) return std::nullopt;  // plain BOOTP: no lease to track
  if (from_server && *type == kDhcpAck) {
    message.event = DhcpEvent::kAck;
    message.address = be32(bootp, 16);              // yiaddr
    if (message.address == 0) return std::nullopt;  // an ACK to an INFORM gives no address
  } else if (from_server && *type == kDhcpNak) {
    message.event = DhcpEvent::kNak;
  } else if (from_client && *type == kDhcpRelease) {
    message.event = DhcpEvent::kRelease;
    message.address = be32(bootp, 12);  // ciaddr
  } else {
    return std::nullopt;
  }
  return message;
}

void DhcpSnoop::observe(std::span<const uint8_t> frame, int64_t now_ms) {
  const std::optional<DhcpMessage> message = parse_dhcp(frame);
  if (!message) return;
  std::lock_guard lock(mutex_);
  std::erase_if(leases_, [&](const DhcpLease& lease) { return lease.mac == message->mac; });
  if (message->event != DhcpEvent::kAck) return;
  DhcpLease lease;
  lease.mac = message->mac;
  lease.address = message->address;
  lease.prefix = message->prefix;
  // 0xFFFFFFFF is "infinite" (RFC 2132 9.2); a missing time is kept as infinite too.
  if (message->lease_seconds == 0 || message->lease_seconds == 0xFFFFFFFFu)
    lease.expires_ms = std::numeric_limits<int64_t>::max();
  else
    lease.expires_ms = now_ms + int64_t{message->lease_seconds} * 1000;
  if (leases_.size() >= kMaxDhcpLeases) leases_.erase(leases_.begin());
  leases_.push_back(lease);
}

std::vector<DhcpLease> DhcpSnoop::leases(int64_t now_ms) const {
  std::lock_guard lock(mutex_);
  std::vector<DhcpLease> out;
  for (const DhcpLease& lease : leases_)
    if (lease.expires_ms > now_ms) out.push_back(lease);
  return out;
}

int64_t steady_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace amber::hv::net
