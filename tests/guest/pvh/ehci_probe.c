// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The probe guest's test=ehci and test=ehcihandoff modes (see
 * tests/guest/README.md): a polled EHCI driver for ICH9's EHCI1 8086:293a
 * and the HID device on its root port 1.
 *  - ehci: resets the controller, prints its identity and capability
 *    registers, starts it with an empty async ring and a periodic frame
 *    list of one interrupt QH, takes the ports (CONFIGFLAG), resets port
 *    1 (a high-speed device is enabled by it), enumerates the device over
 *    the async schedule (GET_DESCRIPTOR device / configuration,
 *    SET_ADDRESS 1, SET_CONFIGURATION, SET_IDLE 0), checks that the
 *    interrupt IN endpoint NAKs while idle on the periodic schedule,
 *    prints "EHCI READY", then one "EHCI report N: xx .." line per report
 *    until reports=N (default 3); "EHCI DONE" and exit 0.
 *  - ehcihandoff: takes and resets the port as above, then gives it to
 *    the companion (PORT_OWNER), prints what the EHCI and UHCI1 8086:2934
 *    ports show, and runs test=usb's UHCI driver on UHCI1
 *    (usb_probe_uhci), whose lines start with "USB ".
 * Failures are "EHCI FAIL what" and exit 1. No interrupts: polled.
 * Single-threaded guest code.
 */
#include "pci.h"

#define USBCMD 0x00
#define USBSTS 0x04
#define USBINTR 0x08
#define FRINDEX 0x0C
#define PERIODICLISTBASE 0x14
#define ASYNCLISTADDR 0x18
#define CONFIGFLAG 0x40
#define PORTSC1 0x44

#define CMD_RUN 1u
#define CMD_RESET 2u
#define CMD_PSE (1u << 4)
#define CMD_ASE (1u << 5)
#define PORT_CONNECT 1u
#define PORT_ENABLED 4u
#define PORT_RESET (1u << 8)
#define PORT_POWER (1u << 12)
#define PORT_OWNER (1u << 13)

#define QTD_ACTIVE (1u << 7)
#define QTD_HALTED (1u << 6)
#define QTD_IOC (1u << 15)
#define PID_OUT 0u
#define PID_IN 1u
#define PID_SETUP 2u
#define LINK_T 1u
#define LINK_QH 2u

typedef struct {
  volatile u32 next, alt, token, buffer[5];
} Qtd;
typedef struct {
  volatile u32 link, epchar, epcap, current;
  volatile u32 next, alt, token, buffer[5];
  u32 pad[4];
} Qh;

static u32 frame_list[1024] __attribute__((aligned(4096)));
static Qh qh_async __attribute__((aligned(64)));
static Qh qh_intr __attribute__((aligned(64)));
static Qtd qtds[3] __attribute__((aligned(32)));
static Qtd qtd_intr __attribute__((aligned(32)));
static u8 setup_packet[8] __attribute__((aligned(16)));
static u8 data[1024] __attribute__((aligned(4096)));
static u8 report_buf[64] __attribute__((aligned(64)));
static uptr op;

static u32 rd(u32 offset) {
  return mmio_read32(op + offset);
}
static void wr(u32 offset, u32 value) {
  mmio_write32(op + offset, value);
}

static void ehci_fail(const char* what) __attribute__((noreturn));
static void ehci_fail(const char* what) {
  print("EHCI FAIL %s (sts=%x port1=%x)\n", what, rd(USBSTS), rd(PORTSC1));
  guest_exit(1);
}

/* FRINDEX counts microframes (8 a 1 ms frame) while the controller runs. */
static void wait_frames(u32 count) {
  u64 deadline = deadline_after(10);
  u32 last = rd(FRINDEX) >> 3;
  while (count > 0) {
    u32 now = rd(FRINDEX) >> 3;
    if (now != last) {
      count--;
      last = now;
    }
    if (deadline_passed(deadline)) ehci_fail("FRINDEX does not run");
  }
}

static u32 qtd_token(u32 pid, u32 bytes, u32 toggle, u32 ioc) {
  return QTD_ACTIVE | pid << 8 | 3u << 10 | (ioc ? QTD_IOC : 0) | bytes << 16 | toggle << 31;
}

static void qtd_fill(Qtd* q, u32 next, u32 token, const void* buffer) {
  q->next = next;
  q->alt = LINK_T;
  q->buffer[0] = (u32)(uptr)buffer;
  for (u32 i = 1; i < 5; i++) q->buffer[i] = (((u32)(uptr)buffer) & ~0xFFFu) + 0x1000 * i;
  q->token = token;
}

/* A high-speed QH for `address`/`endpoint`: max packet, DTC for control. */
static void qh_fill(Qh* q, u32 link, u32 address, u32 endpoint, u32 packet, u32 control, u32 head,
                    u32 smask) {
  q->link = link;
  q->epchar = address | endpoint << 8 | 2u << 12 | (control ? 1u << 14 : 0) |
              (head ? 1u << 15 : 0) | packet << 16;
  q->epcap = 1u << 30 | smask;
  q->current = 0;
  q->alt = LINK_T;
  q->token = 0;
  for (u32 i = 0; i < 5; i++) q->buffer[i] = 0;
  q->next = LINK_T;
}

/* One control transfer (SETUP, one data qTD, status); the data stage's
 * byte count or -1 (a qTD halted: its token is printed). */
static int control(u32 address, u8 type, u8 request, u16 value, u16 index, u16 length) {
  setup_packet[0] = type;
  setup_packet[1] = request;
  setup_packet[2] = (u8)value;
  setup_packet[3] = (u8)(value >> 8);
  setup_packet[4] = (u8)index;
  setup_packet[5] = (u8)(index >> 8);
  setup_packet[6] = (u8)length;
  setup_packet[7] = (u8)(length >> 8);
  const int in = (type & 0x80) != 0;
  u32 n = 0;
  qtd_fill(&qtds[n++], 0, qtd_token(PID_SETUP, 8, 0, 0), setup_packet);
  if (length) qtd_fill(&qtds[n++], 0, qtd_token(in ? PID_IN : PID_OUT, length, 1, 0), data);
  qtd_fill(&qtds[n++], LINK_T, qtd_token(in ? PID_OUT : PID_IN, 0, 1, 1), 0);
  for (u32 i = 0; i + 1 < n; i++) qtds[i].next = (u32)(uptr)&qtds[i + 1];
  full_barrier();
  /* The head QH: its (retired) overlay advances to the new chain. */
  qh_async.epchar = (qh_async.epchar & ~0x7Fu) | address;
  qh_async.token = 0;
  qh_async.next = (u32)(uptr)&qtds[0];
  full_barrier();
  u64 deadline = deadline_after(10);
  for (;;) {
    full_barrier();
    for (u32 i = 0; i < n; i++) {
      if (qtds[i].token & QTD_HALTED) {
        print("EHCI control %x/%x value %x: qTD %u token %x\n", type, request, value, i,
              qtds[i].token);
        return -1;
      }
    }
    if (!(qtds[n - 1].token & QTD_ACTIVE)) break;
    if (deadline_passed(deadline)) ehci_fail("control transfer timed out");
  }
  return length ? (int)(length - ((qtds[1].token >> 16) & 0x7FFF)) : 0;
}

static void print_hex(const char* label, const u8* bytes, u32 n) {
  print("%s", label);
  for (u32 i = 0; i < n; i++) print(" %x%x", bytes[i] >> 4, bytes[i] & 15);
  print("\n");
}

void mode_ehci(void) {
  const int handoff = cmdline_is("test", "ehcihandoff");
  PciDevice pci;
  if (!pci_find(0x8086, 0x293A, 0x293A, &pci)) ehci_fail("no 8086:293a on bus 0");
  pci_setup_bars(&pci);
  if (!pci.bar[0] || pci.bar_is_io[0]) ehci_fail("BAR0 is not a memory BAR");
  const uptr caps = pci.bar[0];
  op = caps + (mmio_read32(caps) & 0xFF);
  print("EHCI 00:%x.%u rev %x class %x pin %u sbrn %x fladj %x legsup %x\n", pci.dev, pci.fn,
        pci_read8(&pci, 0x08), pci_read32(&pci, 0x08) >> 8, pci_read8(&pci, 0x3D),
        pci_read8(&pci, 0x60), pci_read8(&pci, 0x61), pci_read32(&pci, 0x68));
  print("EHCI caps %x hcsparams %x hccparams %x\n", mmio_read32(caps), mmio_read32(caps + 4),
        mmio_read32(caps + 8));

  wr(USBCMD, CMD_RESET);
  u64 deadline = deadline_after(5);
  while (rd(USBCMD) & CMD_RESET)
    if (deadline_passed(deadline)) ehci_fail("HCRESET does not finish");
  print("EHCI reset cmd=%x sts=%x port1=%x configflag=%x\n", rd(USBCMD), rd(USBSTS), rd(PORTSC1),
        rd(CONFIGFLAG));

  /* An async ring of one (empty) head QH; every frame the interrupt QH. */
  qh_fill(&qh_async, (u32)(uptr)&qh_async | LINK_QH, 0, 0, 64, 1, 1, 0);
  for (u32 i = 0; i < 1024; i++) frame_list[i] = LINK_T;
  wr(PERIODICLISTBASE, (u32)(uptr)frame_list);
  wr(ASYNCLISTADDR, (u32)(uptr)&qh_async);
  wr(USBINTR, 0);
  wr(USBSTS, 0x3F);
  wr(USBCMD, 8u << 16 | CMD_RUN | CMD_ASE | CMD_PSE);
  wait_frames(2);
  if (rd(USBSTS) & (1u << 12)) ehci_fail("HCHalted while running");
  wr(CONFIGFLAG, 1);
  wait_frames(2);
  u32 port = rd(PORTSC1);
  print("EHCI configflag port1=%x\n", port);
  if (!(port & PORT_CONNECT) || (port & PORT_OWNER))
    ehci_fail("port 1: no device after CONFIGFLAG");

  /* Reset 50 ms; the end of the reset enables a high-speed device. */
  wr(PORTSC1, PORT_POWER | PORT_RESET);
  wait_frames(50);
  wr(PORTSC1, PORT_POWER);
  wait_frames(10);
  port = rd(PORTSC1);
  print("EHCI port1 after reset %x\n", port);
  if (!(port & PORT_ENABLED)) ehci_fail("port 1: not enabled after reset (not high speed)");

  if (handoff) {
    PciDevice uhci;
    if (!pci_find(0x8086, 0x2934, 0x2934, &uhci)) ehci_fail("no companion 8086:2934");
    pci_setup_bars(&uhci);
    const u16 io = (u16)uhci.bar[4];
    print("EHCI companion 00:%x.%u port1=%x\n", uhci.dev, uhci.fn, inw(io + 0x10));
    wr(PORTSC1, PORT_POWER | PORT_OWNER);
    wait_frames(5);
    print("EHCI handed over port1=%x companion port1=%x\n", rd(PORTSC1), inw(io + 0x10));
    if (!(inw(io + 0x10) & 1)) ehci_fail("the companion does not see the device");
    usb_probe_uhci(0x2934);
  }

  int n = control(0, 0x80, 6, 0x0100, 0, 18);
  if (n != 18) ehci_fail("device descriptor");
  print_hex("EHCI device:", data, 18);
  if (control(0, 0x00, 5, 1, 0, 0) != 0) ehci_fail("SET_ADDRESS");
  wait_frames(2);
  n = control(1, 0x80, 6, 0x0200, 0, 255);
  if (n < 9) ehci_fail("configuration descriptor");
  print_hex("EHCI config:", data, (u32)n);
  u32 endpoint = 0, packet = 0, interval = 0;
  for (int at = 0; at + 1 < n && data[at] != 0; at += data[at]) {
    if (data[at + 1] == 0x05 && at + 6 < n && (data[at + 2] & 0x80)) {
      endpoint = data[at + 2] & 0x0F;
      packet = data[at + 4] | (u32)data[at + 5] << 8;
      interval = data[at + 6];
    }
  }
  print("EHCI endpoint %u packet %u interval %u\n", endpoint, packet, interval);
  if (!endpoint || !packet || packet > sizeof report_buf) ehci_fail("no interrupt IN endpoint");
  if (control(1, 0x00, 9, data[5], 0, 0) != 0) ehci_fail("SET_CONFIGURATION");
  if (control(1, 0x21, 0x0A, 0, 0, 0) != 0) ehci_fail("SET_IDLE");

  /* The interrupt QH in every frame (S-mask microframe 0). */
  qh_fill(&qh_intr, LINK_T, 1, endpoint, packet, 0, 0, 0x01);
  qtd_fill(&qtd_intr, LINK_T, qtd_token(PID_IN, packet, 0, 1), report_buf);
  qh_intr.next = (u32)(uptr)&qtd_intr;
  full_barrier();
  for (u32 i = 0; i < 1024; i++) frame_list[i] = (u32)(uptr)&qh_intr | LINK_QH;
  full_barrier();
  wait_frames(30);
  print("EHCI interrupt idle active=%u\n", (qtd_intr.token & QTD_ACTIVE) ? 1 : 0);
  if (!(qtd_intr.token & QTD_ACTIVE)) ehci_fail("interrupt IN completed with no input");

  u32 reports = cmdline_u32("reports", 3);
  print("EHCI READY\n");
  for (u32 r = 1; r <= reports; r++) {
    deadline = deadline_after(60);
    while (qtd_intr.token & QTD_ACTIVE) {
      full_barrier();
      if (deadline_passed(deadline)) ehci_fail("no report");
    }
    if (qtd_intr.token & QTD_HALTED) ehci_fail("interrupt IN halted");
    u32 got = packet - ((qtd_intr.token >> 16) & 0x7FFF);
    print("EHCI report %u:", r);
    for (u32 i = 0; i < got; i++) print(" %x%x", report_buf[i] >> 4, report_buf[i] & 15);
    print("\n");
    /* The QH keeps the toggle (DTC clear): requeue the same qTD. */
    qtd_fill(&qtd_intr, LINK_T, qtd_token(PID_IN, packet, 0, 1), report_buf);
    full_barrier();
    qh_intr.token = 0 | (qh_intr.token & (1u << 31));
    qh_intr.next = (u32)(uptr)&qtd_intr;
    full_barrier();
  }
  print("EHCI DONE\n");
  guest_exit(0);
}
