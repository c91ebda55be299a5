// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The probe guest's test=usb mode (see tests/guest/README.md): a polled
 * UHCI driver for the PIIX3 controller 8086:7020 and the HID device on
 * root port 1. It resets the controller and the port, enumerates the
 * device (GET_DESCRIPTOR device / configuration / strings / HID report,
 * SET_ADDRESS 1, SET_CONFIGURATION, SET_IDLE 0), checks that the
 * interrupt IN endpoint NAKs while nothing happens, prints "USB READY" and
 * then one "USB report N: xx xx .." line per report it reads, until
 * reports=N (default 3); then "USB DONE" and exit 0. Every failure is
 * "USB FAIL what" and exit 1. No interrupts: the schedule is polled.
 * Under QEMU (-device piix3-usb-uhci,addr=1.2 -device usb-tablet) it
 * prints the same lines for the same input events. usb_probe_uhci() is the
 * same for another UHCI (an EHCI's companion, ehci_probe.c).
 * Single-threaded guest code.
 */
#include "pci.h"

#define USBCMD 0x00
#define USBSTS 0x02
#define USBINTR 0x04
#define FRNUM 0x06
#define FLBASEADD 0x08
#define PORTSC1 0x10
#define PORTSC2 0x12

#define TD_ACTIVE (1u << 23)
#define TD_ERRORS (0x7Eu << 16) /* stalled, buffer, babble, NAK?, timeout, bitstuff */
#define TD_FAILED ((1u << 22) | (1u << 21) | (1u << 20) | (1u << 18) | (1u << 17))
#define TD_NAK (1u << 19)
#define TD_IOC (1u << 24)
#define TD_ERR3 (3u << 27)
#define LINK_T 1u
#define LINK_QH 2u
#define LINK_VF 4u
#define PID_SETUP 0x2D
#define PID_IN 0x69
#define PID_OUT 0xE1
#define MAX_TDS 64

typedef struct {
  volatile u32 link, control, token, buffer;
  u32 unused[4];
} Td;
typedef struct {
  volatile u32 link, element;
  u32 unused[2];
} Qh;

static u32 frame_list[1024] __attribute__((aligned(4096)));
static Qh qh_intr __attribute__((aligned(16)));
static Qh qh_ctrl __attribute__((aligned(16)));
static Td tds[MAX_TDS] __attribute__((aligned(16)));
static Td td_intr __attribute__((aligned(16)));
static u8 setup_packet[8] __attribute__((aligned(16)));
static u8 data[1024] __attribute__((aligned(16)));
static u8 report_buf[64] __attribute__((aligned(16)));
static u16 io;

static void usb_fail(const char* what) __attribute__((noreturn));
static void usb_fail(const char* what) {
  print("USB FAIL %s (sts=%x port1=%x)\n", what, inw(io + USBSTS), inw(io + PORTSC1));
  guest_exit(1);
}

/* The controller counts frames (1 ms each) while it runs. */
static void wait_frames(u32 count) {
  u64 deadline = deadline_after(10);
  u16 last = inw(io + FRNUM);
  while (count > 0) {
    u16 now = inw(io + FRNUM);
    if (now != last) {
      count--;
      last = now;
    }
    if (deadline_passed(deadline)) usb_fail("frame counter does not run");
  }
}

static u32 token(u8 pid, u32 address, u32 endpoint, u32 toggle, u32 length) {
  return pid | address << 8 | endpoint << 15 | toggle << 19 | ((length - 1) & 0x7FF) << 21;
}

static void print_hex(const char* label, const u8* bytes, u32 n) {
  print("%s", label);
  for (u32 i = 0; i < n; i++) print(" %x%x", bytes[i] >> 4, bytes[i] & 15);
  print("\n");
}

/* One control transfer to `address`; returns the bytes of the data stage
 * received (IN) or sent, or -1 (a TD failed; its status is printed). */
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
  tds[n].control = TD_ACTIVE | TD_ERR3;
  tds[n].token = token(PID_SETUP, address, 0, 0, 8);
  tds[n].buffer = (u32)(uptr)setup_packet;
  n++;
  u32 toggle = 1;
  for (u32 done = 0; done < length && n < MAX_TDS - 1; done += 8) {
    u32 chunk = length - done < 8 ? length - done : 8;
    tds[n].control = TD_ACTIVE | TD_ERR3;
    tds[n].token = token(in ? PID_IN : PID_OUT, address, 0, toggle, chunk);
    tds[n].buffer = (u32)(uptr)(data + done);
    toggle ^= 1;
    n++;
  }
  tds[n].control = TD_ACTIVE | TD_ERR3 | TD_IOC;
  tds[n].token = token(in ? PID_OUT : PID_IN, address, 0, 1, 0);
  tds[n].buffer = 0;
  n++;
  for (u32 i = 0; i < n; i++) tds[i].link = i + 1 < n ? ((u32)(uptr)&tds[i + 1] | LINK_VF) : LINK_T;
  full_barrier();
  qh_ctrl.element = (u32)(uptr)&tds[0];
  u64 deadline = deadline_after(10);
  for (;;) {
    full_barrier();
    for (u32 i = 0; i < n; i++) {
      if (!(tds[i].control & TD_ACTIVE) && (tds[i].control & TD_FAILED)) {
        qh_ctrl.element = LINK_T;
        print("USB control %x/%x value %x: TD %u status %x\n", type, request, value, i,
              tds[i].control);
        return -1;
      }
    }
    if (qh_ctrl.element & LINK_T) break;
    if (deadline_passed(deadline)) usb_fail("control transfer timed out");
  }
  int got = 0;
  for (u32 i = 1; i + 1 < n; i++) got += (int)((tds[i].control + 1) & 0x7FF);
  return got;
}

static void print_string(u32 address, u8 index, const char* what) {
  if (index == 0) return;
  int n = control(address, 0x80, 6, 0x0300 | index, 0x0409, 255);
  if (n < 2) usb_fail("string descriptor");
  char text[128];
  u32 k = 0;
  for (int i = 2; i + 1 < n && k + 1 < sizeof text; i += 2) text[k++] = (char)data[i];
  text[k] = 0;
  print("USB string %s %u: %s\n", what, index, text);
}

void mode_usb(void) {
  usb_probe_uhci(0x7020);
}

void usb_probe_uhci(u16 device_id) {
  PciDevice pci;
  if (!pci_find(0x8086, device_id, device_id, &pci)) usb_fail("no such UHCI on bus 0");
  pci_setup_bars(&pci);
  io = (u16)pci.bar[4];
  print("USB uhci 00:%x.%u rev %x class %x pin %u io %x\n", pci.dev, pci.fn, pci_read8(&pci, 0x08),
        pci_read32(&pci, 0x08) >> 8, pci_read8(&pci, 0x3D), io);
  if (!io || !pci.bar_is_io[4]) usb_fail("BAR4 is not an I/O BAR");

  /* Host controller reset; then the registers as a driver first sees them. */
  outw(io + USBCMD, 0x0002);
  u64 deadline = deadline_after(5);
  while (inw(io + USBCMD) & 0x0002)
    if (deadline_passed(deadline)) usb_fail("HCRESET does not finish");
  print("USB reset cmd=%x sts=%x intr=%x port1=%x port2=%x\n", inw(io + USBCMD), inw(io + USBSTS),
        inw(io + USBINTR), inw(io + PORTSC1), inw(io + PORTSC2));

  for (u32 i = 0; i < 1024; i++) frame_list[i] = (u32)(uptr)&qh_intr | LINK_QH;
  qh_intr.link = (u32)(uptr)&qh_ctrl | LINK_QH;
  qh_intr.element = LINK_T;
  qh_ctrl.link = LINK_T;
  qh_ctrl.element = LINK_T;
  outl(io + FLBASEADD, (u32)(uptr)frame_list);
  outw(io + FRNUM, 0);
  outw(io + USBINTR, 0);
  outw(io + USBSTS, 0x3F);
  outw(io + USBCMD, 0x0001); /* run */
  wait_frames(2);
  if (inw(io + USBSTS) & 0x20) usb_fail("HCHalted while running");

  /* Port 1: reset 50 ms, then enable (and clear the change bits). */
  outw(io + PORTSC1, 0x0200);
  wait_frames(50);
  outw(io + PORTSC1, 0x0000);
  wait_frames(10);
  outw(io + PORTSC1, 0x000E);
  wait_frames(10);
  u16 port = inw(io + PORTSC1);
  print("USB port1 after reset %x\n", port);
  if (!(port & 1) || !(port & 4)) usb_fail("port 1: no device connected and enabled");

  int n = control(0, 0x80, 6, 0x0100, 0, 18);
  if (n != 18) usb_fail("device descriptor");
  print_hex("USB device:", data, 18);
  u8 device[18];
  memcpy(device, data, 18);
  if (control(0, 0x00, 5, 1, 0, 0) != 0) usb_fail("SET_ADDRESS");
  wait_frames(5);
  if (control(1, 0x80, 6, 0x0200, 0, 9) != 9) usb_fail("configuration descriptor header");
  u32 total = data[2] | (u32)data[3] << 8;
  if (total > sizeof data) usb_fail("configuration too long");
  n = control(1, 0x80, 6, 0x0200, 0, (u16)total);
  if (n != (int)total) usb_fail("configuration descriptor");
  print_hex("USB config:", data, (u32)n);
  u8 config_value = data[5], config_string = data[6];
  u32 report_length = 0, endpoint = 0, packet = 0;
  for (int at = 0; at + 1 < n && data[at] != 0; at += data[at]) {
    if (data[at + 1] == 0x21 && at + 8 < n) report_length = data[at + 7] | (u32)data[at + 8] << 8;
    if (data[at + 1] == 0x05 && at + 5 < n && (data[at + 2] & 0x80)) {
      endpoint = data[at + 2] & 0x0F;
      packet = data[at + 4] | (u32)data[at + 5] << 8;
    }
  }
  print("USB hid report_length %u endpoint %u packet %u\n", report_length, endpoint, packet);
  if (!report_length || !endpoint || !packet || packet > sizeof report_buf)
    usb_fail("no HID interface with an interrupt IN endpoint");
  n = control(1, 0x80, 6, 0x0300, 0, 255);
  if (n < 4) usb_fail("language IDs");
  print_hex("USB languages:", data, (u32)n);
  print_string(1, device[14], "manufacturer");
  print_string(1, device[15], "product");
  print_string(1, device[16], "serial");
  print_string(1, config_string, "configuration");
  n = control(1, 0x81, 6, 0x2200, 0, (u16)report_length);
  if (n != (int)report_length) usb_fail("HID report descriptor");
  print_hex("USB hid report:", data, (u32)n);
  if (control(1, 0x00, 9, config_value, 0, 0) != 0) usb_fail("SET_CONFIGURATION");
  n = control(1, 0x80, 8, 0, 0, 1);
  print("USB configuration %u\n", n == 1 ? data[0] : 0xFFFF);
  if (control(1, 0x80, 0, 0, 0, 2) != 2) usb_fail("GET_STATUS");
  print("USB status %x %x\n", data[0], data[1]);
  if (control(1, 0x21, 0x0A, 0, 0, 0) != 0) usb_fail("SET_IDLE");

  /* Interrupt IN: nothing has happened yet, so it NAKs. */
  u32 toggle = 0;
  td_intr.link = LINK_T;
  td_intr.buffer = (u32)(uptr)report_buf;
  td_intr.token = token(PID_IN, 1, endpoint, toggle, packet);
  td_intr.control = TD_ACTIVE | TD_ERR3;
  full_barrier();
  qh_intr.element = (u32)(uptr)&td_intr;
  wait_frames(30);
  print("USB interrupt idle active=%u nak=%u\n", (td_intr.control & TD_ACTIVE) ? 1 : 0,
        (td_intr.control & TD_NAK) ? 1 : 0);
  if (!(td_intr.control & TD_ACTIVE)) usb_fail("interrupt IN completed with no input");

  u32 reports = cmdline_u32("reports", 3);
  print("USB READY\n");
  for (u32 r = 1; r <= reports; r++) {
    deadline = deadline_after(60);
    while (td_intr.control & TD_ACTIVE) {
      full_barrier();
      if (deadline_passed(deadline)) usb_fail("no report");
    }
    if (td_intr.control & TD_FAILED) usb_fail("interrupt IN failed");
    u32 got = (td_intr.control + 1) & 0x7FF;
    print("USB report %u:", r);
    for (u32 i = 0; i < got; i++) print(" %x%x", report_buf[i] >> 4, report_buf[i] & 15);
    print("\n");
    toggle ^= 1;
    td_intr.token = token(PID_IN, 1, endpoint, toggle, packet);
    td_intr.control = TD_ACTIVE | TD_ERR3;
    full_barrier();
    qh_intr.element = (u32)(uptr)&td_intr;
  }
  print("USB DONE\n");
  guest_exit(0);
}
