// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The probe guest's IDE modes (see tests/guest/README.md):
 *   test=ide       the PIIX3 function 8086:7010: an ATA disk on the primary
 *                  master (IDENTIFY, PIO and bus-master DMA in LBA28/48,
 *                  FLUSH CACHE EXT, reads past the end, hostile PRD tables)
 *                  and an ATAPI CD on the secondary master (IDENTIFY
 *                  PACKET, TEST UNIT READY, READ CAPACITY, READ(10) over
 *                  PIO and DMA, READ TOC, REQUEST SENSE after an invalid
 *                  opcode). One "IDE ok NAME" / "IDE FAIL NAME" line per
 *                  check, then PROBE: RESULT PASS/FAIL. Options:
 *                  disk_sectors=N, cd_blocks=N (expected sizes), mem_mb=M
 *                  (guest RAM, for the PRD-off-RAM case), cd=0 (no CD).
 *   test=idebench  rw=read|write count=N: 4 KiB READ/WRITE DMA EXT at QD1
 *                  (IDE has no queueing), BENCH start / done lines as
 *                  test=bench prints them.
 * Disk layout written by test=ide (the host checks it): "AMBERIDEPIO"
 * sectors at 2048..2055 (LBA28 PIO) and 2056..2063 (LBA48 PIO),
 * "AMBERIDEDMA" at 4096..4111 (DMA), bytes 0x5A at 8192..8199 (DMA).
 * CD blocks are expected as the host makes them: "AMBERCD block=N" then
 * bytes (N*3 + i*7) & 0xff from offset 32.
 * Single-threaded guest code.
 */
#include "ide.h"

#define PIO_BASE 2048
#define DMA_BASE 4096
#define CONST_BASE 8192
#define BENCH_BASE 2048

static u8 buf_a[16384] __attribute__((aligned(4096)));
static u8 buf_b[16384] __attribute__((aligned(4096)));
static IdePrd prd[8] __attribute__((aligned(64)));
static u32 failures, checks;
static u32 seed;

static void report(int ok, const char* name) {
  checks++;
  if (!ok) failures++;
  print("IDE %s %s\n", ok ? "ok" : "FAIL", name);
}

static void fill_range(u8* buf, const char* tag, u32 first, u32 count) {
  for (u32 i = 0; i < count; i++) fill_sector(buf + i * 512, tag, first + i, seed);
}

static void prd_set(u32 i, const void* addr, u32 bytes, int last) {
  prd[i].addr = (u32)(uptr)addr;
  prd[i].bytes = (u16)bytes;
  prd[i].flags = last ? 0x8000 : 0;
}

/* IDENTIFY strings: two characters per word, high byte first. */
static void id_string(const u8* id, u32 word, u32 words, char* out) {
  for (u32 i = 0; i < words; i++) {
    out[2 * i] = (char)id[2 * (word + i) + 1];
    out[2 * i + 1] = (char)id[2 * (word + i)];
  }
  out[2 * words] = 0;
  for (int k = (int)(2 * words) - 1; k >= 0 && out[k] == ' '; k--) out[k] = 0;
}

static u16 id_word(const u8* id, u32 w) {
  return (u16)(id[2 * w] | id[2 * w + 1] << 8);
}

static int good(IdeResult r) {
  return r.status != 0xFF && !(r.status & (ATA_ERR | ATA_DRQ | ATA_BSY)) && (r.status & ATA_DRDY);
}

static int dma_good(IdeResult r) {
  return good(r) && (r.bm & (BM_ACTIVE | BM_ERROR | BM_INTR)) == BM_INTR;
}

/* A DMA the table could not carry: the engine stopped and the drive idle,
 * with an error (amber-vmm: ERR/ABRT and the bus-master error bit) or at
 * least without the completion interrupt (QEMU ends a short table so). */
static int dma_refused(IdeResult r) {
  return r.status != 0xFF && !(r.bm & BM_ACTIVE) && !(r.status & (ATA_BSY | ATA_DRQ)) &&
         ((r.status & ATA_ERR) || (r.bm & BM_ERROR) || !(r.bm & BM_INTR));
}

static int find_controller(u16* bar4) {
  PciDevice pci;
  if (!pci_find(0x8086, 0x7010, 0x7010, &pci)) return 0;
  print("PROBE: piix3-ide at 00:%x.%u class %x\n", pci.dev, pci.fn, pci_read32(&pci, 8) >> 8);
  pci_setup_bars(&pci);
  /* IDETIM / SIDETIM: IDE decode enable on both channels. */
  pci_write32(&pci, 0x40, 0x80008000u);
  if (!pci.bar_is_io[4] || pci.bar[4] == 0) return 0;
  *bar4 = (u16)pci.bar[4];
  print("PROBE: bus master at io %x\n", *bar4);
  return 1;
}

static u64 disk_checks(const IdeChannel* ch) {
  u8* id = buf_a;
  memset(id, 0, 512);
  IdeResult r = ide_pio_in(ch, 0, 0xEC, 0, 1, id, 0);
  char model[48];
  id_string(id, 27, 20, model);
  u64 sectors = 0;
  for (u32 i = 0; i < 4; i++) sectors |= (u64)id_word(id, 100 + i) << (16 * i);
  u32 lba28 = id_word(id, 60) | (u32)id_word(id, 61) << 16;
  u32 want = cmdline_u32("disk_sectors", 0);
  print("IDE: disk model '%s' sectors %U lba28 %u w83 %x\n", model, sectors, lba28,
        id_word(id, 83));
  report(good(r) && strncmp_(model, "QEMU HARDDISK", 14) == 0, "identify-model");
  report((id_word(id, 83) & (1u << 10)) && (id_word(id, 86) & (1u << 10)), "identify-lba48");
  report(sectors != 0 && (!want || sectors == want) && lba28 == (u32)sectors, "identify-sectors");
  report((id_word(id, 49) & (1u << 8)) && (id_word(id, 88) & 0x3F), "identify-dma");

  /* PIO, LBA28 and LBA48. */
  fill_range(buf_a, "AMBERIDEPIO", PIO_BASE, 8);
  IdeResult w = ide_pio_out(ch, 0, 0x30, PIO_BASE, 8, buf_a, 0);
  memset(buf_b, 0xA5, 4096);
  r = ide_pio_in(ch, 0, 0x20, PIO_BASE, 8, buf_b, 0);
  report(good(w) && good(r) && memcmp(buf_a, buf_b, 4096) == 0, "pio-lba28");
  fill_range(buf_a, "AMBERIDEPIO", PIO_BASE + 8, 8);
  w = ide_pio_out(ch, 0, 0x34, PIO_BASE + 8, 8, buf_a, 1);
  memset(buf_b, 0xA5, 4096);
  r = ide_pio_in(ch, 0, 0x24, PIO_BASE + 8, 8, buf_b, 1);
  report(good(w) && good(r) && memcmp(buf_a, buf_b, 4096) == 0, "pio-lba48");

  /* DMA: a 3-entry table out, one 8 KiB entry back. */
  fill_range(buf_a, "AMBERIDEDMA", DMA_BASE, 16);
  prd_set(0, buf_a, 4096, 0);
  prd_set(1, buf_a + 4096, 2048, 0);
  prd_set(2, buf_a + 6144, 2048, 1);
  w = ide_dma(ch, 0, 0x35, DMA_BASE, 16, 0, prd, 1);
  print("IDE: dma write status %x bm %x\n", w.status, w.bm);
  report(dma_good(w), "dma-write-ext");
  memset(buf_b, 0xA5, 8192);
  prd_set(0, buf_b, 8192, 1);
  r = ide_dma(ch, 0, 0x25, DMA_BASE, 16, 1, prd, 1);
  print("IDE: dma read status %x bm %x\n", r.status, r.bm);
  report(dma_good(r) && memcmp(buf_a, buf_b, 8192) == 0, "dma-read-ext");
  report((inb((u16)(ch->bm + 2)) & (BM_ACTIVE | BM_ERROR | BM_INTR)) == 0, "bm-status-clear");
  /* LBA28 READ DMA of the PIO range. */
  fill_range(buf_a, "AMBERIDEPIO", PIO_BASE, 8);
  memset(buf_b, 0xA5, 4096);
  prd_set(0, buf_b, 4096, 1);
  r = ide_dma(ch, 0, 0xC8, PIO_BASE, 8, 1, prd, 0);
  report(dma_good(r) && memcmp(buf_a, buf_b, 4096) == 0, "dma-read-lba28");
  memset(buf_a, 0x5A, 4096);
  prd_set(0, buf_a, 4096, 1);
  w = ide_dma(ch, 0, 0xCA, CONST_BASE, 8, 0, prd, 0);
  report(dma_good(w), "dma-write-lba28");

  r = ide_nondata(ch, 0, 0xEA);
  report(good(r), "flush-cache-ext");

  /* Past the end: ERR with ABRT (QEMU 7.2 sets no IDNF). */
  r = ide_pio_in(ch, 0, 0x24, sectors, 1, buf_b, 1);
  print("IDE: read past end status %x error %x\n", r.status, r.error);
  report(r.status != 0xFF && (r.status & ATA_ERR) && r.error == ATA_ABRT, "read-past-end");
  prd_set(0, buf_b, 4096, 1);
  r = ide_dma(ch, 0, 0x25, sectors - 4, 8, 1, prd, 1);
  /* The command fails before the engine starts; stopping it clears Active. */
  report((r.status & ATA_ERR) && (r.error & ATA_ABRT) && !(inb((u16)(ch->bm + 2)) & BM_ACTIVE),
         "dma-read-past-end");

  /* Hostile PRD tables. */
  prd_set(0, buf_b, 512, 1);
  r = ide_dma(ch, 0, 0x25, DMA_BASE, 8, 1, prd, 1);
  print("IDE: short prd status %x error %x bm %x\n", r.status, r.error, r.bm);
  report(dma_refused(r), "prd-short");
  prd_set(0, buf_a, 512, 1);
  w = ide_dma(ch, 0, 0x35, DMA_BASE, 8, 0, prd, 1);
  report(dma_refused(w), "prd-short-write");
  u32 top = cmdline_u32("mem_mb", 64) << 20;
  prd[0].addr = top - 2048;
  prd[0].bytes = 4096;
  prd[0].flags = 0x8000;
  r = ide_dma(ch, 0, 0x25, DMA_BASE, 8, 1, prd, 1);
  print("IDE: prd off ram status %x error %x bm %x\n", r.status, r.error, r.bm);
  report(dma_refused(r), "prd-off-ram");
  r = ide_dma(ch, 0, 0x25, DMA_BASE, 8, 1, (const IdePrd*)0xD0000000u, 1);
  report(dma_refused(r), "prd-table-off-ram");
  /* No end-of-table bit: 8192 entries of 2 bytes walk off the table. */
  for (u32 i = 0; i < 8; i++) prd_set(i, buf_b, 2, 0);
  r = ide_dma(ch, 0, 0x25, DMA_BASE, 1, 1, prd, 1);
  report(r.status != 0xFF && !(r.bm & BM_ACTIVE), "prd-no-eot");
  /* Still works, and the DMA pattern is intact. */
  fill_range(buf_a, "AMBERIDEDMA", DMA_BASE, 16);
  memset(buf_b, 0xA5, 8192);
  prd_set(0, buf_b, 8192, 1);
  r = ide_dma(ch, 0, 0x25, DMA_BASE, 16, 1, prd, 1);
  report(dma_good(r) && memcmp(buf_a, buf_b, 8192) == 0, "recover-after-hostile");
  r = ide_nondata(ch, 0, 0xEA);
  report(good(r), "final-flush");
  return sectors;
}

static void cd_block(u8* p, u32 n) {
  memset(p, 0, 32);
  const char* t = "AMBERCD block=";
  u32 k = 0;
  for (; *t; t++) p[k++] = (u8)*t;
  char d[12];
  u32 m = 0, v = n;
  do {
    d[m++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (m) p[k++] = (u8)d[--m];
  for (u32 i = 32; i < 2048; i++) p[i] = (u8)(n * 3 + i * 7);
}

static void cdb_rw10(u8* cdb, u8 op, u32 lba, u16 blocks) {
  memset(cdb, 0, 12);
  cdb[0] = op;
  cdb[2] = (u8)(lba >> 24);
  cdb[3] = (u8)(lba >> 16);
  cdb[4] = (u8)(lba >> 8);
  cdb[5] = (u8)lba;
  cdb[7] = (u8)(blocks >> 8);
  cdb[8] = (u8)blocks;
}

static u32 be32(const u8* p) {
  return (u32)p[0] << 24 | (u32)p[1] << 16 | (u32)p[2] << 8 | p[3];
}

static void cd_checks(const IdeChannel* ch) {
  u8 cdb[12];
  u32 got;
  /* The packet signature shows after a software reset. */
  outb(ch->ctl, 0x04);
  outb(ch->ctl, 0x00);
  ide_select(ch, 0);
  u8 mid = inb((u16)(ch->cmd + 4)), high = inb((u16)(ch->cmd + 5));
  report(mid == 0x14 && high == 0xEB, "atapi-signature");
  memset(buf_a, 0, 512);
  IdeResult r = ide_pio_in(ch, 0, 0xA1, 0, 1, buf_a, 0);
  char model[48];
  id_string(buf_a, 27, 20, model);
  u16 w0 = id_word(buf_a, 0);
  print("IDE: cd model '%s' word0 %x\n", model, w0);
  report(good(r) && (w0 >> 14) == 2 && ((w0 >> 8) & 0x1F) == 5 &&
             strncmp_(model, "QEMU DVD-ROM", 13) == 0,
         "atapi-identify");
  r = ide_pio_in(ch, 0, 0xEC, 0, 1, buf_a, 0);
  report((r.status & ATA_ERR) && (r.error & ATA_ABRT), "atapi-identify-device-aborted");
  int ready = 0;
  for (u32 i = 0; i < 3 && !ready; i++) {
    memset(cdb, 0, 12);
    r = atapi_packet(ch, 0, cdb, buf_a, 0, &got, NULL);
    ready = good(r);
  }
  report(ready, "atapi-test-unit-ready");
  memset(cdb, 0, 12);
  cdb[0] = 0x25;
  memset(buf_a, 0, 8);
  r = atapi_packet(ch, 0, cdb, buf_a, 8, &got, NULL);
  u32 last = be32(buf_a), blen = be32(buf_a + 4);
  u32 want = cmdline_u32("cd_blocks", 0);
  print("IDE: cd capacity last %u block %u\n", last, blen);
  report(good(r) && got == 8 && blen == 2048 && (!want || last + 1 == want), "atapi-read-capacity");
  u32 blocks = last + 1;
  /* READ(10) over PIO: two blocks. */
  cdb_rw10(cdb, 0x28, 5, 2);
  memset(buf_b, 0xA5, 4096);
  r = atapi_packet(ch, 0, cdb, buf_b, 4096, &got, NULL);
  cd_block(buf_a, 5);
  cd_block(buf_a + 2048, 6);
  report(good(r) && got == 4096 && memcmp(buf_a, buf_b, 4096) == 0, "atapi-read10-pio");
  /* READ(10) over DMA: the last block. */
  cdb_rw10(cdb, 0x28, blocks - 1, 1);
  memset(buf_b, 0xA5, 2048);
  prd_set(0, buf_b, 2048, 1);
  r = atapi_packet(ch, 0, cdb, buf_b, 2048, &got, prd);
  cd_block(buf_a, blocks - 1);
  print("IDE: atapi dma status %x bm %x\n", r.status, r.bm);
  report(dma_good(r) && memcmp(buf_a, buf_b, 2048) == 0, "atapi-read10-dma");
  /* READ TOC format 0 (LBA). */
  memset(cdb, 0, 12);
  cdb[0] = 0x43;
  cdb[8] = 0xFF;
  memset(buf_a, 0, 64);
  r = atapi_packet(ch, 0, cdb, buf_a, 255, &got, NULL);
  report(good(r) && got == 20 && buf_a[2] == 1 && buf_a[3] == 1 && buf_a[6] == 1 &&
             be32(buf_a + 8) == 0 && buf_a[14] == 0xAA && be32(buf_a + 16) == blocks,
         "atapi-read-toc");
  /* An invalid opcode: CHECK CONDITION, ILLEGAL REQUEST / 0x20. */
  memset(cdb, 0, 12);
  cdb[0] = 0xFF;
  r = atapi_packet(ch, 0, cdb, buf_a, 0, &got, NULL);
  int cc = (r.status & ATA_ERR) && (r.error >> 4) == 5;
  memset(cdb, 0, 12);
  cdb[0] = 0x03;
  cdb[4] = 18;
  memset(buf_a, 0, 18);
  IdeResult s = atapi_packet(ch, 0, cdb, buf_a, 18, &got, NULL);
  print("IDE: bad opcode status %x error %x sense %x/%x\n", r.status, r.error, buf_a[2], buf_a[12]);
  report(cc && good(s) && (buf_a[2] & 0x0F) == 5 && buf_a[12] == 0x20, "atapi-invalid-opcode");
  /* Past the end: ILLEGAL REQUEST, LBA out of range. */
  cdb_rw10(cdb, 0x28, blocks, 1);
  r = atapi_packet(ch, 0, cdb, buf_b, 2048, &got, NULL);
  memset(cdb, 0, 12);
  cdb[0] = 0x03;
  cdb[4] = 18;
  s = atapi_packet(ch, 0, cdb, buf_a, 18, &got, NULL);
  report((r.status & ATA_ERR) && (r.error >> 4) == 5 && good(s) && buf_a[12] == 0x21,
         "atapi-read-past-end");
  /* A short PRD table for a DMA READ(10). */
  cdb_rw10(cdb, 0x28, 0, 4);
  prd_set(0, buf_b, 2048, 1);
  r = atapi_packet(ch, 0, cdb, buf_b, 8192, &got, prd);
  print("IDE: atapi short prd status %x error %x bm %x\n", r.status, r.error, r.bm);
  report(dma_refused(r), "atapi-prd-short");
  memset(cdb, 0, 12);
  r = atapi_packet(ch, 0, cdb, buf_a, 0, &got, NULL);
  if (!good(r)) r = atapi_packet(ch, 0, cdb, buf_a, 0, &got, NULL); /* sense consumed */
  report(good(r), "atapi-recover");
}

void mode_ide(void) {
  seed = cmdline_u32("seed", 1);
  u16 bar4;
  if (!find_controller(&bar4)) {
    print("PROBE: RESULT FAIL no PIIX3 IDE with a bus-master BAR\n");
    guest_exit(1);
  }
  report(1, "pci");
  IdeChannel primary, secondary;
  ide_channel_init(&primary, bar4, 0);
  ide_channel_init(&secondary, bar4, 1);
  disk_checks(&primary);
  if (cmdline_u32("cd", 1)) cd_checks(&secondary);
  if (failures) {
    print("PROBE: RESULT FAIL ide %u of %u checks failed\n", failures, checks);
    guest_exit(1);
  }
  print("PROBE: RESULT PASS ide checks=%u\n", checks);
  guest_exit(0);
}

void mode_idebench(void) {
  u32 count = cmdline_u32("count", 1000);
  u32 region = cmdline_u32("region_mb", 16) * 2048u;
  int write = cmdline_is("rw", "write");
  if (cmdline_u32("depth", 1) != 1) print("PROBE: IDE has no command queueing: depth=1\n");
  u16 bar4;
  if (!find_controller(&bar4)) {
    print("PROBE: RESULT FAIL no PIIX3 IDE with a bus-master BAR\n");
    guest_exit(1);
  }
  IdeChannel ch;
  ide_channel_init(&ch, bar4, 0);
  fill_sector(buf_a, "AMBERBENCH", 0, seed);
  prd_set(0, buf_a, 4096, 1);
  u8 command = write ? 0x35 : 0x25;
  u32 next = 0;
  print("BENCH start rw=%s depth=1 count=%u\n", write ? "write" : "read", count);
  u64 t0 = rdtsc();
  for (u32 i = 0; i < count; i++) {
    IdeResult r = ide_dma(&ch, 0, command, BENCH_BASE + next, 8, !write, prd, 1);
    if (!dma_good(r)) {
      print("PROBE: RESULT FAIL bench request %u status %x bm %x\n", i, r.status, r.bm);
      guest_exit(1);
    }
    next = (next + 8) % region;
  }
  u64 t1 = rdtsc();
  print("BENCH done %u requests tsc=%U\n", count, t1 - t0);
  print("PROBE: RESULT PASS bench\n");
  guest_exit(0);
}
