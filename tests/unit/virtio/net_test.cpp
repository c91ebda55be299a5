// SPDX-License-Identifier: GPL-2.0-or-later
// virtio-net over synthetic guest memory: identity, features and config;
// TX with checksum completion and software TSO; RX with and without
// mergeable buffers, held frames; the control queue and the RX filter;
// hostile chains (short headers, bad GSO fields, random bytes, loops).
#include <gtest/gtest.h>

#include <mutex>
#include <random>

#include "hv/net/backend.h"
#include "hv/pci/pci_device.h"
#include "hv/virtio/net_device.h"
#include "hv/virtio/net_pci.h"
#include "hv/virtio/pci_transport.h"
#include "virtio_test_support.h"

namespace amber::hv::virtio {
namespace {

using test::Buf;
using test::GuestRam;
using test::TestRing;

class CountingSignals final : public DeviceSignals {
 public:
  void notify_queue(unsigned) override { ++notified; }
  void needs_reset(const Error&) override { ++resets; }
  std::atomic<int> notified{0}, resets{0};
};

class RecordingBackend final : public net::NetBackend {
 public:
  Result<void> start(net::FrameSink& s) override {
    sink = &s;
    return ok();
  }
  net::SendResult send(std::span<const uint8_t> frame) override {
    std::lock_guard lock(mutex);
    sent.emplace_back(frame.begin(), frame.end());
    return net::SendResult::kSent;
  }
  void wake() override { ++wakes; }
  void stop() override {}
  std::vector<std::vector<uint8_t>> frames() {
    std::lock_guard lock(mutex);
    return sent;
  }
  std::mutex mutex;
  std::vector<std::vector<uint8_t>> sent;
  net::FrameSink* sink = nullptr;
  std::atomic<int> wakes{0};
};

constexpr std::array<uint8_t, 6> kMac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
constexpr uint64_t kModern = feature_bit(kFeatureVersion1) | feature_bit(kNetFeatureMrgRxbuf) |
                             feature_bit(kNetFeatureCtrlVq) | feature_bit(kNetFeatureCtrlRx) |
                             feature_bit(kNetFeatureHostTso4) | feature_bit(kNetFeatureHostTso6) |
                             feature_bit(kNetFeatureCsum);

uint16_t fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}
uint64_t sum16(const std::vector<uint8_t>& p, size_t begin, size_t end) {
  uint64_t s = 0;
  for (size_t i = begin; i < end; ++i) s += ((i - begin) & 1) ? p[i] : uint64_t{p[i]} << 8;
  return s;
}
unsigned be16(const std::vector<uint8_t>& p, size_t at) {
  return p[at] << 8 | p[at + 1];
}

// An Ethernet + IPv4 + TCP (or UDP) frame with `payload` bytes.
std::vector<uint8_t> ipv4_frame(size_t payload, uint8_t protocol = 6) {
  const size_t l4_len = protocol == 6 ? 20 : 8;
  std::vector<uint8_t> f(14 + 20 + l4_len + payload, 0);
  std::copy(kMac.begin(), kMac.end(), f.begin());
  f[6] = 0x52;
  f[11] = 1;
  f[12] = 0x08;
  f[14] = 0x45;
  const size_t total = 20 + l4_len + payload;
  f[16] = static_cast<uint8_t>(total >> 8);
  f[17] = static_cast<uint8_t>(total);
  f[18] = 0x12;  // id 0x1234
  f[19] = 0x34;
  f[22] = 64;
  f[23] = protocol;
  const uint8_t addresses[8] = {10, 0, 2, 15, 10, 0, 2, 2};
  std::copy(addresses, addresses + 8, f.begin() + 26);
  f[34] = 0x04;  // source port 1025
  f[35] = 0x01;
  f[37] = 80;
  if (protocol == 6) {
    f[38] = 0x10;  // seq 0x10000000
    f[46] = 0x50;  // data offset 5
    f[47] = 0x19;  // ACK PSH FIN
  } else {
    f[38] = static_cast<uint8_t>((8 + payload) >> 8);
    f[39] = static_cast<uint8_t>(8 + payload);
  }
  for (size_t i = 0; i < payload; ++i) f[14 + 20 + l4_len + i] = static_cast<uint8_t>(i * 7);
  return f;
}

// The TCP/UDP checksum of an IPv4 frame verifies.
bool l4_checksum_ok(const std::vector<uint8_t>& f) {
  const size_t l4 = 34;
  uint64_t s = sum16(f, 26, 34) + f[23] + (f.size() - l4);
  s = sum16(f, l4, f.size()) + s;
  return fold(s) == 0xffff;
}

class NetTest : public ::testing::Test {
 protected:
  void make(unsigned pairs = 1) {
    auto backend = std::make_unique<RecordingBackend>();
    backend_ = backend.get();
    auto d = NetDevice::create({kMac, pairs}, ram_.memory, signals_, std::move(backend));
    ASSERT_TRUE(d.ok()) << d.error().message();
    device_ = std::move(d).value();
    ASSERT_TRUE(device_->start().ok());
  }
  void SetUp() override { make(); }
  void activate(uint64_t features) {
    std::memset(ram_.at(0x10000), 0, 0x30000);  // fresh rings
    rx_ = std::make_unique<TestRing>(ram_, 0x10000, 256);
    tx_ = std::make_unique<TestRing>(ram_, 0x20000, 256);
    ctrl_ = std::make_unique<TestRing>(ram_, 0x30000, 64);
    std::vector<QueueLayout> layouts(device_->num_queues());
    layouts[0] = {256, rx_->desc(), rx_->avail(), rx_->used()};
    layouts[1] = {256, tx_->desc(), tx_->avail(), tx_->used()};
    layouts[device_->control_queue()] = {64, ctrl_->desc(), ctrl_->avail(), ctrl_->used()};
    ASSERT_TRUE(device_->activate(features | feature_bit(kFeatureIndirectDesc), layouts).ok());
  }
  // A chain over host memory (as the queue hands it to transmit()).
  DescriptorChain chain_of(std::vector<std::vector<uint8_t>>& parts) {
    DescriptorChain c;
    for (auto& p : parts) c.segments.push_back({p.data(), static_cast<uint32_t>(p.size()), false});
    return c;
  }
  std::vector<uint8_t> header(uint8_t flags, uint8_t gso, uint16_t hdr_len, uint16_t gso_size,
                              uint16_t start, uint16_t offset, unsigned size = 12) {
    std::vector<uint8_t> h(size, 0);
    h[0] = flags;
    h[1] = gso;
    std::memcpy(&h[2], &hdr_len, 2);
    std::memcpy(&h[4], &gso_size, 2);
    std::memcpy(&h[6], &start, 2);
    std::memcpy(&h[8], &offset, 2);
    return h;
  }
  // Posts `count` writable RX buffers of `size` bytes each.
  std::vector<uint64_t> post_rx(unsigned count, uint32_t size) {
    std::vector<uint64_t> buffers;
    for (unsigned i = 0; i < count; ++i) {
      const uint64_t gpa = ram_.alloc(size);
      buffers.push_back(gpa);
      rx_->publish(rx_->build({{gpa, size, true}}));
    }
    return buffers;
  }
  // Sends one control command; returns the ack byte (0xEE: none written).
  uint8_t control(std::vector<uint8_t> request) {
    const uint64_t in = ram_.alloc(request.size());
    std::memcpy(ram_.at(in), request.data(), request.size());
    const uint64_t ack = ram_.alloc(1);
    ram_.put<uint8_t>(ack, 0xEE);
    const uint16_t before = ctrl_->used_idx();
    ctrl_->publish(
        ctrl_->build({{in, static_cast<uint32_t>(request.size()), false}, {ack, 1, true}}));
    device_->kick(device_->control_queue());
    EXPECT_TRUE(ctrl_->wait_used(static_cast<uint16_t>(before + 1)));
    return ram_.get<uint8_t>(ack);
  }

  GuestRam ram_;
  CountingSignals signals_;
  RecordingBackend* backend_ = nullptr;
  std::unique_ptr<NetDevice> device_;
  std::unique_ptr<TestRing> rx_, tx_, ctrl_;
};

TEST_F(NetTest, IdentityFeaturesAndConfig) {
  EXPECT_EQ(device_->identity().transitional_id, 0x1000);
  EXPECT_EQ(device_->identity().device_type, 1);
  EXPECT_EQ(device_->identity().class_code, 0x020000u);
  EXPECT_EQ(device_->num_queues(), 3u);
  const uint64_t f = device_->device_features();
  for (unsigned bit : {0u, 1u, 5u, 7u, 8u, 11u, 12u, 15u, 16u, 17u, 18u})
    EXPECT_NE(f & feature_bit(bit), 0u) << bit;
  EXPECT_EQ(f & feature_bit(kNetFeatureMq), 0u);
  uint8_t config[12];
  device_->read_config(0, config);
  EXPECT_EQ(0, std::memcmp(config, kMac.data(), 6));
  EXPECT_EQ(config[6], 1);  // LINK_UP
  EXPECT_EQ(config[8], 1);  // max_virtqueue_pairs
  EXPECT_EQ(config[10], 0);
  make(4);
  EXPECT_EQ(device_->num_queues(), 9u);
  EXPECT_NE(device_->device_features() & feature_bit(kNetFeatureMq), 0u);
  device_->read_config(8, std::span<uint8_t>(config, 2));
  EXPECT_EQ(config[0], 4);
  // A legacy driver may set the MAC; a reset restores it.
  const uint8_t other[6] = {0x52, 0x54, 0, 0, 0, 9};
  device_->write_config(0, other);
  EXPECT_EQ(device_->mac()[5], 9);
  device_->reset();
  EXPECT_EQ(device_->mac(), kMac);
  EXPECT_FALSE(NetDevice::create({kMac, 0}, ram_.memory, signals_, nullptr).ok());
  EXPECT_FALSE(NetDevice::create({kMac, 32}, ram_.memory, signals_, nullptr).ok());
}

TEST_F(NetTest, TransmitThroughTheRing) {
  activate(kModern);
  const std::vector<uint8_t> frame = ipv4_frame(100);
  const uint64_t h = ram_.alloc(12), d = ram_.alloc(frame.size());
  std::memset(ram_.at(h), 0, 12);
  std::memcpy(ram_.at(d), frame.data(), frame.size());
  tx_->publish(tx_->build({{h, 12, false}, {d, static_cast<uint32_t>(frame.size()), false}}));
  device_->kick(1);
  ASSERT_TRUE(tx_->wait_used(1));
  ASSERT_EQ(backend_->frames().size(), 1u);
  EXPECT_EQ(backend_->frames()[0], frame);
  EXPECT_EQ(device_->stats().snapshot().tx_packets, 1u);
  EXPECT_EQ(device_->stats().snapshot().tx_bytes, frame.size());
}

TEST_F(NetTest, SecondQueuePairTransmits) {
  make(2);
  std::memset(ram_.at(0x10000), 0, 0x30000);
  TestRing tx1(ram_, 0x20000, 256);
  std::vector<QueueLayout> layouts(device_->num_queues());
  layouts[3] = {256, tx1.desc(), tx1.avail(), tx1.used()};  // rx0 tx0 rx1 tx1 ctrl
  ASSERT_TRUE(device_->activate(kModern | feature_bit(kNetFeatureMq), layouts).ok());
  EXPECT_EQ(device_->control_queue(), 4u);
  const std::vector<uint8_t> frame = ipv4_frame(20);
  const uint64_t d = ram_.alloc(12 + frame.size());
  std::memset(ram_.at(d), 0, 12);
  std::memcpy(ram_.at(d + 12), frame.data(), frame.size());
  tx1.publish(tx1.build({{d, static_cast<uint32_t>(12 + frame.size()), false}}));
  device_->kick(3);
  ASSERT_TRUE(tx1.wait_used(1));
  ASSERT_EQ(backend_->frames().size(), 1u);
  EXPECT_EQ(backend_->frames()[0], frame);
  // Frames from the host with no RX ring: dropped and counted.
  device_->receive_frame(frame);
  EXPECT_EQ(device_->stats().snapshot().rx_drops, 1u);
}

TEST_F(NetTest, ChecksumCompletion) {
  activate(kModern);
  std::vector<uint8_t> frame = ipv4_frame(301, 17);
  // The driver leaves the pseudo-header sum in the field (Linux's
  // CHECKSUM_PARTIAL).
  const uint16_t pseudo = fold(sum16(frame, 26, 34) + 17 + (frame.size() - 34));
  frame[40] = static_cast<uint8_t>(pseudo >> 8);
  frame[41] = static_cast<uint8_t>(pseudo);
  std::vector<std::vector<uint8_t>> parts = {header(kNetHdrNeedsCsum, kNetGsoNone, 0, 0, 34, 6),
                                             frame};
  device_->transmit(chain_of(parts));
  ASSERT_EQ(backend_->frames().size(), 1u);
  EXPECT_TRUE(l4_checksum_ok(backend_->frames()[0]));
  // A checksum field outside the frame: sent unchanged, nothing written.
  parts[0] = header(kNetHdrNeedsCsum, kNetGsoNone, 0, 0, 34, 60000);
  device_->transmit(chain_of(parts));
  ASSERT_EQ(backend_->frames().size(), 2u);
  EXPECT_EQ(backend_->frames()[1], frame);
}

TEST_F(NetTest, SoftwareTsoSplitsTcpv4) {
  activate(kModern);
  const std::vector<uint8_t> frame = ipv4_frame(2500);
  std::vector<std::vector<uint8_t>> parts = {
      header(kNetHdrNeedsCsum, kNetGsoTcpv4, 54, 1000, 34, 16), frame};
  device_->transmit(chain_of(parts));
  const auto sent = backend_->frames();
  ASSERT_EQ(sent.size(), 3u);
  size_t payload = 0;
  for (size_t i = 0; i < sent.size(); ++i) {
    const auto& s = sent[i];
    const size_t expect = i < 2 ? 1000 : 500;
    EXPECT_EQ(s.size(), 54 + expect);
    EXPECT_EQ(be16(s, 16), 40 + expect);                                // IP total length
    EXPECT_EQ(be16(s, 18), 0x1234 + i);                                 // IP id
    EXPECT_EQ(fold(sum16(s, 14, 34)), 0xffff) << i;                     // IP header checksum
    EXPECT_TRUE(l4_checksum_ok(s)) << i;                                // TCP checksum
    EXPECT_EQ(be16(s, 38) << 16 | be16(s, 40), 0x10000000u + payload);  // seq
    EXPECT_EQ(s[47], i < 2 ? 0x10 : 0x19);                              // FIN/PSH on the last only
    EXPECT_EQ(0, std::memcmp(s.data() + 54, frame.data() + 54 + payload, expect));
    payload += expect;
  }
  EXPECT_EQ(device_->stats().snapshot().tx_packets, 3u);
}

TEST_F(NetTest, SoftwareTsoSplitsTcpv6) {
  activate(kModern);
  // Ethernet + IPv6 (next header TCP) + TCP with 12 option bytes.
  const size_t payload = 3001, l4 = 54, tcp_hlen = 32;
  std::vector<uint8_t> f(l4 + tcp_hlen + payload, 0);
  std::copy(kMac.begin(), kMac.end(), f.begin());
  f[12] = 0x86;
  f[13] = 0xdd;
  f[14] = 0x60;
  f[20] = 6;   // next header
  f[21] = 64;  // hop limit
  f[22] = 0xfe;
  f[23] = 0x80;
  f[37] = 1;
  f[38] = 0xfe;
  f[39] = 0x80;
  f[53] = 2;
  f[l4 + 12] = static_cast<uint8_t>((tcp_hlen / 4) << 4);
  f[l4 + 13] = 0x18;  // ACK PSH
  for (size_t i = 0; i < payload; ++i) f[l4 + tcp_hlen + i] = static_cast<uint8_t>(i * 3);
  std::vector<std::vector<uint8_t>> parts = {
      header(kNetHdrNeedsCsum, kNetGsoTcpv6, 0, 1400, static_cast<uint16_t>(l4), 16), f};
  device_->transmit(chain_of(parts));
  const auto sent = backend_->frames();
  ASSERT_EQ(sent.size(), 3u);
  for (size_t i = 0; i < sent.size(); ++i) {
    const auto& s = sent[i];
    const size_t data = i < 2 ? 1400 : payload - 2800;
    EXPECT_EQ(s.size(), l4 + tcp_hlen + data);
    EXPECT_EQ(be16(s, 18), tcp_hlen + data);  // IPv6 payload length
    const uint64_t pseudo = sum16(s, 22, 54) + 6 + (s.size() - l4);
    EXPECT_EQ(fold(pseudo + sum16(s, l4, s.size())), 0xffff) << i;
    EXPECT_EQ(s[l4 + 13], i < 2 ? 0x10 : 0x18);
  }
}

TEST_F(NetTest, MergeableReceive) {
  activate(kModern);
  const auto buffers = post_rx(4, 600);
  const std::vector<uint8_t> frame = ipv4_frame(1460);  // 1514 bytes
  ASSERT_TRUE(device_->can_receive());
  device_->receive_frame(frame);
  ASSERT_EQ(rx_->used_idx(), 3);  // 12 + 1514 bytes over 600-byte buffers
  EXPECT_EQ(rx_->used_len(0), 600u);
  EXPECT_EQ(rx_->used_len(1), 600u);
  EXPECT_EQ(rx_->used_len(2), 12 + frame.size() - 1200);
  EXPECT_EQ(ram_.get<uint16_t>(buffers[0] + 10), 3);  // num_buffers
  std::vector<uint8_t> got;
  for (unsigned i = 0; i < 3; ++i)
    got.insert(got.end(), ram_.at(buffers[i]), ram_.at(buffers[i]) + rx_->used_len(i));
  EXPECT_EQ(std::vector<uint8_t>(got.begin() + 12, got.end()), frame);
  EXPECT_EQ(device_->stats().snapshot().rx_packets, 1u);
  EXPECT_GT(signals_.notified.load(), 0);
}

TEST_F(NetTest, LegacyReceiveKeepsTooSmallBuffers) {
  activate(0);  // legacy, no MRG_RXBUF: a 10-byte header, one chain per frame
  const auto buffers = post_rx(1, 100);
  device_->receive_frame(ipv4_frame(500));
  EXPECT_EQ(rx_->used_idx(), 0);
  EXPECT_EQ(device_->stats().snapshot().rx_drops, 1u);
  const std::vector<uint8_t> small = ipv4_frame(10);
  device_->receive_frame(small);
  ASSERT_EQ(rx_->used_idx(), 1);
  EXPECT_EQ(rx_->used_len(0), 10 + small.size());
  EXPECT_EQ(0, std::memcmp(ram_.at(buffers[0] + 10), small.data(), small.size()));
}

TEST_F(NetTest, HeldFramesArriveAfterAKick) {
  activate(kModern);
  const std::vector<uint8_t> frame = ipv4_frame(64);
  device_->receive_frame(frame);  // no buffers yet: held
  EXPECT_EQ(rx_->used_idx(), 0);
  for (size_t i = 0; i < 200; ++i) device_->receive_frame(frame);
  EXPECT_FALSE(device_->can_receive());  // the held queue is full
  EXPECT_GT(device_->stats().snapshot().rx_drops, 0u);
  post_rx(2, 2048);
  device_->kick(0);
  ASSERT_TRUE(rx_->wait_used(2));
  EXPECT_GT(backend_->wakes.load(), 0);
}

TEST_F(NetTest, ControlQueueAndFilter) {
  activate(kModern);
  std::vector<uint8_t> unicast_other(14, 0);
  unicast_other[0] = 0x52;
  unicast_other[5] = 0x77;
  EXPECT_TRUE(device_->accepts(unicast_other));        // promiscuous after reset, as QEMU
  EXPECT_EQ(control({kNetCtrlRx, 0, 0}), kNetCtrlOk);  // promisc off
  EXPECT_FALSE(device_->accepts(unicast_other));
  std::vector<uint8_t> ours(14, 0);
  std::copy(kMac.begin(), kMac.end(), ours.begin());
  EXPECT_TRUE(device_->accepts(ours));
  std::vector<uint8_t> broadcast(14, 0xff);
  EXPECT_TRUE(device_->accepts(broadcast));
  EXPECT_EQ(control({kNetCtrlRx, 5, 1}), kNetCtrlOk);  // nobcast
  EXPECT_FALSE(device_->accepts(broadcast));
  // MAC table: one unicast, no multicast entries.
  EXPECT_EQ(control({kNetCtrlMac, 0, 1, 0, 0, 0, 0x52, 0, 0, 0, 0, 0x77, 0, 0, 0, 0}), kNetCtrlOk);
  EXPECT_TRUE(device_->accepts(unicast_other));
  // A table claiming more entries than it holds is refused.
  EXPECT_EQ(control({kNetCtrlMac, 0, 9, 0, 0, 0, 1, 2}), kNetCtrlErr);
  // MQ without the feature, unknown classes: ERR as QEMU.
  EXPECT_EQ(control({kNetCtrlMq, 0, 1, 0}), kNetCtrlErr);
  EXPECT_EQ(control({9, 9}), kNetCtrlErr);
  EXPECT_EQ(control({kNetCtrlRx}), kNetCtrlErr);
  device_.reset();
  make(2);
  activate(kModern | feature_bit(kNetFeatureMq));
  EXPECT_EQ(control({kNetCtrlMq, 0, 2, 0}), kNetCtrlOk);
  EXPECT_EQ(control({kNetCtrlMq, 0, 3, 0}), kNetCtrlErr);
  EXPECT_EQ(control({kNetCtrlMq, 0, 0, 0}), kNetCtrlErr);
}

TEST_F(NetTest, HostileTransmitIsCountedNotFatal) {
  activate(kModern);
  // A header shorter than virtio_net_hdr.
  std::vector<std::vector<uint8_t>> parts = {std::vector<uint8_t>(7, 0)};
  device_->transmit(chain_of(parts));
  // GSO with mss 0, csum_start beyond the frame, a UDP GSO type.
  for (auto h : {header(1, kNetGsoTcpv4, 0, 0, 34, 16), header(1, kNetGsoTcpv4, 0, 100, 9000, 16),
                 header(1, kNetGsoUdp, 0, 100, 34, 6), header(1, kNetGsoTcpv6, 0, 100, 34, 16)}) {
    parts = {h, ipv4_frame(3000)};
    device_->transmit(chain_of(parts));
  }
  EXPECT_EQ(device_->stats().snapshot().tx_errors, 5u);
  EXPECT_TRUE(backend_->frames().empty());
  // Random headers and frames never crash (ASan checks the bounds).
  std::mt19937 rng(7);
  for (int i = 0; i < 3000; ++i) {
    std::vector<uint8_t> h =
        header(static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng() % 6),
               static_cast<uint16_t>(rng()), static_cast<uint16_t>(rng() % 2000),
               static_cast<uint16_t>(rng() % 200), static_cast<uint16_t>(rng()));
    std::vector<uint8_t> f = ipv4_frame(rng() % 4000, rng() % 2 ? 6 : 17);
    for (int k = 0; k < 8; ++k) f[rng() % f.size()] = static_cast<uint8_t>(rng());
    parts = {h, f};
    device_->transmit(chain_of(parts));
  }
  // A descriptor loop on the TX ring: NEEDS_RESET, no hang.
  tx_->set_desc(0, ram_.alloc(64), 64, kDescFlagNext, 1);
  tx_->set_desc(1, ram_.alloc(64), 64, kDescFlagNext, 0);
  tx_->publish(0);
  device_->kick(1);
  for (int i = 0; i < 5000 && signals_.resets.load() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(signals_.resets.load(), 1);
}

TEST_F(NetTest, ResetWhileTheGuestFloodsBothWays) {
  activate(kModern);
  const std::vector<uint8_t> frame = ipv4_frame(60);
  const uint64_t d = ram_.alloc(12 + frame.size());
  std::memset(ram_.at(d), 0, 12);
  std::memcpy(ram_.at(d + 12), frame.data(), frame.size());
  // The guest's side: TX chains as fast as the device uses them, RX
  // buffers, and a backend thread delivering frames all the while.
  post_rx(200, 2048);
  std::atomic<bool> stop{false};
  std::thread guest([&] {
    for (uint16_t n = 0; !stop.load(); ++n) {
      tx_->set_desc(static_cast<uint16_t>(n % 256), d, static_cast<uint32_t>(12 + frame.size()), 0,
                    0);
      tx_->publish(static_cast<uint16_t>(n % 256));
      device_->kick(1);
      while (!stop.load() && static_cast<uint16_t>(n + 1 - tx_->used_idx()) > 128)
        std::this_thread::yield();
    }
  });
  std::thread host([&] {
    while (!stop.load()) {
      if (device_->can_receive()) device_->receive_frame(frame);
      std::this_thread::yield();
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto started = std::chrono::steady_clock::now();
  device_->reset();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  EXPECT_FALSE(device_->active());
  stop.store(true);
  guest.join();
  host.join();
  EXPECT_GT(backend_->frames().size(), 0u);
  EXPECT_GT(device_->stats().snapshot().rx_packets, 0u);
  EXPECT_EQ(signals_.resets.load(), 0);
}

TEST_F(NetTest, HostileReceiveRings) {
  activate(kModern);
  // Chains without writable bytes (readable-only buffers) and a buffer
  // outside RAM: the frame cannot land; the ring breaks cleanly.
  for (int i = 0; i < 8; ++i) rx_->publish(rx_->build({{ram_.alloc(64), 64, false}}));
  rx_->publish(rx_->build({{GuestRam::kRamEnd + 4096, 2048, true}}));
  device_->receive_frame(ipv4_frame(1400));
  EXPECT_EQ(signals_.resets.load(), 1);
  EXPECT_FALSE(device_->can_receive());
  device_->receive_frame(ipv4_frame(10));  // after the break: dropped, no crash
  EXPECT_GT(device_->stats().snapshot().rx_drops, 0u);
  // A control chain without room for the ack breaks the control queue.
  activate(kModern);
  const uint64_t in = ram_.alloc(3);
  ctrl_->publish(ctrl_->build({{in, 3, false}}));
  device_->kick(device_->control_queue());
  for (int i = 0; i < 5000 && signals_.resets.load() < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(signals_.resets.load(), 2);
}

TEST(NetPci, IdentityAndPatchedRom) {
  GuestRam ram;
  test::FakeInterrupts interrupts;
  test::FakeIoEvents io_events;
  // A 4 KiB image naming 1af4:1041 (as efi-virtio.rom does), summing to 0.
  std::vector<uint8_t> rom(4096, 0);
  rom[0] = 0x55;
  rom[1] = 0xaa;
  rom[2] = 8;
  rom[0x18] = 0x20;
  std::memcpy(&rom[0x20], "PCIR", 4);
  rom[0x24] = 0xf4;
  rom[0x25] = 0x1a;
  rom[0x26] = 0x41;
  rom[0x27] = 0x10;
  unsigned sum = 0;
  for (uint8_t b : rom) sum += b;
  rom[6] = static_cast<uint8_t>(-sum);
  auto made = make_virtio_net_pci({kMac, 1}, nullptr, rom, ram.memory, interrupts, io_events, 3);
  ASSERT_TRUE(made.ok()) << made.error().message();
  VirtioPciTransport& pci = *made->transport;
  EXPECT_EQ(pci.config_read(0, 4), 0x10001af4u);
  EXPECT_EQ(pci.config_read(8, 4) >> 8, 0x020000u);  // class
  EXPECT_EQ(pci.config_read(0x2c, 4), 0x00011af4u);  // subsystem: virtio device type 1
  std::vector<uint8_t> read(rom.size());
  for (size_t i = 0; i < read.size(); i += 4)
    pci.bar_read(pci::kRomBarIndex, i, std::span<uint8_t>(&read[i], 4));
  EXPECT_EQ(read[0x26] | read[0x27] << 8, 0x1000);  // PCIR device patched
  unsigned patched_sum = 0;
  for (uint8_t b : read) patched_sum += b;
  EXPECT_EQ(patched_sum % 256, 0u);  // still a valid image
  uint8_t beyond[4] = {1, 1, 1, 1};
  pci.bar_read(pci::kRomBarIndex, 1 << 20, beyond);
  EXPECT_EQ(beyond[0], 0);
  EXPECT_EQ(made->device->num_queues(), 3u);
}

}  // namespace
}  // namespace amber::hv::virtio
