// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The virtio-net modes of the PVH probe (polled, no interrupts), for the
 * transitional virtio-net (1af4:1000) of amber-vmm and of QEMU 7.2, over
 * the modern interface:
 *   test=vnet       identity, features (MAC, STATUS, MRG_RXBUF, CSUM,
 *                   CTRL_VQ, CTRL_RX asked for), the MAC and link status
 *                   from the config space, the control queue (RX promisc
 *                   off: OK; MQ VQ_PAIRS_SET without MQ: ERR), then a DHCP
 *                   DISCOVER / OFFER / REQUEST / ACK with the user-mode
 *                   network (the REQUEST's UDP checksum left to the device
 *                   with NEEDS_CSUM). Prints "VNET: offer A router R dns D".
 *   (idle=1: halt after the result line instead of exiting)
 *   test=vnettap    count=N rx=M: as e1000tap (e1000_probe.c), frames of
 *                   ethertype 0x88B5 both ways, checked in order.
 *   test=vnetbench  count=N size=S: N frames of S bytes as fast as the TX
 *                   queue takes them, between "BENCH start" and "BENCH done".
 * Lines: "VNET: ..." / "VNET: FAIL what"; exit 0 on success (VMM status 1).
 * Single-threaded guest code.
 */
#include "lib.h"
#include "netframe.h"
#include "pci.h"
#include "virtio.h"

#define F_CSUM 0
#define F_MAC 5
#define F_MRG_RXBUF 15
#define F_STATUS 16
#define F_CTRL_VQ 17
#define F_CTRL_RX 18
#define F_MQ 22

#define RX_BUFS 32
#define TX_SLOTS 128
#define BUF_SIZE 2048
#define HDR 12 /* virtio_net_hdr with num_buffers (1.0) */

static VirtioDev vnet;
static u8 mac[6];
static u8 rx_buf[RX_BUFS][BUF_SIZE] __attribute__((aligned(64)));
static u8 tx_buf[TX_SLOTS][HDR + BUF_SIZE] __attribute__((aligned(64)));
static u8 ctrl_buf[64];
static volatile u8 ctrl_ack;
static int rx_head_buf[VQ_MAX_SIZE];

static __attribute__((noreturn)) void fail(const char* what) {
  print("VNET: FAIL %s\n", what);
  guest_exit(3);
}

/* PASS: exit, or with idle=1 halt so the host can query the card. */
static __attribute__((noreturn)) void finish(void) {
  if (cmdline_u32("idle", 0)) {
    print("VNET: idle\n");
    for (;;) __asm__ volatile("cli; hlt");
  }
  guest_exit(0);
}

static void post_rx(u32 i) {
  VqBuf b = {(uptr)rx_buf[i], BUF_SIZE, 1};
  int head = vq_add(&vnet.vq[0], &b, 1);
  if (head < 0) fail("RX queue full");
  rx_head_buf[head] = (int)i;
}

/* Waits for one received packet; returns its frame length (0 on timeout)
 * and the frame; the buffer goes back with rx_done(). */
static u32 receive(u8** frame, u32* buf, u32 seconds) {
  u64 deadline = deadline_after(seconds);
  u32 id, len;
  while (!vq_pop(&vnet, &vnet.vq[0], &id, &len))
    if (deadline_passed(deadline)) return 0;
  if (id >= VQ_MAX_SIZE || len < HDR) fail("bad RX used element");
  *buf = (u32)rx_head_buf[id];
  u8* b = rx_buf[*buf];
  if (b[10] != 1 || b[11] != 0) fail("num_buffers is not 1 for a small packet");
  *frame = b + HDR;
  return len - HDR;
}
static void rx_done(u32 buf) {
  post_rx(buf);
  vq_kick(&vnet, &vnet.vq[0]);
}

/* Sends tx_buf[slot] (header + `len` frame bytes) and waits for it. */
static void send_slot(u32 slot, u32 len) {
  VqBuf b = {(uptr)tx_buf[slot], HDR + len, 0};
  int head = vq_add(&vnet.vq[1], &b, 1);
  if (head < 0) fail("TX queue full");
  vq_kick(&vnet, &vnet.vq[1]);
  u64 deadline = deadline_after(10);
  u32 id, used_len;
  while (!vq_pop(&vnet, &vnet.vq[1], &id, &used_len))
    if (deadline_passed(deadline)) fail("TX buffer never used");
}

static u8 control(u8 cls, u8 cmd, const u8* data, u32 n) {
  Virtqueue* q = &vnet.vq[2];
  ctrl_buf[0] = cls;
  ctrl_buf[1] = cmd;
  memcpy(ctrl_buf + 2, data, n);
  ctrl_ack = 0xEE;
  VqBuf b[2] = {{(uptr)ctrl_buf, 2 + n, 0}, {(uptr)&ctrl_ack, 1, 1}};
  if (vq_add(q, b, 2) < 0) fail("control queue full");
  vq_kick(&vnet, q);
  u64 deadline = deadline_after(10);
  u32 id, len;
  while (!vq_pop(&vnet, q, &id, &len))
    if (deadline_passed(deadline)) fail("control command never answered");
  return ctrl_ack;
}

/* --- DHCP (as e1000_probe.c's exchange) --- */
static const u32 kXid = 0x564e4554; /* "VNET" */

static DhcpReply wait_dhcp(u8 type) {
  DhcpReply r;
  u64 deadline = deadline_after(30);
  while (!deadline_passed(deadline)) {
    u8* f;
    u32 buf;
    u32 len = receive(&f, &buf, 30);
    if (!len) break;
    int ok = parse_dhcp(f, len, kXid, &r);
    if (ok < 0) fail("received an IP header with a bad checksum");
    rx_done(buf);
    if (ok > 0 && r.type == type) return r;
  }
  fail(type == DHCP_OFFER ? "no DHCPOFFER" : "no DHCPACK");
  return r;
}

static __attribute__((noreturn)) void mode_dhcp(void) {
  u8 off = 0;
  u8 ack = control(0, 0, &off, 1); /* RX_MODE PROMISC off */
  u8 pairs[2] = {1, 0};
  u8 mq = control(4, 0, pairs, 2); /* MQ VQ_PAIRS_SET 1 without MQ */
  print("VNET: ctrl promisc-off %u mq-pairs-set %u\n", ack, mq);
  if (ack != 0 || mq != 1) fail("control queue answers");

  memset(tx_buf[0], 0, HDR);
  u32 len = build_dhcp(tx_buf[0] + HDR, mac, kXid, DHCP_DISCOVER, 0, 0, kCsumGuest);
  send_slot(0, len);
  print("VNET: discover sent (%u bytes)\n", len);
  DhcpReply offer = wait_dhcp(DHCP_OFFER);
  print_ip("VNET: offer ", offer.yiaddr);
  print_ip(" router ", offer.router);
  print_ip(" dns ", offer.dns);
  print_ip(" server ", offer.server);
  print("\n");

  /* REQUEST: with CSUM the device completes the UDP checksum
   * (NEEDS_CSUM, csum_start 34, csum_offset 6). */
  const int offload = (vnet.features >> F_CSUM) & 1;
  u8* h = tx_buf[1];
  memset(h, 0, HDR);
  if (offload) {
    h[0] = 1;
    h[6] = 34;
    h[8] = 6;
  }
  len = build_dhcp(tx_buf[1] + HDR, mac, kXid, DHCP_REQUEST, offer.yiaddr, offer.server,
                   offload ? kCsumUdpByCard : kCsumGuest);
  send_slot(1, len);
  print("VNET: request sent\n");
  DhcpReply dack = wait_dhcp(DHCP_ACK);
  print_ip("VNET: ack ", dack.yiaddr);
  print("\n");
  if (dack.yiaddr != offer.yiaddr) fail("ACK for another address");
  print("VNET: RESULT PASS\n");
  finish();
}

/* --- raw frames through a tap (as e1000tap) --- */

static __attribute__((noreturn)) void mode_tap(void) {
  u32 count = cmdline_u32("count", 16), expect = cmdline_u32("rx", 16);
  static const u8 broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  print("VNETTAP: ready\n");
  for (u32 seq = 0; seq < count; seq++) {
    u32 size = tap_frame_size(seq);
    memset(tx_buf[0], 0, HDR);
    fill_frame(tx_buf[0] + HDR, mac, broadcast, "AMBERTAP", seq, size);
    send_slot(0, size);
  }
  print("VNETTAP: sent %u\n", count);
  static u8 want[BUF_SIZE];
  for (u32 seq = 0; seq < expect; seq++) {
    u8* f;
    u32 buf;
    u32 len = receive(&f, &buf, 30);
    if (!len) {
      print("VNETTAP: FAIL frame %u never came\n", seq);
      guest_exit(3);
    }
    u32 size = tap_frame_size(seq);
    fill_frame(want, mac, mac, "AMBERHOST", seq, size);
    if (len != size || memcmp(f, want, 6) != 0 || memcmp(f + 12, want + 12, size - 12) != 0) {
      print("VNETTAP: FAIL frame %u: length %u (want %u)\n", seq, len, size);
      guest_exit(3);
    }
    rx_done(buf);
  }
  print("VNETTAP: received %u\n", expect);
  print("VNETTAP: RESULT PASS\n");
  finish();
}

/* --- TX throughput --- */

static __attribute__((noreturn)) void mode_bench(void) {
  u32 count = cmdline_u32("count", 100000), size = cmdline_u32("size", 1514);
  if (size < 60 || size > BUF_SIZE) fail("size must be 60..2048");
  static const u8 broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  memset(tx_buf[0], 0, HDR);
  fill_frame(tx_buf[0] + HDR, mac, broadcast, "AMBERBENCH", 0, size);
  Virtqueue* q = &vnet.vq[1];
  const u32 batch = 32;
  u32 in_flight = 0;
  print("BENCH start count=%u size=%u\n", count, size);
  u64 t0 = rdtsc();
  for (u32 i = 0; i < count; i++) {
    u32 id, len;
    while (in_flight >= TX_SLOTS || q->num_free == 0) {
      if (vq_pop(&vnet, q, &id, &len)) in_flight--;
    }
    VqBuf b = {(uptr)tx_buf[0], HDR + size, 0};
    if (vq_add(q, &b, 1) < 0) fail("TX queue full");
    in_flight++;
    if ((i + 1) % batch == 0 || i + 1 == count) vq_kick(&vnet, q);
  }
  u64 deadline = deadline_after(30);
  while (in_flight) {
    u32 id, len;
    if (vq_pop(&vnet, q, &id, &len)) in_flight--;
    if (deadline_passed(deadline)) fail("TX never drained");
  }
  u64 cycles = rdtsc() - t0;
  print("BENCH done frames=%u cycles=%U\n", count, cycles);
  guest_exit(0);
}

void mode_vnet(void) {
  PciDevice pci;
  if (!pci_find(0x1AF4, 0x1000, 0x1000, &pci)) fail("no 1af4:1000 on bus 0");
  print("VNET: found %x:%x rev %x class %x subsystem %x pin %u\n", pci.vendor, pci.device,
        pci_read8(&pci, 0x08), pci_read32(&pci, 0x08) >> 8, pci_read32(&pci, 0x2C),
        pci_read8(&pci, 0x3D));
  pci_setup_bars(&pci);
  if (!virtio_pci_init(&vnet, &pci)) fail("virtio-pci modern transport");
  const u64 wanted = (1ull << VIRTIO_F_VERSION_1) | (1ull << F_MAC) | (1ull << F_STATUS) |
                     (1ull << F_MRG_RXBUF) | (1ull << F_CSUM) | (1ull << F_CTRL_VQ) |
                     (1ull << F_CTRL_RX);
  if (!virtio_negotiate(&vnet, wanted)) fail("feature negotiation");
  /* CSUM is optional: QEMU offers it only with a vnet_hdr peer (tap). */
  if ((vnet.features | (1ull << F_CSUM)) != wanted) fail("a wanted feature is not offered");
  print("VNET: features ok (mac status mrg_rxbuf ctrl_vq ctrl_rx version_1) mq %u\n",
        (u32)((vnet.offered >> F_MQ) & 1));
  print("VNET: csum %u\n", (u32)((vnet.features >> F_CSUM) & 1));
  for (int i = 0; i < 6; i++) mac[i] = mmio_read8(vnet.device_cfg + i);
  char text[18];
  static const char digits[] = "0123456789abcdef";
  for (int i = 0; i < 6; i++) {
    text[3 * i] = digits[mac[i] >> 4];
    text[3 * i + 1] = digits[mac[i] & 15];
    text[3 * i + 2] = i == 5 ? 0 : ':';
  }
  print("VNET: mac %s status %x queues %u\n", text, mmio_read16(vnet.device_cfg + 6),
        vnet.num_queues);
  for (u16 i = 0; i < 3; i++)
    if (!virtio_setup_queue(&vnet, i)) fail("queue setup");
  for (u32 i = 0; i < RX_BUFS; i++) post_rx(i);
  virtio_driver_ok(&vnet);
  vq_kick(&vnet, &vnet.vq[0]);
  if (cmdline_is("test", "vnettap")) mode_tap();
  if (cmdline_is("test", "vnetbench")) mode_bench();
  mode_dhcp();
}
