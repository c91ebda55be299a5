// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Amber virtio-blk probe guest (PVH). Modes, chosen by `test=` on the
 * cmdline (see tests/guest/README.md):
 *   probe     (default) every queue: write/read/compare, flush, write-zeroes,
 *             discard, get-id, out-of-range; leaves the known pattern.
 *   bench     rw=read|write depth=D count=N: 4 KiB requests on queue 0.
 *   writeloop batches of writes + flush forever, "FLUSHED seq=N" after each.
 *   fill / discard  start=S mb=M: write non-zero data / discard a range;
 *             fill with stamp=1 puts each sector's number in its first
 *             4 bytes (little-endian).
 *   errors    start=S mb=M: writes until the device answers IOERR (a
 *             full host disk with werror=report), then breaks its ring
 *             (avail index jump) and waits for NEEDS_RESET, then resets
 *             the device and reads again (for the error events).
 *   idle      print "PROBE: idle" and halt (for host-side inspection).
 *   exit      exit at once (boot-time measurement).
 *   ide / idebench  the PIIX3 IDE disk and CD instead (ide_probe.c).
 *   usb       the PIIX3 UHCI and its HID device on port 1 (usb_probe.c).
 *   pciscan   every function on PCI bus 0, one line each (pci.c).
 *   fdc       the ISA floppy controller without drives (fdc_probe.c).
 *   ehci      the ICH9 EHCI: CONFIGFLAG, port reset, the high-speed HID
 *             device on port 1 through the async and periodic schedules
 *   ehcihandoff  the same port handed to the companion UHCI1 (PORT_OWNER),
 *             then test=usb's run on that UHCI (ehci_probe.c).
 * Common options: seed=N; wait=S waits for a byte on COM1 (or S seconds)
 * before any disk I/O; idle=1 halts after the probe instead of exiting.
 */
#include "blk.h"
#include "ide.h"
#include "scsi.h"
#include "smp.h"

#define SECTOR 512
/* Where the probe pattern lives: queue q owns sectors PROBE_BASE + q*256... */
#define PROBE_BASE 2048
#define PROBE_STRIDE 256
#define PROBE_SECTORS 8
/* The write loop writes one sector per sequence number from here. */
#define LOOP_BASE 65536

typedef struct {
  u32 hvm_magic;
  u32 version;
  u32 flags;
  u32 nr_modules;
  u64 modlist_paddr;
  u64 cmdline_paddr;
  u64 rsdp_paddr;
} HvmStartInfo;

static VirtioDev dev;
static u32 seed;
static u64 capacity;
static u8 wbuf[8192] __attribute__((aligned(4096)));
static u8 rbuf[8192] __attribute__((aligned(4096)));
static u8 id_buf[24];
static u8 big[65536] __attribute__((aligned(4096)));

static void fail(const char* why) __attribute__((noreturn));
static void fail(const char* why) {
  print("PROBE: RESULT FAIL %s\n", why);
  guest_exit(1);
}

static u32 put_dec(char* out, u32 v) {
  char tmp[12];
  u32 n = 0, k = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) out[k++] = tmp[--n];
  return k;
}

/* Sector contents the host recomputes: a 64-byte text header
 * "<tag> sector=<s> seed=<seed>" (zero padded) and bytes
 * (s*7 + seed + i*13) & 0xff for i in 64..511. */
void fill_sector(u8* p, const char* tag, u32 s, u32 sd) {
  memset(p, 0, 64);
  char* c = (char*)p;
  u32 k = 0;
  for (const char* t = tag; *t; t++) c[k++] = *t;
  const char* a = " sector=";
  for (; *a; a++) c[k++] = *a;
  k += put_dec(c + k, s);
  const char* b = " seed=";
  for (; *b; b++) c[k++] = *b;
  k += put_dec(c + k, sd);
  for (u32 i = 64; i < SECTOR; i++) p[i] = (u8)(s * 7 + sd + i * 13);
}

static void fill_range(u8* buf, const char* tag, u32 first, u32 count) {
  for (u32 i = 0; i < count; i++) fill_sector(buf + i * SECTOR, tag, first + i, seed);
}

static void expect_ok(u8 st, const char* what, u16 q) {
  if (st != BLK_S_OK) {
    print("PROBE: queue %u %s status %u\n", q, what, st);
    fail(what);
  }
}

static void idle_forever(void) __attribute__((noreturn));
static void idle_forever(void) {
  print("PROBE: idle\n");
  for (;;) __asm__ volatile("cli; hlt");
}

/* Waits for any byte on COM1 (the host's go signal) or `seconds`. */
static void wait_for_host(u32 seconds) {
  print("PROBE: waiting for host (%u s)\n", seconds);
  u64 dl = deadline_after(seconds);
  while (!deadline_passed(dl)) {
    if (inb(0x3F8 + 5) & 1) {
      (void)inb(0x3F8);
      print("PROBE: host go\n");
      return;
    }
  }
  print("PROBE: wait timed out\n");
}

static int negotiate(int want_event_idx) {
  u64 want = (1ull << VIRTIO_F_VERSION_1) | (1u << VIRTIO_BLK_F_MQ) | (1u << VIRTIO_BLK_F_FLUSH) |
             (1u << VIRTIO_BLK_F_DISCARD) | (1u << VIRTIO_BLK_F_WRITE_ZEROES) |
             (1u << VIRTIO_BLK_F_BLK_SIZE) | (1u << VIRTIO_BLK_F_SEG_MAX) |
             (1u << VIRTIO_BLK_F_SIZE_MAX) | (1u << VIRTIO_BLK_F_RO);
  if (want_event_idx) want |= 1ull << VIRTIO_F_RING_EVENT_IDX;
  if (!virtio_negotiate(&dev, want)) return 0;
  u32 cfg = dev.device_cfg;
  capacity = ((u64)mmio_read32(cfg + 4) << 32) | mmio_read32(cfg);
  u32 nq = 1;
  if (dev.features & (1u << VIRTIO_BLK_F_MQ)) nq = mmio_read16(cfg + 34);
  print("PROBE: capacity %U sectors, blk queues %u, wce %u\n", capacity, nq, mmio_read8(cfg + 32));
  if (nq == 0 || nq > VQ_MAX_QUEUES) fail("bad num_queues");
  for (u16 i = 0; i < nq; i++) {
    if (!virtio_setup_queue(&dev, i)) {
      print("PROBE: queue %u could not be set up\n", i);
      fail("queue setup");
    }
  }
  dev.num_queues = (u16)nq;
  virtio_driver_ok(&dev);
  if (virtio_status(&dev) & 0xC0) fail("device status NEEDS_RESET/FAILED after DRIVER_OK");
  return 1;
}

static void probe_queue(u16 q) {
  u32 base = PROBE_BASE + q * PROBE_STRIDE;
  /* 1. 4 KiB write in one descriptor, read back with two. */
  fill_range(wbuf, "AMBERPROBE", base, PROBE_SECTORS);
  expect_ok(blk_sync(&dev, q, VIRTIO_BLK_T_OUT, base, wbuf, PROBE_SECTORS * SECTOR, 0), "write", q);
  memset(rbuf, 0xA5, sizeof rbuf);
  expect_ok(blk_sync(&dev, q, VIRTIO_BLK_T_IN, base, rbuf, PROBE_SECTORS * SECTOR, 1), "read", q);
  if (memcmp(wbuf, rbuf, PROBE_SECTORS * SECTOR) != 0) fail("read-back mismatch");
  /* 2. Batch of 16 one-sector writes in flight, then read them back. */
  u32 bbase = base + 32;
  for (u32 i = 0; i < 16; i++) {
    fill_sector(blk_slot_data[i], "AMBERBATCH", bbase + i, seed);
    if (!blk_submit(&dev, q, i, VIRTIO_BLK_T_OUT, bbase + i, SECTOR)) fail("batch submit");
  }
  vq_kick(&dev, &dev.vq[q]);
  u32 done = 0;
  u64 dl = deadline_after(60);
  while (done < 16) {
    u8 st;
    int r = blk_poll(&dev, q, &st);
    if (r == -2) expect_ok(st, "batch write", q);
    if (r >= 0) done++;
    if (deadline_passed(dl)) fail("batch timeout");
  }
  for (u32 i = 0; i < 16; i++) {
    expect_ok(blk_sync(&dev, q, VIRTIO_BLK_T_IN, bbase + i, rbuf, SECTOR, 0), "batch read", q);
    fill_sector(wbuf, "AMBERBATCH", bbase + i, seed);
    if (memcmp(wbuf, rbuf, SECTOR) != 0) fail("batch read-back mismatch");
  }
  print("PROBE: queue %u write/read ok\n", q);
  if (dev.features & (1u << VIRTIO_BLK_F_FLUSH)) {
    expect_ok(blk_sync(&dev, q, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 0), "flush", q);
    print("PROBE: queue %u flush ok\n", q);
  }
  /* 3. Write-zeroes over a written range reads back as zeros. */
  u32 zbase = base + 64;
  if (dev.features & (1u << VIRTIO_BLK_F_WRITE_ZEROES)) {
    fill_range(wbuf, "AMBERZERO", zbase, PROBE_SECTORS);
    expect_ok(blk_sync(&dev, q, VIRTIO_BLK_T_OUT, zbase, wbuf, PROBE_SECTORS * SECTOR, 0), "write",
              q);
    expect_ok(blk_range(&dev, q, VIRTIO_BLK_T_WRITE_ZEROES, zbase, PROBE_SECTORS, 1),
              "write-zeroes", q);
    memset(rbuf, 0xA5, sizeof rbuf);
    expect_ok(blk_sync(&dev, q, VIRTIO_BLK_T_IN, zbase, rbuf, PROBE_SECTORS * SECTOR, 0), "read",
              q);
    for (u32 i = 0; i < PROBE_SECTORS * SECTOR; i++) {
      if (rbuf[i] != 0) fail("write-zeroes range not zero");
    }
    print("PROBE: queue %u write-zeroes ok\n", q);
  } else {
    print("PROBE: queue %u write-zeroes not offered\n", q);
  }
  /* 4. Discard: must complete OK (contents afterwards are unspecified). */
  u32 dbase = base + 128;
  if (dev.features & (1u << VIRTIO_BLK_F_DISCARD)) {
    fill_range(wbuf, "AMBERDISC", dbase, PROBE_SECTORS);
    expect_ok(blk_sync(&dev, q, VIRTIO_BLK_T_OUT, dbase, wbuf, PROBE_SECTORS * SECTOR, 0), "write",
              q);
    expect_ok(blk_range(&dev, q, VIRTIO_BLK_T_DISCARD, dbase, PROBE_SECTORS, 0), "discard", q);
    print("PROBE: queue %u discard ok\n", q);
  } else {
    print("PROBE: queue %u discard not offered\n", q);
  }
  /* 5. GET_ID. */
  memset(id_buf, 0, sizeof id_buf);
  expect_ok(blk_sync(&dev, q, VIRTIO_BLK_T_GET_ID, 0, id_buf, 20, 0), "get-id", q);
  print("PROBE: queue %u get-id ok '%s'\n", q, (const char*)id_buf);
  /* 6. A read past the end must be refused with IOERR. */
  u8 st = blk_sync(&dev, q, VIRTIO_BLK_T_IN, capacity, rbuf, SECTOR, 0);
  if (st != BLK_S_IOERR) {
    print("PROBE: queue %u read past end gave status %u\n", q, st);
    fail("out-of-range read not rejected");
  }
  /* 7. The last sector is reachable. */
  fill_sector(wbuf, "AMBERLAST", (u32)capacity - 1, seed);
  expect_ok(blk_sync(&dev, q, VIRTIO_BLK_T_OUT, capacity - 1, wbuf, SECTOR, 0), "write last", q);
  expect_ok(blk_sync(&dev, q, VIRTIO_BLK_T_IN, capacity - 1, rbuf, SECTOR, 0), "read last", q);
  if (memcmp(wbuf, rbuf, SECTOR) != 0) fail("last sector mismatch");
  if (dev.features & (1u << VIRTIO_BLK_F_FLUSH))
    expect_ok(blk_sync(&dev, q, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 0), "flush", q);
  print("PROBE: queue %u ok\n", q);
}

static void event_idx_pass(void) {
  if (!(dev.offered & (1ull << VIRTIO_F_RING_EVENT_IDX))) {
    print("PROBE: event_idx not offered, second pass skipped\n");
    return;
  }
  if (!negotiate(1)) fail("renegotiation with EVENT_IDX");
  if (!dev.event_idx) fail("EVENT_IDX offered but not negotiated");
  for (u16 q = 0; q < dev.num_queues; q++) {
    u32 base = PROBE_BASE + q * PROBE_STRIDE + 192;
    for (u32 round = 0; round < 4; round++) {
      fill_range(wbuf, "AMBEREVIDX", base, PROBE_SECTORS);
      expect_ok(blk_sync(&dev, q, VIRTIO_BLK_T_OUT, base, wbuf, PROBE_SECTORS * SECTOR, 0),
                "evidx write", q);
      memset(rbuf, 0, sizeof rbuf);
      expect_ok(blk_sync(&dev, q, VIRTIO_BLK_T_IN, base, rbuf, PROBE_SECTORS * SECTOR, 0),
                "evidx read", q);
      if (memcmp(wbuf, rbuf, PROBE_SECTORS * SECTOR) != 0) fail("event_idx read-back mismatch");
    }
    print("PROBE: queue %u event_idx write/read ok\n", q);
  }
}

static void mode_probe(void) {
  u32 want_queues = cmdline_u32("queues", 0);
  if (!negotiate(0)) fail("negotiation");
  if (want_queues && dev.num_queues != want_queues) {
    print("PROBE: device has %u queues, cmdline wants %u\n", dev.num_queues, want_queues);
    fail("queue count");
  }
  for (u16 q = 0; q < dev.num_queues; q++) probe_queue(q);
  if (cmdline_u32("eventidx", 1)) event_idx_pass();
  /* Rewrite the pattern last so it is what the host finds, and flush. */
  for (u16 q = 0; q < dev.num_queues; q++) {
    u32 base = PROBE_BASE + q * PROBE_STRIDE;
    fill_range(wbuf, "AMBERPROBE", base, PROBE_SECTORS);
    expect_ok(blk_sync(&dev, q, VIRTIO_BLK_T_OUT, base, wbuf, PROBE_SECTORS * SECTOR, 0),
              "final write", q);
  }
  if (dev.features & (1u << VIRTIO_BLK_F_FLUSH))
    expect_ok(blk_sync(&dev, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 0), "final flush", 0);
  print("PROBE: RESULT PASS queues=%u\n", dev.num_queues);
  if (cmdline_u32("idle", 0)) idle_forever();
  virtio_reset(&dev);
  guest_exit(0);
}

static void mode_bench(void) {
  u32 depth = cmdline_u32("depth", 1);
  u32 count = cmdline_u32("count", 1000);
  u32 region = cmdline_u32("region_mb", 16) * 2048u; /* sectors */
  int write = cmdline_is("rw", "write");
  if (depth == 0 || depth > BLK_SLOTS) depth = 1;
  if (!negotiate(0)) fail("negotiation");
  if (region > capacity - PROBE_BASE) region = (u32)(capacity - PROBE_BASE) & ~7u;
  for (u32 i = 0; i < depth; i++) fill_sector(blk_slot_data[i], "AMBERBENCH", i, seed);
  u32 type = write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
  u32 submitted = 0, completed = 0;
  u32 next_sector = 0;
  print("BENCH start rw=%s depth=%u count=%u\n", write ? "write" : "read", depth, count);
  u64 t0 = rdtsc();
  for (u32 s = 0; s < depth && submitted < count; s++) {
    blk_submit(&dev, 0, s, type, PROBE_BASE + next_sector, 4096);
    next_sector = (next_sector + 8) % region;
    submitted++;
  }
  vq_kick(&dev, &dev.vq[0]);
  u64 dl = deadline_after(600);
  while (completed < count) {
    /* Like a real driver's completion path: reap every finished
     * request, refill those slots, then one (suppressible) kick for
     * the whole batch. */
    u32 refilled = 0;
    for (;;) {
      u8 st;
      int slot = blk_poll(&dev, 0, &st);
      if (slot == -2) fail("bench request error");
      if (slot < 0) break;
      completed++;
      if (submitted < count) {
        blk_submit(&dev, 0, (u32)slot, type, PROBE_BASE + next_sector, 4096);
        next_sector = (next_sector + 8) % region;
        submitted++;
        refilled++;
      }
    }
    if (refilled)
      vq_kick(&dev, &dev.vq[0]);
    else if (deadline_passed(dl))
      fail("bench timeout");
  }
  u64 t1 = rdtsc();
  print("BENCH done %u requests tsc=%U\n", completed, t1 - t0);
  virtio_reset(&dev);
  print("PROBE: RESULT PASS bench\n");
  guest_exit(0);
}

static void mode_writeloop(void) {
  u32 batch = cmdline_u32("batch", 8);
  if (batch == 0 || batch > BLK_SLOTS) batch = 8;
  if (!negotiate(0)) fail("negotiation");
  if (!(dev.features & (1u << VIRTIO_BLK_F_FLUSH))) fail("writeloop needs FLUSH");
  u32 limit = (u32)(capacity - LOOP_BASE);
  print("LOOP: start base=%u limit=%u seed=%u\n", LOOP_BASE, limit, seed);
  u32 seq = 0;
  while (seq + batch <= limit) {
    for (u32 i = 0; i < batch; i++) {
      fill_sector(blk_slot_data[i], "AMBERLOOP", seq + i, seed);
      if (!blk_submit(&dev, 0, i, VIRTIO_BLK_T_OUT, LOOP_BASE + seq + i, SECTOR))
        fail("loop submit");
    }
    vq_kick(&dev, &dev.vq[0]);
    u32 done = 0;
    u64 dl = deadline_after(60);
    while (done < batch) {
      u8 st;
      int r = blk_poll(&dev, 0, &st);
      if (r == -2) fail("loop write error");
      if (r >= 0)
        done++;
      else if (deadline_passed(dl))
        fail("loop timeout");
    }
    seq += batch;
    expect_ok(blk_sync(&dev, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 0), "loop flush", 0);
    print("FLUSHED seq=%u\n", seq - 1);
  }
  print("LOOP: end of disk\n");
  print("PROBE: RESULT PASS writeloop\n");
  guest_exit(0);
}

static void mode_fill_or_discard(int discard) {
  u32 start = cmdline_u32("start", PROBE_BASE);
  u32 sectors = cmdline_u32("mb", 8) * 2048u;
  if (!negotiate(0)) fail("negotiation");
  if (discard) {
    if (!(dev.features & (1u << VIRTIO_BLK_F_DISCARD))) fail("DISCARD not offered");
    u32 max = mmio_read32(dev.device_cfg + 36);
    if (max == 0 || max > 65536) max = 65536;
    for (u32 s = 0; s < sectors; s += max) {
      u32 n = sectors - s < max ? sectors - s : max;
      expect_ok(blk_range(&dev, 0, VIRTIO_BLK_T_DISCARD, start + s, n, 0), "discard", 0);
    }
  } else {
    int stamp = (int)cmdline_u32("stamp", 0);
    for (u32 i = 0; i < sizeof big; i++) big[i] = (u8)(i * 31 + seed + 1) | 1;
    for (u32 s = 0; s < sectors; s += sizeof big / SECTOR) {
      for (u32 k = 0; stamp && k < sizeof big / SECTOR; k++) {
        u32 n = start + s + k;
        memcpy(big + k * SECTOR, &n, 4);
      }
      expect_ok(blk_sync(&dev, 0, VIRTIO_BLK_T_OUT, start + s, big, sizeof big, 0), "fill write",
                0);
      if (stamp && (s / (sizeof big / SECTOR)) % 64 == 0) print("FILL: at sector %u\n", start + s);
    }
  }
  if (dev.features & (1u << VIRTIO_BLK_F_FLUSH))
    expect_ok(blk_sync(&dev, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 0), "flush", 0);
  virtio_reset(&dev);
  print("PROBE: %s %u sectors at %u done\n", discard ? "discard" : "fill", sectors, start);
  print("PROBE: RESULT PASS %s\n", discard ? "discard" : "fill");
  guest_exit(0);
}

/* Host I/O errors and ring breakage, for the host's event checks. */
static void mode_errors(void) {
  u32 start = cmdline_u32("start", PROBE_BASE);
  u32 sectors = cmdline_u32("mb", 8) * 2048u;
  if (!negotiate(0)) fail("negotiation");
  for (u32 i = 0; i < sizeof big; i++) big[i] = (u8)(i * 29 + seed) | 1;
  u32 s = 0;
  u8 st = BLK_S_OK;
  for (; s < sectors; s += sizeof big / SECTOR) {
    st = blk_sync(&dev, 0, VIRTIO_BLK_T_OUT, start + s, big, sizeof big, 0);
    if (st != BLK_S_OK) break;
  }
  if (st != BLK_S_IOERR) fail("no IOERR from the device");
  print("ERRORS: write status %u at sector %u\n", st, start + s);
  /* Break the ring: avail->idx jumps past the queue size. */
  Virtqueue* q = &dev.vq[0];
  q->avail[1] = (u16)(q->next_avail + q->size + 1);
  mmio_write16(q->notify_addr, q->index);
  u64 dl = deadline_after(30);
  while (!(virtio_status(&dev) & 0x40)) {
    if (deadline_passed(dl)) fail("no NEEDS_RESET after breaking the ring");
  }
  print("ERRORS: needs reset (status %x)\n", virtio_status(&dev));
  if (!negotiate(0)) fail("renegotiation after NEEDS_RESET");
  expect_ok(blk_sync(&dev, 0, VIRTIO_BLK_T_IN, 0, rbuf, SECTOR, 0), "read after reset", 0);
  print("PROBE: RESULT PASS errors\n");
  if (cmdline_u32("idle", 0)) idle_forever();
  virtio_reset(&dev);
  guest_exit(0);
}

void guest_main(const HvmStartInfo* info);
void guest_main(const HvmStartInfo* info) {
  serial_init();
  print("PROBE: amber probe guest starting\n");
  if (info && info->hvm_magic == 0x336ec578u && info->cmdline_paddr &&
      info->cmdline_paddr < 0x100000000ull)
    cmdline_set((const char*)(uptr)info->cmdline_paddr);
  else
    print("PROBE: no hvm_start_info (ebx=%x)\n", (uptr)info);
  char line[128];
  if (!cmdline_get("test", line, sizeof line)) {
    memcpy(line, "probe", 6);
  }
  seed = cmdline_u32("seed", 1);
  print("PROBE: mode %s seed %u\n", line, seed);
  if (cmdline_is("test", "smpexit")) mode_smp_exits();
  if (cmdline_is("test", "scsi")) scsi_mode_probe();
  if (cmdline_is("test", "scsibench")) scsi_mode_bench();
  if (cmdline_is("test", "ide")) mode_ide();
  if (cmdline_is("test", "idebench")) mode_idebench();
  if (cmdline_is("test", "vga")) mode_vga();
  if (cmdline_is("test", "e1000") || cmdline_is("test", "e1000tap") ||
      cmdline_is("test", "e1000bench"))
    mode_e1000();
  if (cmdline_is("test", "vnet") || cmdline_is("test", "vnettap") ||
      cmdline_is("test", "vnetbench"))
    mode_vnet();
  if (cmdline_is("test", "vgaloop")) mode_vgaloop();
  if (cmdline_is("test", "usb")) mode_usb();
  if (cmdline_is("test", "pciscan")) mode_pciscan();
  if (cmdline_is("test", "fdc")) mode_fdc();
  if (cmdline_is("test", "ehci") || cmdline_is("test", "ehcihandoff")) mode_ehci();
  PciDevice pci;
  if (!pci_find(0x1AF4, 0x1001, 0x1042, &pci)) fail("no virtio-blk device on bus 0");
  print("PROBE: virtio-blk %x:%x at 00:%x.%u\n", pci.vendor, pci.device, pci.dev, pci.fn);
  if (!virtio_pci_init(&dev, &pci)) fail("virtio-pci modern transport");
  u32 wait = cmdline_u32("wait", 0);
  if (wait) wait_for_host(wait);
  if (cmdline_is("test", "idle")) idle_forever();
  if (cmdline_is("test", "exit")) {
    print("PROBE: RESULT PASS exit\n");
    guest_exit(0);
  }
  if (cmdline_is("test", "bench"))
    mode_bench();
  else if (cmdline_is("test", "writeloop"))
    mode_writeloop();
  else if (cmdline_is("test", "fill"))
    mode_fill_or_discard(0);
  else if (cmdline_is("test", "discard"))
    mode_fill_or_discard(1);
  else if (cmdline_is("test", "errors"))
    mode_errors();
  mode_probe();
}
