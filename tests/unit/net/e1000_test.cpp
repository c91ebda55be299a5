// SPDX-License-Identifier: GPL-2.0-or-later
// The e1000 model over synthetic guest RAM: identity, EEPROM, PHY,
// interrupts, statistics, the RX filter and ring, TX descriptors and
// offloads. The backend is a fake (what our layer hands the host side).
#include "hv/net/e1000.h"

#include <gtest/gtest.h>

#include "net_test_support.h"

namespace amber::hv::net::test {
namespace {

using namespace e1000;

TEST(E1000, PciIdentityAndBars) {
  Nic nic(std::vector<uint8_t>(40000, 0x55));
  E1000& d = *nic.device;
  EXPECT_EQ(d.config_read(0x00, 4), 0x100e8086u);
  EXPECT_EQ(d.config_read(0x08, 4), 0x02000003u);  // class 020000, rev 03
  EXPECT_EQ(d.config_read(0x2c, 4), 0x11001af4u);
  EXPECT_EQ(d.config_read(0x3d, 1), 1u);  // INTA
  d.config_write(0x10, 4, 0xffffffff);
  EXPECT_EQ(d.config_read(0x10, 4), 0xfffe0000u);  // 128 KiB memory
  d.config_write(0x14, 4, 0xffffffff);
  EXPECT_EQ(d.config_read(0x14, 4), 0xffffffc1u);  // 64 bytes of I/O
  d.config_write(0x30, 4, 0xfffff800);
  EXPECT_EQ(d.config_read(0x30, 4), 0xffff0000u);  // the ROM rounded up to 64 KiB
  std::array<uint8_t, 4> rom{};
  d.bar_read(pci::kRomBarIndex, 39998, rom);
  EXPECT_EQ(rom[0], 0x55);
  EXPECT_EQ(rom[2], 0);  // past the image
  Nic bare;
  bare.device->config_write(0x30, 4, 0xfffff800);
  EXPECT_EQ(bare.device->config_read(0x30, 4), 0u);  // romfile=none: no ROM BAR
}

TEST(E1000, RegistersAfterReset) {
  Nic nic;
  EXPECT_EQ(nic.reg(kStatus), 0x80080783u);  // link up, 1000 Mb/s, full duplex (QEMU 7.2)
  EXPECT_EQ(nic.reg(kCtrl), 0x00140240u);
  EXPECT_EQ(nic.reg(kRa), 0x12005452u);
  EXPECT_EQ(nic.reg(kRa + 4), 0x80005634u);
  nic.set(kStatus, 0);
  EXPECT_EQ(nic.reg(kStatus), 0x80080783u);  // read-only
  nic.set(kRdlen, 0x12345);
  EXPECT_EQ(nic.reg(kRdlen), 0x12300u);  // multiples of 128
  nic.set(kRdh, 0x12345678);
  EXPECT_EQ(nic.reg(kRdh), 0x5678u);
  nic.set(kCtrl, kCtrlRst);  // a software reset restores the registers
  EXPECT_EQ(nic.reg(kRdlen), 0u);
  EXPECT_EQ(nic.reg(kCtrl), 0x00140240u);
}

TEST(E1000, IoAddressAndData) {
  Nic nic;
  auto io_write = [&](uint64_t offset, uint32_t value) {
    uint8_t b[4] = {static_cast<uint8_t>(value), static_cast<uint8_t>(value >> 8),
                    static_cast<uint8_t>(value >> 16), static_cast<uint8_t>(value >> 24)};
    nic.device->bar_write(1, offset, b);
  };
  auto io_read = [&](uint64_t offset) {
    std::array<uint8_t, 4> b{};
    nic.device->bar_read(1, offset, b);
    return static_cast<uint32_t>(b[0] | b[1] << 8 | b[2] << 16) | static_cast<uint32_t>(b[3]) << 24;
  };
  io_write(0, kStatus);
  EXPECT_EQ(io_read(0), kStatus);
  EXPECT_EQ(io_read(4), 0x80080783u);
  io_write(0, kItr);
  io_write(4, 0xabcd);
  EXPECT_EQ(nic.reg(kItr), 0xabcdu);
  io_write(0, 0xfffffff0);  // beyond the registers: masked into them, no crash
  (void)io_read(4);
}

TEST(E1000, EepromByEerdAndMicrowire) {
  Nic nic;
  const auto& e = nic.device->eeprom();
  EXPECT_EQ(e[0], 0x5452);
  EXPECT_EQ(e[1], 0x1200);
  EXPECT_EQ(e[2], 0x5634);
  EXPECT_EQ(e[11], 0x100e);
  EXPECT_EQ(e[13], 0x100e);
  uint16_t sum = 0;
  for (uint16_t w : e) sum = static_cast<uint16_t>(sum + w);
  EXPECT_EQ(sum, 0xbaba);
  for (uint32_t word : {0u, 1u, 2u, 10u, 63u}) {
    nic.set(kEerd, word << 8 | kEerdStart);
    const uint32_t v = nic.reg(kEerd);
    EXPECT_TRUE(v & kEerdDone);
    EXPECT_EQ(v >> 16, e[word]) << word;
  }
  nic.set(kEerd, 64u << 8 | kEerdStart);  // past the EEPROM: done, no data
  EXPECT_EQ(nic.reg(kEerd) >> 16, 0u);
  // Microwire: CS, 110 + address, clocked in; 16 bits out.
  auto microwire = [&](uint32_t word) {
    nic.set(kEecd, kEecdCs);
    const uint32_t bits = 6u << 6 | word;
    for (int i = 8; i >= 0; --i) {
      const uint32_t di = (bits >> i) & 1 ? kEecdDi : 0;
      nic.set(kEecd, kEecdCs | di);
      nic.set(kEecd, kEecdCs | di | kEecdSk);
      nic.set(kEecd, kEecdCs | di);
    }
    uint16_t value = 0;
    for (int i = 0; i < 16; ++i) {
      nic.set(kEecd, kEecdCs | kEecdSk);
      value = static_cast<uint16_t>(value << 1 | ((nic.reg(kEecd) & kEecdDo) ? 1 : 0));
      nic.set(kEecd, kEecdCs);
    }
    nic.set(kEecd, 0);
    return value;
  };
  for (uint32_t word : {0u, 2u, 11u, 63u}) EXPECT_EQ(microwire(word), e[word]) << word;
  EXPECT_TRUE(nic.reg(kEecd) & kEecdPres);
  EXPECT_TRUE(nic.reg(kEecd) & kEecdGnt);
}

TEST(E1000, PhyThroughMdic) {
  Nic nic;
  auto mdic = [&](uint32_t value) {
    nic.set(kMdic, value);
    return nic.reg(kMdic);
  };
  auto read = [&](unsigned phy, unsigned reg) {
    return mdic(reg << kMdicRegShift | phy << kMdicPhyShift | kMdicOpRead);
  };
  EXPECT_EQ(read(1, kPhyId1) & 0xffff, 0x0141u);
  EXPECT_EQ(read(1, kPhyId2) & 0xffff, 0x0c20u);
  const uint32_t bmsr = read(1, kPhyBmsr);
  EXPECT_TRUE(bmsr & kMdicReady);
  EXPECT_FALSE(bmsr & kMdicError);
  EXPECT_EQ(bmsr & (kBmsrLinkUp | kBmsrAnComplete), kBmsrLinkUp | kBmsrAnComplete);
  EXPECT_TRUE(read(2, kPhyId1) & kMdicError);  // only PHY 1 answers
  EXPECT_TRUE(read(1, 0x1f) & kMdicError);     // an unknown register
  EXPECT_TRUE(mdic(kPhyBmsr << kMdicRegShift | 1 << kMdicPhyShift | kMdicOpWrite | 0) &
              kMdicError);  // read-only
  mdic(kPhyAnar << kMdicRegShift | 1 << kMdicPhyShift | kMdicOpWrite | 0x01e1);
  EXPECT_EQ(read(1, kPhyAnar) & 0xffff, 0x01e1u);
  // Restarting autonegotiation completes at once; the bit self-clears.
  mdic(kPhyBmcr << kMdicRegShift | 1 << kMdicPhyShift | kMdicOpWrite | 0x1340);
  EXPECT_EQ(read(1, kPhyBmcr) & 0xffff, 0x1140u);
  EXPECT_TRUE(read(1, kPhyBmsr) & kBmsrAnComplete);
  // MDIC with the interrupt enable raises MDAC.
  nic.reg(kIcr);
  mdic(kPhyId1 << kMdicRegShift | 1 << kMdicPhyShift | kMdicOpRead | kMdicIntEn);
  EXPECT_TRUE(nic.reg(kIcr) & kIcrMdac);
}

TEST(E1000, InterruptCausesAndTheLine) {
  Nic nic;
  nic.set(kIcs, kIcrLsc);
  EXPECT_FALSE(nic.irqs.level);       // masked
  EXPECT_EQ(nic.reg(kIcs), kIcrLsc);  // ICS reads as ICR without clearing
  nic.set(kIms, kIcrLsc | kIcrRxt0);
  EXPECT_TRUE(nic.irqs.level);
  EXPECT_EQ(nic.irqs.last_slot, 5u);
  EXPECT_EQ(nic.irqs.last_pin, 1u);
  // COMMAND's INTx disable holds the line low while it is set.
  nic.device->config_write(pci::kCommand, 2,
                           pci::kCommandMemory | pci::kCommandBusMaster | pci::kCommandIntxDisable);
  EXPECT_FALSE(nic.irqs.level);
  nic.device->config_write(pci::kCommand, 2, pci::kCommandMemory | pci::kCommandBusMaster);
  EXPECT_TRUE(nic.irqs.level);
  EXPECT_EQ(nic.reg(kIms), kIcrLsc | kIcrRxt0);
  EXPECT_EQ(nic.reg(kIcr), kIcrLsc);  // read to clear: the line drops
  EXPECT_FALSE(nic.irqs.level);
  EXPECT_EQ(nic.reg(kIcr), 0u);
  nic.set(kIcs, kIcrRxt0 | kIcrTxdw);
  EXPECT_TRUE(nic.irqs.level);
  nic.set(kImc, kIcrRxt0);
  EXPECT_FALSE(nic.irqs.level);  // TXDW is pending but masked
  nic.set(kIcr, kIcrTxdw);       // write 1 to clear
  EXPECT_EQ(nic.reg(kIcr), kIcrRxt0);
}

TEST(E1000, ReceiveFilter) {
  Nic nic;
  nic.setup_rx(16);
  auto delivered = [&] { return nic.device->stats().snapshot().rx_packets; };
  nic.device->receive_frame(frame_to(kMac, 100));
  EXPECT_EQ(delivered(), 1u);
  const std::array<uint8_t, 6> other = {0x52, 0x54, 0x00, 0x99, 0x99, 0x99};
  nic.device->receive_frame(frame_to(other, 100));
  EXPECT_EQ(delivered(), 1u);  // another unicast: filtered
  const std::array<uint8_t, 6> broadcast = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  nic.device->receive_frame(frame_to(broadcast, 100));
  EXPECT_EQ(delivered(), 2u);
  const std::array<uint8_t, 6> multicast = {0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb};
  nic.device->receive_frame(frame_to(multicast, 100));
  EXPECT_EQ(delivered(), 2u);  // not in the table
  // MTA with MO=0: bits 47:36 of the address: (dst[5] << 8 | dst[4]) >> 4.
  const unsigned hash = ((0xfb << 8 | 0x00) >> 4) & 0xfff;
  nic.set(kMta + 4 * (hash >> 5), 1u << (hash & 31));
  nic.device->receive_frame(frame_to(multicast, 100));
  EXPECT_EQ(delivered(), 3u);
  // A second unicast address in RAL1/RAH1.
  nic.set(kRa + 8, 0x99005452);
  nic.set(kRa + 12, 0x9999 | kRahAv);
  nic.device->receive_frame(frame_to(other, 100));
  EXPECT_EQ(delivered(), 4u);
  // Without BAM broadcast is filtered; UPE takes every unicast.
  nic.set(kRctl, kRctlEn | kRctlSecrc | kRctlUpe);
  nic.device->receive_frame(frame_to(broadcast, 100));
  EXPECT_EQ(delivered(), 4u);
  const std::array<uint8_t, 6> third = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
  nic.device->receive_frame(frame_to(third, 100));
  EXPECT_EQ(delivered(), 5u);
  // Oversized without LPE: dropped by the card (ROC), not a stat drop.
  nic.device->receive_frame(frame_to(kMac, 1600));
  EXPECT_EQ(delivered(), 5u);
  EXPECT_EQ(nic.reg(kRoc), 1u);
  EXPECT_EQ(nic.device->stats().snapshot().rx_drops, 0u);
}

TEST(E1000, ReceiveIntoTheRing) {
  Nic nic;
  nic.setup_rx(8, kRctlEn | kRctlBam);  // FCS counted in the length (no SECRC)
  nic.set(kIms, kIcrRxt0);
  const auto f = frame_to(kMac, 200, 3);
  nic.device->receive_frame(f);
  EXPECT_EQ(nic.rx_status(0), kRxdStatDd | kRxdStatEop | kRxdStatIxsm);
  EXPECT_EQ(nic.rx_length(0), 204u);
  EXPECT_EQ(std::memcmp(nic.rx_buffer(0), f.data(), f.size()), 0);
  EXPECT_EQ(nic.reg(kRdh), 1u);
  EXPECT_TRUE(nic.irqs.level);
  EXPECT_TRUE(nic.reg(kIcr) & kIcrRxt0);
  // A short frame is padded to 60 bytes.
  nic.device->receive_frame(frame_to(kMac, 20));
  EXPECT_EQ(nic.rx_length(1), 64u);
  EXPECT_EQ(nic.rx_buffer(1)[30], 0);
  // Statistics: GPRC clears on read; TORL/TORH clear when the high half is read.
  EXPECT_EQ(nic.reg(kGprc), 2u);
  EXPECT_EQ(nic.reg(kGprc), 0u);
  EXPECT_EQ(nic.reg(kTorl), 204u + 64u);
  EXPECT_EQ(nic.reg(kTorl), 204u + 64u);
  EXPECT_EQ(nic.reg(kTorh), 0u);
  EXPECT_EQ(nic.reg(kTorl), 0u);
  const NicCounters c = nic.device->stats().snapshot();
  EXPECT_EQ(c.rx_packets, 2u);
  EXPECT_EQ(c.rx_bytes, 200u + 60u);
}

TEST(E1000, ReceiveSpansSmallBuffers) {
  Nic nic;
  // 256-byte buffers (BSIZE 11, no BSEX).
  nic.setup_rx(8, kRctlEn | kRctlSecrc | 3u << kRctlSizeShift);
  const auto f = frame_to(kMac, 700, 9);
  nic.device->receive_frame(f);
  for (uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(nic.rx_status(i) & kRxdStatEop, i == 2 ? kRxdStatEop : 0) << i;
    EXPECT_TRUE(nic.rx_status(i) & kRxdStatDd);
    EXPECT_EQ(nic.rx_length(i), i == 2 ? 700u - 512u : 256u);
    EXPECT_EQ(std::memcmp(nic.rx_buffer(i), f.data() + 256 * i, nic.rx_length(i)), 0);
  }
  EXPECT_EQ(nic.reg(kRdh), 3u);
  // BSEX with size 01: 16 KiB buffers.
  nic.set(kRctl, kRctlEn | kRctlSecrc | kRctlLpe | kRctlBsex | 1u << kRctlSizeShift);
  nic.device->receive_frame(frame_to(kMac, 9000));
  EXPECT_EQ(nic.rx_length(3), 9000u);
}

TEST(E1000, TransmitLegacyAndChecksumInsertion) {
  Nic nic;
  nic.setup_tx(8);
  const auto f = frame_to(kMac, 300, 1);
  std::memcpy(nic.ram.at(Nic::kTxBuffers), f.data(), 100);
  std::memcpy(nic.ram.at(Nic::kTxBuffers + 2048), f.data() + 100, 200);
  nic.put_tx(Nic::kTxBuffers, 100 | kTxdCmdRs);
  nic.put_tx(Nic::kTxBuffers + 2048, 200 | kTxdCmdEop | kTxdCmdIfcs | kTxdCmdRs);
  nic.kick();
  ASSERT_EQ(nic.backend->sent.size(), 1u);
  EXPECT_EQ(nic.backend->sent[0], f);
  EXPECT_TRUE(nic.tx_upper(0) & kTxdStatDd);
  EXPECT_TRUE(nic.tx_upper(1) & kTxdStatDd);
  EXPECT_EQ(nic.reg(kTdh), 2u);
  EXPECT_EQ(nic.reg(kIcr) & (kIcrTxdw | kIcrTxqe), kIcrTxdw | kIcrTxqe);
  EXPECT_EQ(nic.reg(kGptc), 1u);
  EXPECT_EQ(nic.device->stats().snapshot().tx_bytes, 300u);
  // IC: the checksum of bytes CSS.. written at CSO.
  auto g = frame_to(kMac, 120, 2);
  g[40] = g[41] = 0;
  std::memcpy(nic.ram.at(Nic::kTxBuffers), g.data(), g.size());
  nic.put_tx(Nic::kTxBuffers, 120 | kTxdCmdEop | kTxdCmdIc | 40u << 16, 20u << 8);
  nic.kick();
  ASSERT_EQ(nic.backend->sent.size(), 2u);
  const auto& sent = nic.backend->sent[1];
  EXPECT_EQ(internet_checksum(sent.data() + 20, sent.size() - 20), 0);
  // Without a backend's room the frame is dropped and counted.
  nic.backend->result = SendResult::kDropped;
  std::memcpy(nic.ram.at(Nic::kTxBuffers), f.data(), 100);
  nic.put_tx(Nic::kTxBuffers, 100 | kTxdCmdEop);
  nic.kick();
  EXPECT_EQ(nic.device->stats().snapshot().tx_drops, 1u);
}

// An IPv4/UDP or TCP packet of `payload` bytes: 14 + 20 + header.
std::vector<uint8_t> ip_packet(bool tcp, size_t payload) {
  const size_t l4 = tcp ? 20 : 8;
  std::vector<uint8_t> p(14 + 20 + l4 + payload);
  auto f = frame_to({0x02, 0, 0, 0, 0, 2}, 14);
  std::memcpy(p.data(), f.data(), 12);
  p[12] = 0x08;
  p[13] = 0x00;
  uint8_t* ip = p.data() + 14;
  ip[0] = 0x45;
  ip[2] = static_cast<uint8_t>((20 + l4 + payload) >> 8);
  ip[3] = static_cast<uint8_t>(20 + l4 + payload);
  ip[4] = 0x12;
  ip[5] = 0x34;  // id
  ip[8] = 64;
  ip[9] = tcp ? 6 : 17;
  const uint8_t addresses[8] = {10, 0, 2, 15, 10, 0, 2, 2};
  std::memcpy(ip + 12, addresses, 8);
  uint8_t* l = ip + 20;
  l[0] = 0x04, l[1] = 0x00, l[2] = 0x00, l[3] = 0x50;
  if (tcp) {
    l[4] = 0x10, l[5] = 0x00, l[6] = 0x00, l[7] = 0x00;  // seq 0x10000000
    l[12] = 5 << 4;
    l[13] = 0x18;  // PSH | ACK
  } else {
    l[4] = static_cast<uint8_t>((8 + payload) >> 8);
    l[5] = static_cast<uint8_t>(8 + payload);
  }
  for (size_t i = 0; i < payload; ++i) l[l4 + i] = static_cast<uint8_t>(i * 13 + 1);
  return p;
}

// The pseudo-header sum (not complemented) the driver leaves in the field.
uint16_t pseudo_sum(const uint8_t* ip, unsigned protocol, size_t l4_length) {
  uint32_t sum = 0;
  for (int i = 12; i < 20; i += 2) sum += static_cast<uint32_t>(ip[i] << 8 | ip[i + 1]);
  sum += protocol + static_cast<uint32_t>(l4_length);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

bool l4_checksum_ok(const std::vector<uint8_t>& p, unsigned protocol) {
  const uint8_t* ip = p.data() + 14;
  const size_t length = p.size() - 34;
  uint32_t sum = 0;
  for (int i = 12; i < 20; i += 2) sum += static_cast<uint32_t>(ip[i] << 8 | ip[i + 1]);
  sum += protocol + static_cast<uint32_t>(length);
  return internet_checksum(p.data() + 34, length, sum) == 0;
}

void put_context(Nic& nic, bool tcp, bool tse, uint32_t paylen, uint8_t hdr_len, uint16_t mss) {
  uint8_t c[16] = {};
  c[0] = 14;
  c[1] = 24;
  c[2] = 33;
  c[4] = 34;
  c[5] = static_cast<uint8_t>(34 + (tcp ? 16 : 6));
  const uint32_t cmd = kTxdCmdDext | kTxdCmdIp | (tcp ? kTxdCmdTcp : 0) | (tse ? kTxdCmdTse : 0) |
                       (paylen & 0xfffff);
  std::memcpy(c + 8, &cmd, 4);
  c[13] = hdr_len;
  std::memcpy(c + 14, &mss, 2);
  nic.put_tx_raw(c);
}

TEST(E1000, TransmitChecksumOffload) {
  Nic nic;
  nic.setup_tx(16);
  auto p = ip_packet(false, 333);
  const uint16_t pseudo = pseudo_sum(p.data() + 14, 17, 8 + 333);
  p[40] = static_cast<uint8_t>(pseudo >> 8);
  p[41] = static_cast<uint8_t>(pseudo);
  std::memcpy(nic.ram.at(Nic::kTxBuffers), p.data(), p.size());
  put_context(nic, false, false, 0, 0, 0);
  nic.put_tx(Nic::kTxBuffers,
             static_cast<uint32_t>(p.size()) | kTxdCmdDext | kTxdDtypData | kTxdCmdEop | kTxdCmdRs,
             (kPoptsIxsm | kPoptsTxsm) << 8);
  nic.kick();
  ASSERT_EQ(nic.backend->sent.size(), 1u);
  const auto& sent = nic.backend->sent[0];
  EXPECT_EQ(internet_checksum(sent.data() + 14, 20), 0);  // the IP header
  EXPECT_TRUE(l4_checksum_ok(sent, 17));
}

TEST(E1000, TcpSegmentation) {
  Nic nic;
  nic.setup_tx(16);
  const size_t payload = 2500, mss = 1000, header = 54;
  auto p = ip_packet(true, payload);
  const uint16_t pseudo = pseudo_sum(p.data() + 14, 6, 0);  // TSO: without the length
  p[50] = static_cast<uint8_t>(pseudo >> 8);
  p[51] = static_cast<uint8_t>(pseudo);
  p[47] |= 0x01;  // FIN: on the last segment only
  std::memcpy(nic.ram.at(Nic::kTxBuffers), p.data(), p.size());
  put_context(nic, true, true, payload, header, mss);
  // The headers and the payload in two descriptors.
  nic.put_tx(Nic::kTxBuffers, header | kTxdCmdDext | kTxdDtypData | kTxdCmdTse,
             (kPoptsIxsm | kPoptsTxsm) << 8);
  nic.put_tx(Nic::kTxBuffers + header, static_cast<uint32_t>(payload) | kTxdCmdDext | kTxdDtypData |
                                           kTxdCmdTse | kTxdCmdEop | kTxdCmdRs);
  nic.kick();
  ASSERT_EQ(nic.backend->sent.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const auto& s = nic.backend->sent[i];
    const size_t chunk = i < 2 ? mss : payload - 2 * mss;
    ASSERT_EQ(s.size(), header + chunk) << i;
    EXPECT_EQ(s[16] << 8 | s[17], static_cast<int>(s.size() - 14));  // IP total length
    EXPECT_EQ(s[18] << 8 | s[19], static_cast<int>(0x1234 + i));     // IP id
    EXPECT_EQ(internet_checksum(s.data() + 14, 20), 0) << i;
    const uint32_t seq = static_cast<uint32_t>(s[38] << 24 | s[39] << 16 | s[40] << 8 | s[41]);
    EXPECT_EQ(seq, 0x10000000u + i * mss);
    EXPECT_EQ(s[47] & 0x09, i == 2 ? 0x09 : 0) << i;  // PSH, FIN
    EXPECT_TRUE(l4_checksum_ok(s, 6)) << i;
    EXPECT_EQ(std::memcmp(s.data() + header, p.data() + header + i * mss, chunk), 0);
  }
}

TEST(E1000, PhyLoopback) {
  Nic nic;
  nic.setup_rx(8);
  nic.setup_tx(8);
  nic.set(kMdic, kPhyBmcr << kMdicRegShift | 1 << kMdicPhyShift | kMdicOpWrite | 0x5140);
  const auto f = frame_to(kMac, 80);
  std::memcpy(nic.ram.at(Nic::kTxBuffers), f.data(), f.size());
  nic.put_tx(Nic::kTxBuffers, 80 | kTxdCmdEop);
  nic.kick();
  EXPECT_TRUE(nic.backend->sent.empty());
  EXPECT_EQ(std::memcmp(nic.rx_buffer(0), f.data(), f.size()), 0);
}

}  // namespace
}  // namespace amber::hv::net::test
