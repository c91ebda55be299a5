// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-scsi probe modes (see scsi.h and tests/guest/README.md):
 *   scsi       every check prints "SCSI ok NAME" or "SCSI FAIL NAME ...",
 *              then "PROBE: RESULT PASS scsi" when all passed. Options:
 *              discard=1 (the disk has discard=unmap: expect LBPME, LBPU,
 *              LBPWS), serial=ID (expect VPD 0x80), seed=N,
 *              unmap_lba=/unmap_blocks= (default 16384/8192) the UNMAP range,
 *              ws_lba=/ws_blocks= (default 24576/8192) the WRITE SAME(16)
 *              UNMAP range.
 *   scsibench  rw=read|write depth=D count=N [region_mb=16]: 4 KiB READ 16 /
 *              WRITE 16 on target 0 LUN 0, "BENCH start" / "BENCH done".
 * Disk layout the host checks (512-byte blocks, target 0 LUN 0):
 *   4096..4223   stamped: first 4 bytes the LBA (LE), then byte i is
 *                (lba*7 + seed + i*13) & 0xff;
 *   4224..4351   every byte 0x5C;
 *   4352..4367   WRITE SAME pattern: every byte 0xA7;
 *   last block   stamped like 4096;
 *   second=T:L   that LUN's block 8 stamped as LBA 0x5EC0008.
 * Single-threaded guest code.
 */
#include "scsi.h"

#define STAMP_LBA 4096
#define STAMP_BLOCKS 128
#define CONST_LBA 4224
#define CONST_BLOCKS 128
#define WSPAT_LBA 4352
#define WSPAT_BLOCKS 16

static VirtioDev sdev;
static u8 lun0[8];
/* Scratch (scsi.h): the bench's READ CAPACITY uses rbuf before the slots. */
#define dbuf ((u8*)scsi_slot_data[0])
#define rbuf ((u8*)scsi_slot_data[16])
#define SCRATCH_BYTES 65536
static ScsiCmdResp resp;
static u32 failures, passes;
static u32 seed;
static u64 blocks;

static void put_be(u8* p, u64 v, u32 n) {
  for (u32 i = 0; i < n; i++) p[i] = (u8)(v >> (8 * (n - 1 - i)));
}
static u64 get_be(const u8* p, u32 n) {
  u64 v = 0;
  for (u32 i = 0; i < n; i++) v = v << 8 | p[i];
  return v;
}

static void result(int ok, const char* name, const char* why) {
  if (ok) {
    passes++;
    print("SCSI ok %s\n", name);
  } else {
    failures++;
    print("SCSI FAIL %s: %s (response %u status %x sense_len %u key %x asc %x/%x)\n", name, why,
          resp.response, resp.status, resp.sense_len, resp.sense[2] & 0xF, resp.sense[12],
          resp.sense[13]);
  }
}

/* Sense key / ASC / ASCQ in fixed (0x70/0x71) or descriptor (0x72/0x73) form. */
static int sense_is(u8 key, u8 asc, u8 ascq) {
  u8 code = resp.sense[0] & 0x7F;
  if (resp.sense_len < 4) return 0;
  if (code == 0x72 || code == 0x73)
    return (resp.sense[1] & 0xF) == key && resp.sense[2] == asc && resp.sense[3] == ascq;
  if (resp.sense_len < 14) return 0;
  return (code == 0x70 || code == 0x71) && (resp.sense[2] & 0xF) == key && resp.sense[12] == asc &&
         resp.sense[13] == ascq;
}

static u8 cmd(const u8* lun, const u8* cdb, u32 cdb_len, const void* out, u32 out_len, void* in,
              u32 in_len) {
  return scsi_sync(&sdev, lun, cdb, cdb_len, out, out_len, in, in_len, &resp, NULL);
}

static int good(u8 r) {
  return r == VIRTIO_SCSI_S_OK && resp.status == SCSI_STATUS_GOOD;
}

static int check_condition(u8 r, u8 key, u8 asc, u8 ascq) {
  return r == VIRTIO_SCSI_S_OK && resp.status == SCSI_STATUS_CHECK_CONDITION &&
         sense_is(key, asc, ascq);
}

static u8 inquiry(const u8* lun, int evpd, u8 page, void* out, u16 len) {
  u8 cdb[6] = {0x12, (u8)(evpd ? 1 : 0), page, (u8)(len >> 8), (u8)len, 0};
  return cmd(lun, cdb, 6, NULL, 0, out, len);
}

static u8 rw16(const u8* lun, int write, u64 lba, u32 count, void* buf, u32 buf_len) {
  u8 cdb[16] = {write ? 0x8A : 0x88};
  put_be(cdb + 2, lba, 8);
  put_be(cdb + 10, count, 4);
  return write ? cmd(lun, cdb, 16, buf, buf_len, NULL, 0)
               : cmd(lun, cdb, 16, NULL, 0, buf, buf_len);
}

static void stamp(u8* p, u64 lba) {
  for (u32 i = 0; i < 512; i++) p[i] = (u8)(lba * 7 + seed + i * 13);
  u32 l = (u32)lba;
  memcpy(p, &l, 4);
}

static int page_has(const u8* page, u8 code) {
  u32 n = (u32)get_be(page + 2, 2);
  for (u32 i = 0; i < n && i < 252; i++)
    if (page[4 + i] == code) return 1;
  return 0;
}

/* TEST UNIT READY until GOOD: a first command may get UNIT ATTENTION /
 * POWER ON, RESET (QEMU's scsi-hd reports one; the sense key is 6). */
static int unit_ready(void) {
  u8 tur[6] = {0};
  for (int i = 0; i < 3; i++) {
    u8 r = cmd(lun0, tur, 6, NULL, 0, NULL, 0);
    if (good(r)) return 1;
    if (!(r == VIRTIO_SCSI_S_OK && resp.status == SCSI_STATUS_CHECK_CONDITION &&
          (resp.sense[2] & 0xF) == 0x6))
      return 0;
    print("PROBE: unit attention %x/%x\n", resp.sense[12], resp.sense[13]);
  }
  return 0;
}

static void check_identity(int discard, const char* serial, u32* max_unmap) {
  memset(rbuf, 0, 256);
  u8 r = inquiry(lun0, 0, 0, rbuf, 96);
  result(good(r) && rbuf[0] == 0 && rbuf[4] >= 31 && memcmp(rbuf + 8, "QEMU    ", 8) == 0 &&
             memcmp(rbuf + 16, "QEMU HARDDISK   ", 16) == 0,
         "inquiry", "standard INQUIRY identity");
  memset(rbuf, 0, 256);
  r = inquiry(lun0, 1, 0x00, rbuf, 255);
  int pages_ok = good(r) && rbuf[1] == 0x00 && page_has(rbuf, 0x00) && page_has(rbuf, 0x83) &&
                 page_has(rbuf, 0xB0) && page_has(rbuf, 0xB2) && (!*serial || page_has(rbuf, 0x80));
  result(pages_ok, "vpd-00", "supported pages list");
  if (*serial) {
    memset(rbuf, 0, 256);
    r = inquiry(lun0, 1, 0x80, rbuf, 255);
    u32 n = (u32)get_be(rbuf + 2, 2);
    result(good(r) && rbuf[1] == 0x80 && n == strlen(serial) && memcmp(rbuf + 4, serial, n) == 0,
           "vpd-80", "unit serial number");
  }
  memset(rbuf, 0, 256);
  r = inquiry(lun0, 1, 0x83, rbuf, 255);
  result(good(r) && rbuf[1] == 0x83 && get_be(rbuf + 2, 2) >= 4 && rbuf[7] > 0, "vpd-83",
         "device identification designator");
  memset(rbuf, 0, 256);
  r = inquiry(lun0, 1, 0xB0, rbuf, 255);
  *max_unmap = (u32)get_be(rbuf + 20, 4);
  u32 max_desc = (u32)get_be(rbuf + 24, 4);
  print("PROBE: block limits max_transfer %u max_unmap %u descriptors %u max_write_same %U\n",
        (u32)get_be(rbuf + 8, 4), *max_unmap, max_desc, get_be(rbuf + 36, 8));
  result(good(r) && rbuf[1] == 0xB0 && get_be(rbuf + 2, 2) == 0x3C &&
             (discard ? *max_unmap > 0 && max_desc > 0 : 1),
         "vpd-b0", "block limits");
  memset(rbuf, 0, 256);
  r = inquiry(lun0, 1, 0xB2, rbuf, 255);
  u8 flags = rbuf[5];
  print("PROBE: provisioning flags %x type %u\n", flags, rbuf[6] & 7);
  result(good(r) && rbuf[1] == 0xB2 && (discard ? (flags & 0xC0) == 0xC0 : (flags & 0xE0) == 0),
         "vpd-b2", discard ? "LBPU/LBPWS not set" : "LBPU/LBPWS set without discard");
  memset(rbuf, 0, 256);
  r = inquiry(lun0, 1, 0xC7, rbuf, 255);
  result(check_condition(r, 0x5, 0x24, 0x00), "vpd-unknown", "unknown VPD page not refused");
}

static void check_capacity(int discard) {
  u8 c10[10] = {0x25};
  memset(rbuf, 0, 64);
  u8 r = cmd(lun0, c10, 10, NULL, 0, rbuf, 8);
  u32 last10 = (u32)get_be(rbuf, 4);
  result(good(r) && get_be(rbuf + 4, 4) == 512, "readcap10", "READ CAPACITY 10");
  u8 c16[16] = {0x9E, 0x10};
  put_be(c16 + 10, 32, 4);
  memset(rbuf, 0, 64);
  r = cmd(lun0, c16, 16, NULL, 0, rbuf, 32);
  blocks = get_be(rbuf, 8) + 1;
  int lbpme = (rbuf[14] & 0x80) != 0;
  print("PROBE: capacity %U blocks of %u, lbpme %u\n", blocks, (u32)get_be(rbuf + 8, 4), lbpme);
  result(good(r) && get_be(rbuf + 8, 4) == 512 && lbpme == discard &&
             (blocks > 0xFFFFFFFFull || last10 == blocks - 1),
         "readcap16", discard ? "LBPME not set" : "LBPME set, or capacity mismatch");
}

static void check_unit(void) {
  u8 tur[6] = {0};
  result(good(cmd(lun0, tur, 6, NULL, 0, NULL, 0)), "test-unit-ready", "not GOOD");
  u8 rs[6] = {0x03, 0, 0, 0, 18, 0};
  memset(rbuf, 0xEE, 32);
  u8 r = cmd(lun0, rs, 6, NULL, 0, rbuf, 18);
  result(good(r) && (rbuf[0] & 0x7F) == 0x70 && (rbuf[2] & 0xF) == 0, "request-sense",
         "no NO SENSE data");
  u8 rl[12] = {0xA0};
  put_be(rl + 6, 256, 4);
  memset(rbuf, 0xEE, 256);
  r = cmd(lun0, rl, 12, NULL, 0, rbuf, 256);
  u32 n = (u32)get_be(rbuf, 4);
  int has0 = 0;
  for (u32 i = 0; i < n / 8 && i < 30; i++)
    if (get_be(rbuf + 8 + 8 * i, 8) == 0) has0 = 1;
  result(good(r) && n >= 8 && has0, "report-luns", "LUN 0 not listed");
  u8 ms[6] = {0x1A, 0x08, 0x08, 0, 64, 0};
  memset(rbuf, 0, 64);
  r = cmd(lun0, ms, 6, NULL, 0, rbuf, 64);
  result(good(r) && rbuf[3] == 0 && (rbuf[4] & 0x3F) == 0x08, "mode-sense-caching", "caching page");
}

static void check_data(void) {
  for (u32 i = 0; i < STAMP_BLOCKS; i++) stamp(dbuf + 512 * i, STAMP_LBA + i);
  u8 r = rw16(lun0, 1, STAMP_LBA, STAMP_BLOCKS, dbuf, STAMP_BLOCKS * 512);
  result(good(r), "write16", "WRITE 16 of 64 KiB");
  memset(rbuf, 0xA5, SCRATCH_BYTES);
  r = rw16(lun0, 0, STAMP_LBA, STAMP_BLOCKS, rbuf, STAMP_BLOCKS * 512);
  result(good(r) && resp.resid == 0 && memcmp(dbuf, rbuf, STAMP_BLOCKS * 512) == 0, "read16",
         "READ 16 did not return what WRITE 16 wrote");
  /* READ 10 of 8 blocks inside the stamped range. */
  u8 c10[10] = {0x28};
  put_be(c10 + 2, STAMP_LBA + 8, 4);
  put_be(c10 + 7, 8, 2);
  memset(rbuf, 0xA5, 4096);
  r = cmd(lun0, c10, 10, NULL, 0, rbuf, 4096);
  result(good(r) && memcmp(dbuf + 8 * 512, rbuf, 4096) == 0, "read10", "READ 10 mismatch");
  memset(dbuf, 0x5C, CONST_BLOCKS * 512);
  r = rw16(lun0, 1, CONST_LBA, CONST_BLOCKS, dbuf, CONST_BLOCKS * 512);
  result(good(r), "write16-const", "WRITE 16 of 0x5C");
  stamp(dbuf, blocks - 1);
  r = rw16(lun0, 1, blocks - 1, 1, dbuf, 512);
  int ok = good(r);
  memset(rbuf, 0, 512);
  r = rw16(lun0, 0, blocks - 1, 1, rbuf, 512);
  result(ok && good(r) && memcmp(dbuf, rbuf, 512) == 0, "last-block", "last block write/read");
  u8 s10[10] = {0x35};
  result(good(cmd(lun0, s10, 10, NULL, 0, NULL, 0)), "sync-cache10", "SYNCHRONIZE CACHE 10");
  /* QEMU 7.2's scsi-hd does not implement SYNCHRONIZE CACHE 16 (INVALID
   * COMMAND OPERATION CODE); the line says which answer came. */
  u8 s16[16] = {0x91};
  u8 r16 = cmd(lun0, s16, 16, NULL, 0, NULL, 0);
  if (good(r16))
    result(1, "sync-cache16 GOOD", "");
  else
    result(check_condition(r16, 0x5, 0x20, 0x00), "sync-cache16 INVALID-OPCODE",
           "SYNCHRONIZE CACHE 16 neither GOOD nor INVALID OPCODE");
}

static void check_unmap(u32 max_unmap) {
  u32 lba = cmdline_u32("unmap_lba", 16384);
  u32 count = cmdline_u32("unmap_blocks", 8192);
  if (max_unmap == 0 || max_unmap > count) max_unmap = count;
  /* One parameter list with as many descriptors as the limit needs (<= 16). */
  u32 n = 0;
  memset(dbuf, 0, 8 + 16 * 16);
  for (u32 done = 0; done < count && n < 16; n++) {
    u32 k = count - done < max_unmap ? count - done : max_unmap;
    put_be(dbuf + 8 + 16 * n, lba + done, 8);
    put_be(dbuf + 8 + 16 * n + 8, k, 4);
    done += k;
  }
  u32 len = 8 + 16 * n;
  put_be(dbuf, len - 2, 2);
  put_be(dbuf + 2, 16 * n, 2);
  u8 cdb[10] = {0x42};
  put_be(cdb + 7, len, 2);
  result(good(cmd(lun0, cdb, 10, dbuf, len, NULL, 0)), "unmap", "UNMAP");
  /* A descriptor past the end must be refused before anything is freed. */
  put_be(dbuf + 8, blocks - 4, 8);
  put_be(dbuf + 16, 8, 4);
  put_be(dbuf, 8 + 16 - 2, 2);
  put_be(dbuf + 2, 16, 2);
  put_be(cdb + 7, 24, 2);
  result(check_condition(cmd(lun0, cdb, 10, dbuf, 24, NULL, 0), 0x5, 0x21, 0x00), "unmap-range",
         "UNMAP past the end not refused with LBA OUT OF RANGE");

  u32 ws_lba = cmdline_u32("ws_lba", 24576);
  u32 ws_count = cmdline_u32("ws_blocks", 8192);
  memset(dbuf, 0, 512);
  u8 ws[16] = {0x93, 0x08}; /* UNMAP */
  put_be(ws + 2, ws_lba, 8);
  put_be(ws + 10, ws_count, 4);
  result(good(cmd(lun0, ws, 16, dbuf, 512, NULL, 0)), "write-same16-unmap",
         "WRITE SAME 16 with UNMAP");
  memset(rbuf, 0xA5, 4096);
  u8 r = rw16(lun0, 0, ws_lba + ws_count - 8, 8, rbuf, 4096);
  int zero = good(r);
  for (u32 i = 0; i < 4096; i++)
    if (rbuf[i]) zero = 0;
  result(zero, "write-same16-reads-zero", "WRITE SAME range does not read as zeros");
  memset(dbuf, 0xA7, 512);
  u8 wp[16] = {0x93};
  put_be(wp + 2, WSPAT_LBA, 8);
  put_be(wp + 10, WSPAT_BLOCKS, 4);
  r = cmd(lun0, wp, 16, dbuf, 512, NULL, 0);
  int ok = good(r);
  memset(rbuf, 0, WSPAT_BLOCKS * 512);
  r = rw16(lun0, 0, WSPAT_LBA, WSPAT_BLOCKS, rbuf, WSPAT_BLOCKS * 512);
  ok = ok && good(r);
  for (u32 i = 0; i < WSPAT_BLOCKS * 512; i++)
    if (rbuf[i] != 0xA7) ok = 0;
  result(ok, "write-same16-pattern", "WRITE SAME 16 of 0xA7 does not read back");
}

static void check_errors(void) {
  u8 wb[10] = {0x3B}; /* WRITE BUFFER: not implemented by scsi-hd */
  result(check_condition(cmd(lun0, wb, 10, NULL, 0, NULL, 0), 0x5, 0x20, 0x00), "bad-opcode",
         "unsupported opcode not INVALID COMMAND OPERATION CODE");
  u8 r = rw16(lun0, 0, blocks, 1, rbuf, 512);
  result(check_condition(r, 0x5, 0x21, 0x00), "read-past-end", "no LBA OUT OF RANGE");
  r = rw16(lun0, 0, blocks - 1, 2, rbuf, 1024);
  result(check_condition(r, 0x5, 0x21, 0x00), "read-straddling-end", "no LBA OUT OF RANGE");
  r = rw16(lun0, 1, blocks, 1, dbuf, 512);
  result(check_condition(r, 0x5, 0x21, 0x00), "write-past-end", "no LBA OUT OF RANGE");
  /* 8 blocks into a 512-byte buffer: the transfer does not fit. */
  r = rw16(lun0, 0, STAMP_LBA, 8, rbuf, 512);
  result(r == VIRTIO_SCSI_S_OVERRUN, "overrun", "short data-in buffer not OVERRUN");
  u8 lun[8];
  u8 tur[6] = {0};
  scsi_lun(lun, 9, 0);
  result(cmd(lun, tur, 6, NULL, 0, NULL, 0) == VIRTIO_SCSI_S_BAD_TARGET, "bad-target",
         "target 9 not BAD_TARGET");
  scsi_lun(lun, 0, 0);
  lun[0] = 2;
  result(cmd(lun, tur, 6, NULL, 0, NULL, 0) == VIRTIO_SCSI_S_BAD_TARGET, "bad-lun-format",
         "lun[0] = 2 not BAD_TARGET");
  scsi_lun(lun, 0, 5);
  memset(rbuf, 0, 64);
  r = inquiry(lun, 0, 0, rbuf, 36);
  result(good(r) && rbuf[0] == 0x7F, "missing-lun-inquiry", "no peripheral qualifier 3");
  result(check_condition(cmd(lun, tur, 6, NULL, 0, NULL, 0), 0x5, 0x25, 0x00), "missing-lun-tur",
         "no LOGICAL UNIT NOT SUPPORTED");
  /* The unit still works after the errors. */
  memset(rbuf, 0, 512);
  r = rw16(lun0, 0, STAMP_LBA, 1, rbuf, 512);
  stamp(dbuf, STAMP_LBA);
  result(good(r) && memcmp(rbuf, dbuf, 512) == 0, "after-errors", "read after errors");
}

/* second=T:L (e.g. 3:1): another LUN on another target: REPORT LUNS of
 * target T lists L, it answers INQUIRY and READ CAPACITY 16 (second_blocks=N
 * expected), and a stamped block written at LBA 8 there reads back. */
/* queues=N (N > 1): the device offers N request queues (num_queues) and
 * the last one serves a WRITE 16 and a READ 16 of block 7 on its own. */
static void check_queues(void) {
  if (scsi_request_queues < 2) return;
  const u32 offered = mmio_read32(sdev.device_cfg + 0);
  scsi_queue = (u16)(SCSI_REQUEST_QUEUE + scsi_request_queues - 1);
  u8* out = scsi_slot_data[0];
  u8* in = scsi_slot_data[1];
  for (u32 i = 0; i < 512; i++) {
    out[i] = (u8)(i * 13 + 5);
    in[i] = 0;
  }
  u8 w16[16] = {0x8A};
  w16[9] = 7;
  w16[13] = 1;
  u8 r16[16] = {0x88};
  r16[9] = 7;
  r16[13] = 1;
  const int wrote = good(cmd(lun0, w16, 16, out, 512, NULL, 0));
  const int read = good(cmd(lun0, r16, 16, NULL, 0, in, 512));
  scsi_queue = SCSI_REQUEST_QUEUE;
  print("SCSI queues: offered %u, used queue %u\n", offered,
        (u32)(SCSI_REQUEST_QUEUE + scsi_request_queues - 1));
  result(offered == scsi_request_queues && wrote && read && memcmp(out, in, 512) == 0, "multiqueue",
         "the last request queue did not serve a write and a read");
}

static void check_second(void) {
  char arg[16];
  if (!cmdline_get("second", arg, sizeof arg)) return;
  u32 t = 0, l = 0, i = 0;
  for (; arg[i] >= '0' && arg[i] <= '9'; i++) t = t * 10 + (u32)(arg[i] - '0');
  if (arg[i] == ':')
    for (i++; arg[i] >= '0' && arg[i] <= '9'; i++) l = l * 10 + (u32)(arg[i] - '0');
  u8 lun[8];
  scsi_lun(lun, (u8)t, (u16)l);
  u8 tur[6] = {0};
  u8 r = cmd(lun, tur, 6, NULL, 0, NULL, 0);
  if (r == VIRTIO_SCSI_S_OK && resp.status == SCSI_STATUS_CHECK_CONDITION &&
      (resp.sense[2] & 0xF) == 0x6)
    r = cmd(lun, tur, 6, NULL, 0, NULL, 0); /* after the UNIT ATTENTION */
  result(good(r), "second-unit-ready", "TEST UNIT READY");
  /* REPORT LUNS goes to LUN 0 of the target, as Linux and SeaBIOS send it
   * (QEMU answers LOGICAL UNIT NOT SUPPORTED on any other LUN). */
  u8 t0[8];
  scsi_lun(t0, (u8)t, 0);
  u8 rl[12] = {0xA0};
  put_be(rl + 6, 256, 4);
  memset(rbuf, 0, 256);
  r = cmd(t0, rl, 12, NULL, 0, rbuf, 256);
  u32 n = (u32)get_be(rbuf, 4);
  int listed = 0;
  for (u32 k = 0; k < n / 8 && k < 30; k++) {
    const u8* e = rbuf + 8 + 8 * k;
    if ((u32)((e[0] & 0x3F) << 8 | e[1]) == l) listed = 1;
  }
  result(good(r) && listed, "second-report-luns", "LUN not listed by its target");
  memset(rbuf, 0, 64);
  r = inquiry(lun, 0, 0, rbuf, 36);
  result(good(r) && rbuf[0] == 0, "second-inquiry", "not a connected direct-access LUN");
  u8 c16[16] = {0x9E, 0x10};
  put_be(c16 + 10, 32, 4);
  memset(rbuf, 0, 64);
  r = cmd(lun, c16, 16, NULL, 0, rbuf, 32);
  u64 n2 = get_be(rbuf, 8) + 1;
  result(good(r) && n2 == cmdline_u32("second_blocks", 0), "second-readcap16", "capacity");
  /* Target T has no LUN 0 and no LUN L+1: QEMU's target answers. */
  memset(rbuf, 0, 64);
  r = inquiry(t0, 0, 0, rbuf, 36);
  result(good(r) && rbuf[0] == 0x3F && memcmp(rbuf + 16, "QEMU TARGET", 11) == 0,
         "second-lun0-inquiry", "missing LUN 0 not 3F / QEMU TARGET");
  result(good(cmd(t0, tur, 6, NULL, 0, NULL, 0)), "second-lun0-tur", "TUR on LUN 0 not GOOD");
  u8 gone[8];
  scsi_lun(gone, (u8)t, (u16)(l + 1));
  u8 rs[6] = {0x03, 0, 0, 0, 18, 0};
  memset(rbuf, 0, 64);
  r = cmd(gone, rs, 6, NULL, 0, rbuf, 18);
  result(good(r) && rbuf[0] == 0x70 && (rbuf[2] & 0xF) == 0x5 && rbuf[12] == 0x25,
         "second-gone-sense", "REQUEST SENSE not LOGICAL UNIT NOT SUPPORTED data");
  memset(rbuf, 0xEE, 64);
  r = inquiry(gone, 1, 0x00, rbuf, 64);
  result(good(r) && rbuf[0] == 0 && rbuf[1] == 0 && rbuf[2] == 1 && rbuf[3] == 0,
         "second-gone-vpd0", "VPD page 0 of a missing LUN");
  result(check_condition(cmd(lun, rl, 12, NULL, 0, rbuf, 256), 0x5, 0x25, 0x00),
         "second-report-luns-lun", "REPORT LUNS on LUN L not LOGICAL UNIT NOT SUPPORTED");
  stamp(dbuf, 0x5EC0000u + 8);
  r = rw16(lun, 1, 8, 1, dbuf, 512);
  int ok = good(r);
  memset(rbuf, 0, 512);
  r = rw16(lun, 0, 8, 1, rbuf, 512);
  result(ok && good(r) && memcmp(rbuf, dbuf, 512) == 0, "second-write-read", "mismatch");
}

void scsi_mode_probe(void) {
  int discard = (int)cmdline_u32("discard", 0);
  char serial[32];
  if (!cmdline_get("serial", serial, sizeof serial)) serial[0] = 0;
  seed = cmdline_u32("seed", 1);
  scsi_lun(lun0, 0, 0);
  if (!scsi_open(&sdev, (int)cmdline_u32("eventidx", 0))) {
    print("PROBE: RESULT FAIL scsi controller setup\n");
    guest_exit(1);
  }
  u32 max_unmap = 0;
  result(unit_ready(), "unit-ready", "TEST UNIT READY never GOOD");
  check_identity(discard, serial, &max_unmap);
  check_capacity(discard);
  check_unit();
  check_data();
  check_unmap(max_unmap);
  check_errors();
  check_second();
  check_queues();
  u8 s10[10] = {0x35};
  if (!good(cmd(lun0, s10, 10, NULL, 0, NULL, 0))) failures++;
  virtio_reset(&sdev);
  if (failures) {
    print("PROBE: RESULT FAIL scsi %u of %u checks failed\n", failures, failures + passes);
    guest_exit(1);
  }
  print("PROBE: RESULT PASS scsi checks=%u\n", passes);
  guest_exit(0);
}

void scsi_mode_bench(void) {
  u32 depth = cmdline_u32("depth", 1);
  u32 count = cmdline_u32("count", 1000);
  u32 region = cmdline_u32("region_mb", 16) * 2048u;
  int write = cmdline_is("rw", "write");
  if (depth == 0 || depth > SCSI_SLOTS) depth = 1;
  scsi_lun(lun0, 0, 0);
  if (!scsi_open(&sdev, 0)) {
    print("PROBE: RESULT FAIL scsi controller setup\n");
    guest_exit(1);
  }
  (void)unit_ready();
  u8 c16[16] = {0x9E, 0x10};
  put_be(c16 + 10, 32, 4);
  if (!good(cmd(lun0, c16, 16, NULL, 0, rbuf, 32))) {
    print("PROBE: RESULT FAIL READ CAPACITY 16\n");
    guest_exit(1);
  }
  blocks = get_be(rbuf, 8) + 1;
  if (region > blocks - 2048) region = (u32)(blocks - 2048) & ~7u;
  for (u32 i = 0; i < depth; i++) {
    for (u32 b = 0; b < 8; b++) stamp(scsi_slot_data[i] + 512 * b, 8 * i + b);
    scsi_slot_init(i, lun0, write, 8);
  }
  Virtqueue* q = &sdev.vq[SCSI_REQUEST_QUEUE];
  u32 submitted = 0, completed = 0, next = 0;
  print("BENCH start rw=%s depth=%u count=%u\n", write ? "write" : "read", depth, count);
  u64 t0 = rdtsc();
  for (u32 s = 0; s < depth && submitted < count; s++) {
    scsi_submit(&sdev, s, 2048 + next);
    next = (next + 8) % region;
    submitted++;
  }
  vq_kick(&sdev, q);
  u64 dl = deadline_after(600);
  u32 spins = 0;
  while (completed < count) {
    u32 refilled = 0;
    for (;;) {
      int slot = scsi_poll(&sdev);
      if (slot == -2) {
        print("PROBE: RESULT FAIL scsibench request error\n");
        guest_exit(1);
      }
      if (slot < 0) break;
      completed++;
      if (submitted < count) {
        scsi_submit(&sdev, (u32)slot, 2048 + next);
        next = (next + 8) % region;
        submitted++;
        refilled++;
      }
    }
    if (refilled) {
      vq_kick(&sdev, q);
    } else if ((++spins & 4095) == 0 && deadline_passed(dl)) {
      /* rdtsc only now and then: under software KVM it may trap. */
      print("PROBE: RESULT FAIL scsibench timeout\n");
      guest_exit(1);
    }
  }
  u64 t1 = rdtsc();
  print("BENCH done %u requests tsc=%U\n", completed, t1 - t0);
  virtio_reset(&sdev);
  print("PROBE: RESULT PASS scsibench\n");
  guest_exit(0);
}
