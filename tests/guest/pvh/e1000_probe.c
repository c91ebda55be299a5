// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The e1000 modes of the PVH probe (polled, no interrupts), for the Intel
 * 82540EM (8086:100e) of amber-vmm and of QEMU 7.2:
 *   test=e1000      identity, EEPROM (EERD and microwire, checksum 0xBABA),
 *                   PHY (MDIC), STATUS, then a DHCP DISCOVER / OFFER /
 *                   REQUEST / ACK with the user-mode network (the REQUEST
 *                   goes out with IP and UDP checksum offload through a
 *                   context descriptor), ICR and the statistics read to
 *                   clear. Prints "E1000: offer A router R dns D".
 *   test=e1000tap   count=N rx=M: N raw frames (ethertype 0x88B5, payload
 *                   "AMBERTAP seq=S" then (S*7 + i) & 0xff) to broadcast,
 *                   then M frames from the host ("AMBERHOST seq=S", same
 *                   pattern) checked in order.
 *   test=e1000bench count=N size=S: N frames of S bytes as fast as the TX
 *                   ring takes them, between "BENCH start" and "BENCH done".
 * Lines: "E1000: ..." / "E1000: FAIL what"; exit 0 on success (VMM status 1),
 * or with idle=1 a halt after the result line.
 * Single-threaded guest code.
 */
#include "lib.h"
#include "netframe.h"
#include "pci.h"

#define CTRL 0x0000
#define STATUS 0x0008
#define EECD 0x0010
#define EERD 0x0014
#define MDIC 0x0020
#define ICR 0x00C0
#define IMS 0x00D0
#define IMC 0x00D8
#define RCTL 0x0100
#define TCTL 0x0400
#define RDBAL 0x2800
#define RDBAH 0x2804
#define RDLEN 0x2808
#define RDH 0x2810
#define RDT 0x2818
#define TDBAL 0x3800
#define TDBAH 0x3804
#define TDLEN 0x3808
#define TDH 0x3810
#define TDT 0x3818
#define GPRC 0x4074
#define GPTC 0x4080
#define TPR 0x40D0

#define RX_COUNT 32
#define TX_COUNT 256
#define BUF_SIZE 2048

typedef struct {
  u64 addr;
  u16 length, csum;
  u8 status, errors;
  u16 special;
} RxDesc;
typedef struct {
  u64 addr;
  u32 lower, upper;
} TxDesc;

static RxDesc rx_ring[RX_COUNT] __attribute__((aligned(128)));
static TxDesc tx_ring[TX_COUNT] __attribute__((aligned(128)));
static u8 rx_buf[RX_COUNT][BUF_SIZE] __attribute__((aligned(64)));
static u8 tx_buf[TX_COUNT][BUF_SIZE] __attribute__((aligned(64)));
static uptr regs;
static u8 mac[6];
static u32 rx_next, tx_next;

static u32 rd(u32 off) {
  return mmio_read32(regs + off);
}
static void wr(u32 off, u32 v) {
  mmio_write32(regs + off, v);
}

/* PASS: exit, or with idle=1 halt so the host can query the card. */
static __attribute__((noreturn)) void finish(void) {
  if (cmdline_u32("idle", 0)) {
    print("E1000: idle\n");
    for (;;) __asm__ volatile("cli; hlt");
  }
  guest_exit(0);
}

static __attribute__((noreturn)) void fail(const char* what) {
  print("E1000: FAIL %s\n", what);
  guest_exit(3);
}

static const char* hex2(u8 v, char* out) {
  static const char digits[] = "0123456789abcdef";
  out[0] = digits[v >> 4];
  out[1] = digits[v & 15];
  out[2] = 0;
  return out;
}

static void print_mac(const char* prefix, const u8* m) {
  char a[3], b[3], c[3], d[3], e[3], f[3];
  print("%s%s:%s:%s:%s:%s:%s\n", prefix, hex2(m[0], a), hex2(m[1], b), hex2(m[2], c), hex2(m[3], d),
        hex2(m[4], e), hex2(m[5], f));
}

/* --- EEPROM --- */

static u16 eerd_read(u32 word) {
  wr(EERD, (word << 8) | 1);
  for (u32 i = 0; i < 100000; i++) {
    u32 v = rd(EERD);
    if (v & 0x10) return (u16)(v >> 16);
  }
  fail("EERD never done");
  return 0;
}

/* Microwire READ: CS, then 1 1 0 and six address bits on DI (clocked by
 * SK), then 16 bits out on DO, MSB first. */
static u16 microwire_read(u32 word) {
  const u32 sk = 1, cs = 2, di = 4, do_ = 8;
  wr(EECD, cs);
  u32 bits = (6u << 6) | (word & 0x3f);
  for (int i = 8; i >= 0; i--) {
    u32 d = ((bits >> i) & 1) ? di : 0;
    wr(EECD, cs | d);
    wr(EECD, cs | d | sk);
    wr(EECD, cs | d);
  }
  u16 value = 0;
  for (int i = 0; i < 16; i++) {
    wr(EECD, cs | sk);
    value = (u16)((value << 1) | ((rd(EECD) & do_) ? 1 : 0));
    wr(EECD, cs);
  }
  wr(EECD, 0);
  return value;
}

static void check_eeprom(void) {
  u16 sum = 0;
  for (u32 i = 0; i < 64; i++) sum = (u16)(sum + eerd_read(i));
  print("E1000: eeprom checksum %x\n", sum);
  if (sum != 0xBABA) fail("eeprom checksum");
  for (u32 i = 0; i < 3; i++) {
    u16 w = eerd_read(i);
    if (microwire_read(i) != w) fail("microwire read differs from EERD");
    mac[2 * i] = (u8)w;
    mac[2 * i + 1] = (u8)(w >> 8);
  }
  print("E1000: eeprom word 10 %x microwire %x\n", eerd_read(10), microwire_read(10));
  print_mac("E1000: mac ", mac);
}

/* --- PHY --- */

static u16 phy_read(u32 reg) {
  wr(MDIC, (reg << 16) | (1u << 21) | (2u << 26));
  for (u32 i = 0; i < 100000; i++) {
    u32 v = rd(MDIC);
    if (v & (1u << 28)) {
      if (v & (1u << 30)) fail("MDIC read error");
      return (u16)v;
    }
  }
  fail("MDIC never ready");
  return 0;
}

static void phy_write(u32 reg, u16 value) {
  wr(MDIC, value | (reg << 16) | (1u << 21) | (1u << 26));
  for (u32 i = 0; i < 100000; i++)
    if (rd(MDIC) & (1u << 28)) return;
  fail("MDIC write never ready");
}

static void check_phy(void) {
  print("E1000: phy id %x %x\n", phy_read(2), phy_read(3));
  /* Restart autonegotiation (QEMU completes it 500 ms later). */
  phy_write(0, (u16)(phy_read(0) | 0x0200));
  u64 deadline = deadline_after(20);
  u16 bmsr = 0;
  while (!deadline_passed(deadline)) {
    bmsr = phy_read(1);
    if ((bmsr & 0x24) == 0x24 && (rd(STATUS) & 2)) break;
  }
  print("E1000: bmsr %x status %x\n", bmsr, rd(STATUS));
  if ((bmsr & 0x24) != 0x24) fail("link or autonegotiation not up");
  u32 status = rd(STATUS);
  if ((status & 3) != 3 || (status & 0xC0) != 0x80) fail("STATUS: not link up at 1000 full");
  /* A PHY address other than 1 is an error. */
  wr(MDIC, (1u << 16) | (2u << 21) | (2u << 26));
  if (!(rd(MDIC) & (1u << 30))) fail("MDIC to PHY 2 without error");
}

/* --- rings --- */

static void setup_rings(void) {
  for (u32 i = 0; i < RX_COUNT; i++) {
    rx_ring[i].addr = (uptr)rx_buf[i];
    rx_ring[i].status = 0;
  }
  memset(tx_ring, 0, sizeof tx_ring);
  wr(IMC, 0xFFFFFFFFu);
  (void)rd(ICR);
  wr(RDBAL, (uptr)rx_ring);
  wr(RDBAH, 0);
  wr(RDLEN, sizeof rx_ring);
  wr(RDH, 0);
  wr(RDT, RX_COUNT - 1);
  /* EN | BAM | SECRC, 2048-byte buffers. */
  wr(RCTL, (1u << 1) | (1u << 15) | (1u << 26));
  wr(TDBAL, (uptr)tx_ring);
  wr(TDBAH, 0);
  wr(TDLEN, sizeof tx_ring);
  wr(TDH, 0);
  wr(TDT, 0);
  /* EN | PSP, CT 0x10, COLD 0x40. */
  wr(TCTL, (1u << 1) | (1u << 3) | (0x10u << 4) | (0x40u << 12));
  rx_next = tx_next = 0;
}

/* Waits for a frame; returns its length (0 on timeout) and its buffer. */
static u32 receive(u8** frame, u32 seconds) {
  u64 deadline = deadline_after(seconds);
  while (!(((volatile RxDesc*)&rx_ring[rx_next])->status & 1)) {
    if (deadline_passed(deadline)) return 0;
  }
  barrier();
  *frame = rx_buf[rx_next];
  return rx_ring[rx_next].length;
}

static void release_rx(void) {
  rx_ring[rx_next].status = 0;
  barrier();
  wr(RDT, rx_next);
  rx_next = (rx_next + 1) % RX_COUNT;
}

static void wait_tx_done(u32 slot) {
  u64 deadline = deadline_after(10);
  while (!(((volatile TxDesc*)&tx_ring[slot])->upper & 1))
    if (deadline_passed(deadline)) fail("TX descriptor never done");
}

/* A legacy descriptor for tx_buf[slot] (EOP | IFCS | RS). */
static u32 queue_legacy(u32 length) {
  u32 slot = tx_next;
  tx_ring[slot].addr = (uptr)tx_buf[slot];
  tx_ring[slot].lower = length | (1u << 24) | (1u << 25) | (1u << 27);
  tx_ring[slot].upper = 0;
  tx_next = (tx_next + 1) % TX_COUNT;
  return slot;
}

/* --- DHCP --- */

static const u32 kXid = 0x414d4245; /* "AMBE" */

static DhcpReply wait_dhcp(u8 type) {
  DhcpReply r;
  u64 deadline = deadline_after(30);
  while (!deadline_passed(deadline)) {
    u8* f;
    u32 len = receive(&f, 30);
    if (!len) break;
    int ok = parse_dhcp(f, len, kXid, &r);
    if (ok < 0) fail("received an IP header with a bad checksum");
    release_rx();
    if (ok > 0 && r.type == type) return r;
  }
  fail(type == DHCP_OFFER ? "no DHCPOFFER" : "no DHCPACK");
  return r;
}

static __attribute__((noreturn)) void mode_dhcp(void) {
  /* DISCOVER: a legacy descriptor, checksums computed here. */
  u32 slot = queue_legacy(0);
  u32 len = build_dhcp(tx_buf[slot], mac, kXid, DHCP_DISCOVER, 0, 0, kCsumGuest);
  tx_ring[slot].lower |= len;
  barrier();
  wr(TDT, tx_next);
  wait_tx_done(slot);
  print("E1000: discover sent (%u bytes)\n", len);
  DhcpReply offer = wait_dhcp(DHCP_OFFER);
  print_ip("E1000: offer ", offer.yiaddr);
  print_ip(" router ", offer.router);
  print_ip(" dns ", offer.dns);
  print_ip(" server ", offer.server);
  print("\n");

  /* REQUEST: a context descriptor (IP and UDP checksum positions) and a
   * data descriptor asking for both checksums. */
  u32 ctx = tx_next;
  u32 data = (tx_next + 1) % TX_COUNT;
  len = build_dhcp(tx_buf[data], mac, kXid, DHCP_REQUEST, offer.yiaddr, offer.server,
                   kCsumIpUdpByCard);
  u8* c = (u8*)&tx_ring[ctx];
  memset(c, 0, 16);
  c[0] = 14;                                    /* IPCSS */
  c[1] = 14 + 10;                               /* IPCSO */
  c[2] = 14 + 19;                               /* IPCSE */
  c[4] = 34;                                    /* TUCSS */
  c[5] = 34 + 6;                                /* TUCSO */
  tx_ring[ctx].lower = (1u << 29) | (1u << 25); /* DEXT, IP */
  tx_ring[data].addr = (uptr)tx_buf[data];
  tx_ring[data].lower = len | (1u << 20) | (1u << 29) | (1u << 24) | (1u << 25) | (1u << 27);
  tx_ring[data].upper = 3u << 8; /* POPTS: IXSM | TXSM */
  tx_next = (tx_next + 2) % TX_COUNT;
  barrier();
  wr(TDT, tx_next);
  wait_tx_done(data);
  print("E1000: request sent with checksum offload\n");
  DhcpReply ack = wait_dhcp(DHCP_ACK);
  print_ip("E1000: ack ", ack.yiaddr);
  print("\n");
  if (ack.yiaddr != offer.yiaddr) fail("ACK for another address");

  u32 icr = rd(ICR), icr2 = rd(ICR);
  print("E1000: icr %x then %x\n", icr, icr2);
  if (!(icr & 0x80) || !(icr & 0x01) || icr2 != 0) fail("ICR causes / read to clear");
  u32 gprc = rd(GPRC), gptc = rd(GPTC);
  u32 gprc2 = rd(GPRC), gptc2 = rd(GPTC);
  print("E1000: gprc %u gptc %u then %u %u\n", gprc, gptc, gprc2, gptc2);
  if (gprc < 2 || gptc != 2 || gprc2 != 0 || gptc2 != 0) fail("statistics");
  print("E1000: RESULT PASS\n");
  finish();
}

/* --- raw frames through a tap --- */

static __attribute__((noreturn)) void mode_tap(void) {
  u32 count = cmdline_u32("count", 16), expect = cmdline_u32("rx", 16);
  static const u8 broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  print("E1000TAP: ready\n");
  for (u32 seq = 0; seq < count; seq++) {
    u32 slot = queue_legacy(0);
    u32 size = tap_frame_size(seq);
    fill_frame(tx_buf[slot], mac, broadcast, "AMBERTAP", seq, size);
    tx_ring[slot].lower |= size;
    barrier();
    wr(TDT, tx_next);
    wait_tx_done(slot);
  }
  print("E1000TAP: sent %u\n", count);
  u8 want[BUF_SIZE];
  for (u32 seq = 0; seq < expect; seq++) {
    u8* f;
    u32 len = receive(&f, 30);
    if (!len) {
      print("E1000TAP: FAIL frame %u never came\n", seq);
      guest_exit(3);
    }
    u32 size = tap_frame_size(seq);
    fill_frame(want, mac, mac, "AMBERHOST", seq, size);
    /* The host's source MAC is its own: compare all but bytes 6..11. */
    if (len != size || memcmp(f, want, 6) != 0 || memcmp(f + 12, want + 12, size - 12) != 0) {
      print("E1000TAP: FAIL frame %u: length %u (want %u)\n", seq, len, size);
      guest_exit(3);
    }
    release_rx();
  }
  print("E1000TAP: received %u\n", expect);
  print("E1000TAP: RESULT PASS\n");
  finish();
}

/* --- TX throughput --- */

static __attribute__((noreturn)) void mode_bench(void) {
  u32 count = cmdline_u32("count", 100000), size = cmdline_u32("size", 1514);
  if (size < 60 || size > BUF_SIZE) fail("size must be 60..2048");
  static const u8 broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  fill_frame(tx_buf[0], mac, broadcast, "AMBERBENCH", 0, size);
  const u32 batch = 32;
  print("BENCH start count=%u size=%u\n", count, size);
  u64 t0 = rdtsc();
  for (u32 i = 0; i < count; i++) {
    u32 slot = tx_next;
    if (i >= TX_COUNT) wait_tx_done(slot);
    tx_ring[slot].addr = (uptr)tx_buf[0];
    tx_ring[slot].lower = size | (1u << 24) | (1u << 25) | (1u << 27);
    tx_ring[slot].upper = 0;
    tx_next = (tx_next + 1) % TX_COUNT;
    if ((i + 1) % batch == 0 || i + 1 == count) {
      barrier();
      wr(TDT, tx_next);
    }
  }
  wait_tx_done((tx_next + TX_COUNT - 1) % TX_COUNT);
  u64 cycles = rdtsc() - t0;
  print("BENCH done frames=%u cycles=%U\n", count, cycles);
  finish();
}

void mode_e1000(void) {
  PciDevice pci;
  if (!pci_find(0x8086, 0x100E, 0x100E, &pci)) fail("no 8086:100e on bus 0");
  print("E1000: found %x:%x rev %x class %x subsystem %x at 00:%x.%u pin %u\n", pci.vendor,
        pci.device, pci_read8(&pci, 0x08), pci_read32(&pci, 0x08) >> 8, pci_read32(&pci, 0x2C),
        pci.dev, pci.fn, pci_read8(&pci, 0x3D));
  pci_setup_bars(&pci);
  regs = pci.bar[0];
  if (!regs || !pci.bar_is_io[1]) fail("BAR0 memory / BAR1 I/O");
  /* IOADDR/IODATA reach the same registers. */
  outl((u16)pci.bar[1], STATUS);
  u32 via_io = inl((u16)(pci.bar[1] + 4));
  print("E1000: status %x (via io %x)\n", rd(STATUS), via_io);
  check_eeprom();
  check_phy();
  setup_rings();
  if (cmdline_is("test", "e1000tap")) mode_tap();
  if (cmdline_is("test", "e1000bench")) mode_bench();
  mode_dhcp();
}
