// SPDX-License-Identifier: GPL-2.0-or-later
// DhcpSnoop over synthetic frames: the leases a DHCPACK gives, what NAK,
// RELEASE and expiry take away, and hostile frames (truncated, mutated,
// options running past the end) that must parse to nothing without a
// crash (also under ASan).
#include "hv/net/dhcp_snoop.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace amber::hv::net {
namespace {

constexpr std::array<uint8_t, 6> kMac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

void put16(std::vector<uint8_t>& b, size_t at, uint16_t v) {
  b[at] = static_cast<uint8_t>(v >> 8);
  b[at + 1] = static_cast<uint8_t>(v);
}

void put32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}

// A /24 mask and a day's lease.
constexpr uint8_t kAckOptions[] = {1, 4, 255, 255, 255, 0, 51, 4, 0, 1, 0x51, 0x80};

struct Message {
  bool from_server = true;
  uint8_t type = 5;              // DHCPACK
  uint32_t yiaddr = 0x0A00020F;  // 10.0.2.15
  uint32_t ciaddr = 0;
  std::vector<uint8_t> options{std::begin(kAckOptions), std::end(kAckOptions)};
  std::array<uint8_t, 6> mac = kMac;
};

// Ethernet + IPv4 + UDP + BOOTP, as slirp's DHCP server or a guest sends it.
std::vector<uint8_t> frame(const Message& m) {
  constexpr size_t kBootp = 14 + 20 + 8;
  const size_t bootp_size = 240 + 3 + m.options.size() + 1;
  std::vector<uint8_t> f(kBootp + bootp_size, 0);
  put16(f, 12, 0x0800);
  f[14] = 0x45;
  put16(f, 16, static_cast<uint16_t>(20 + 8 + bootp_size));
  f[14 + 9] = 17;
  put16(f, 34, m.from_server ? 67 : 68);
  put16(f, 36, m.from_server ? 68 : 67);
  put16(f, 38, static_cast<uint16_t>(8 + bootp_size));
  f[kBootp] = m.from_server ? 2 : 1;
  f[kBootp + 1] = 1;
  f[kBootp + 2] = 6;
  put32(f, kBootp + 12, m.ciaddr);
  put32(f, kBootp + 16, m.yiaddr);
  for (size_t i = 0; i < m.mac.size(); ++i) f[kBootp + 28 + i] = m.mac[i];
  put32(f, kBootp + 236, 0x63825363);
  size_t at = kBootp + 240;
  f[at++] = 53;
  f[at++] = 1;
  f[at++] = m.type;
  for (uint8_t byte : m.options) f[at++] = byte;
  f[at] = 255;
  return f;
}

TEST(DhcpSnoop, AckGivesALeaseWithPrefixAndExpiry) {
  DhcpSnoop snoop;
  snoop.observe(frame({}), 1000);
  const auto leases = snoop.leases(1000);
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].mac, kMac);
  EXPECT_EQ(leases[0].address, 0x0A00020Fu);
  EXPECT_EQ(leases[0].prefix, 24u);
  EXPECT_EQ(leases[0].expires_ms, 1000 + 86400 * 1000);
  EXPECT_EQ(snoop.leases(1000 + 86400 * 1000 - 1).size(), 1u);
  EXPECT_TRUE(snoop.leases(1000 + 86400 * 1000).empty());  // ran out
}

TEST(DhcpSnoop, ARenewalReplacesTheLease) {
  DhcpSnoop snoop;
  snoop.observe(frame({}), 0);
  Message renewed;
  renewed.yiaddr = 0x0A000210;
  snoop.observe(frame(renewed), 5000);
  const auto leases = snoop.leases(5000);
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].address, 0x0A000210u);
  EXPECT_EQ(leases[0].expires_ms, 5000 + 86400 * 1000);
}

TEST(DhcpSnoop, NakAndReleaseForgetTheLease) {
  DhcpSnoop snoop;
  snoop.observe(frame({}), 0);
  Message nak;
  nak.type = 6;
  nak.yiaddr = 0;
  snoop.observe(frame(nak), 1);
  EXPECT_TRUE(snoop.leases(1).empty());

  snoop.observe(frame({}), 2);
  Message release;
  release.from_server = false;
  release.type = 7;
  release.ciaddr = 0x0A00020F;
  release.options.clear();
  snoop.observe(frame(release), 3);
  EXPECT_TRUE(snoop.leases(3).empty());
}

TEST(DhcpSnoop, OtherMessagesAreNotLeases) {
  DhcpSnoop snoop;
  Message offer;
  offer.type = 2;  // DHCPOFFER: not yet the guest's
  snoop.observe(frame(offer), 0);
  Message request;
  request.from_server = false;
  request.type = 3;
  snoop.observe(frame(request), 0);
  Message spoofed = {};
  spoofed.from_server = false;  // an "ACK" from the client's port
  snoop.observe(frame(spoofed), 0);
  EXPECT_TRUE(snoop.leases(0).empty());

  std::vector<uint8_t> fragment = frame({});
  fragment[14 + 6] = 0x20;  // more fragments
  EXPECT_FALSE(parse_dhcp(fragment));
  std::vector<uint8_t> tcp = frame({});
  tcp[14 + 9] = 6;
  EXPECT_FALSE(parse_dhcp(tcp));
  std::vector<uint8_t> arp = frame({});
  put16(arp, 12, 0x0806);
  EXPECT_FALSE(parse_dhcp(arp));
  std::vector<uint8_t> cookie = frame({});
  cookie[14 + 20 + 8 + 236] = 0;
  EXPECT_FALSE(parse_dhcp(cookie));
}

TEST(DhcpSnoop, MasksAndLeaseTimes) {
  Message odd;
  odd.options = {1, 4, 255, 0, 255, 0};  // not contiguous: no prefix; no lease time
  auto parsed = parse_dhcp(frame(odd));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->prefix, 0u);
  DhcpSnoop snoop;
  snoop.observe(frame(odd), 0);
  ASSERT_EQ(snoop.leases(INT64_MAX - 1).size(), 1u);  // kept: no time given
  Message infinite;
  infinite.options = {1, 4, 255, 255, 0, 0, 51, 4, 0xFF, 0xFF, 0xFF, 0xFF};
  parsed = parse_dhcp(frame(infinite));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->prefix, 16u);
  EXPECT_EQ(parsed->lease_seconds, 0xFFFFFFFFu);
}

TEST(DhcpSnoop, OptionsPastTheEndAreRefused) {
  Message bad;
  bad.options = {51, 200, 0, 0};  // a length beyond the message
  std::vector<uint8_t> f = frame(bad);
  f.pop_back();  // no end option either
  put16(f, 16, static_cast<uint16_t>(f.size() - 14));
  put16(f, 38, static_cast<uint16_t>(f.size() - 34));
  EXPECT_FALSE(parse_dhcp(f));
  // A UDP length over the IP payload.
  std::vector<uint8_t> g = frame({});
  put16(g, 38, 0xFFFF);
  EXPECT_FALSE(parse_dhcp(g));
  // An IP total length over the frame.
  std::vector<uint8_t> h = frame({});
  put16(h, 16, 0xFFFF);
  EXPECT_FALSE(parse_dhcp(h));
}

TEST(DhcpSnoop, EveryTruncationParsesToNothing) {
  const std::vector<uint8_t> full = frame({});
  ASSERT_TRUE(parse_dhcp(full));
  for (size_t n = 0; n < full.size(); ++n)
    EXPECT_FALSE(parse_dhcp(std::span<const uint8_t>(full.data(), n))) << n;
}

TEST(DhcpSnoop, MutatedFramesNeverCrash) {
  std::mt19937 rng(12);
  const std::vector<uint8_t> full = frame({});
  DhcpSnoop snoop;
  for (int round = 0; round < 20000; ++round) {
    std::vector<uint8_t> f = full;
    const int flips = 1 + static_cast<int>(rng() % 8);
    for (int i = 0; i < flips; ++i) f[rng() % f.size()] = static_cast<uint8_t>(rng());
    if (rng() % 4 == 0) f.resize(rng() % (f.size() + 1));
    snoop.observe(f, round);
  }
  EXPECT_LE(snoop.leases(0).size(), kMaxDhcpLeases);
}

TEST(DhcpSnoop, TheTableIsBounded) {
  DhcpSnoop snoop;
  for (unsigned i = 0; i < kMaxDhcpLeases + 5; ++i) {
    Message m;
    m.mac[5] = static_cast<uint8_t>(i);
    m.yiaddr = 0x0A000200 + i;
    snoop.observe(frame(m), 0);
  }
  const auto leases = snoop.leases(0);
  ASSERT_EQ(leases.size(), kMaxDhcpLeases);
  EXPECT_EQ(leases.front().mac[5], 5);  // the oldest went first
  EXPECT_EQ(leases.back().address, 0x0A000200u + kMaxDhcpLeases + 4);
}

}  // namespace
}  // namespace amber::hv::net
