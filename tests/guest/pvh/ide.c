// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Polled PIIX3 IDE driver of the probe guest (see ide.h): task-file
 * commands over the legacy ports, PIO, bus-master DMA and ATAPI packets.
 * Single-threaded guest code.
 */
#include "ide.h"

/* Task-file register offsets. */
enum { R_DATA = 0, R_ERROR = 1, R_FEATURE = 1, R_COUNT = 2, R_LBA0 = 3, R_LBA1 = 4, R_LBA2 = 5 };
enum { R_DEVICE = 6, R_STATUS = 7, R_COMMAND = 7 };
/* Bus-master register offsets. */
enum { BM_CMD = 0, BM_STATUS = 2, BM_PRD = 4 };

void ide_channel_init(IdeChannel* ch, u16 bar4, int secondary) {
  ch->cmd = secondary ? 0x170 : 0x1F0;
  ch->ctl = secondary ? 0x376 : 0x3F6;
  ch->bm = (u16)(bar4 + (secondary ? 8 : 0));
  outb(ch->ctl, 0x00); /* nIEN clear: the line (and BM_INTR) follow completions */
}

u8 ide_wait(const IdeChannel* ch) {
  u64 dl = deadline_after(10);
  for (;;) {
    u8 st = inb(ch->ctl);
    if (!(st & ATA_BSY)) return st;
    if (deadline_passed(dl)) return 0xFF;
  }
}

void ide_select(const IdeChannel* ch, u32 unit) {
  outb((u16)(ch->cmd + R_DEVICE), (u8)(0xE0 | (unit << 4)));
  for (int i = 0; i < 4; i++) (void)inb(ch->ctl); /* the 400 ns settle */
  (void)ide_wait(ch);
}

void ide_load_taskfile(const IdeChannel* ch, u32 unit, u64 lba, u32 count, int lba48) {
  u16 p = ch->cmd;
  if (lba48) {
    outb((u16)(p + R_COUNT), (u8)(count >> 8));
    outb((u16)(p + R_LBA0), (u8)(lba >> 24));
    outb((u16)(p + R_LBA1), (u8)(lba >> 32));
    outb((u16)(p + R_LBA2), (u8)(lba >> 40));
    outb((u16)(p + R_COUNT), (u8)count);
    outb((u16)(p + R_LBA0), (u8)lba);
    outb((u16)(p + R_LBA1), (u8)(lba >> 8));
    outb((u16)(p + R_LBA2), (u8)(lba >> 16));
    outb((u16)(p + R_DEVICE), (u8)(0xE0 | (unit << 4)));
  } else {
    outb((u16)(p + R_COUNT), (u8)count);
    outb((u16)(p + R_LBA0), (u8)lba);
    outb((u16)(p + R_LBA1), (u8)(lba >> 8));
    outb((u16)(p + R_LBA2), (u8)(lba >> 16));
    outb((u16)(p + R_DEVICE), (u8)(0xE0 | (unit << 4) | ((lba >> 24) & 0x0F)));
  }
}

static IdeResult finish(const IdeChannel* ch, u8 st) {
  IdeResult r;
  r.status = st == 0xFF ? 0xFF : inb((u16)(ch->cmd + R_STATUS)); /* clears the IRQ */
  r.error = inb((u16)(ch->cmd + R_ERROR));
  r.bm = 0;
  return r;
}

IdeResult ide_nondata(const IdeChannel* ch, u32 unit, u8 command) {
  ide_select(ch, unit);
  outb((u16)(ch->cmd + R_COMMAND), command);
  return finish(ch, ide_wait(ch));
}

/* Waits for the next data block: BSY clear, then DRQ (or ERR) decides. */
static u8 wait_drq(const IdeChannel* ch) {
  return ide_wait(ch);
}

IdeResult ide_pio_in(const IdeChannel* ch, u32 unit, u8 command, u64 lba, u32 sectors, u8* buf,
                     int lba48) {
  ide_select(ch, unit);
  ide_load_taskfile(ch, unit, lba, sectors, lba48);
  outb((u16)(ch->cmd + R_COMMAND), command);
  for (u32 s = 0; s < sectors; s++) {
    u8 st = wait_drq(ch);
    if (st == 0xFF || (st & ATA_ERR) || !(st & ATA_DRQ)) return finish(ch, st);
    u16* w = (u16*)(buf + s * 512);
    for (u32 i = 0; i < 256; i++) w[i] = inw(ch->cmd);
  }
  return finish(ch, ide_wait(ch));
}

IdeResult ide_pio_out(const IdeChannel* ch, u32 unit, u8 command, u64 lba, u32 sectors,
                      const u8* buf, int lba48) {
  ide_select(ch, unit);
  ide_load_taskfile(ch, unit, lba, sectors, lba48);
  outb((u16)(ch->cmd + R_COMMAND), command);
  for (u32 s = 0; s < sectors; s++) {
    u8 st = wait_drq(ch);
    if (st == 0xFF || (st & ATA_ERR) || !(st & ATA_DRQ)) return finish(ch, st);
    const u16* w = (const u16*)(buf + s * 512);
    for (u32 i = 0; i < 256; i++) outw(ch->cmd, w[i]);
  }
  return finish(ch, ide_wait(ch));
}

/* Starts the engine, polls until the drive is done and the engine idle. */
static IdeResult dma_run(const IdeChannel* ch, u8 bm_cmd) {
  outb((u16)(ch->bm + BM_CMD), (u8)(bm_cmd | 1));
  u64 dl = deadline_after(10);
  u8 st, bm;
  for (;;) {
    st = inb(ch->ctl);
    bm = inb((u16)(ch->bm + BM_STATUS));
    if (!(st & ATA_BSY) && !(st & ATA_DRQ)) break;
    if (!(bm & BM_ACTIVE) && (bm & (BM_ERROR | BM_INTR))) break;
    if (deadline_passed(dl)) {
      st = 0xFF;
      break;
    }
  }
  bm = inb((u16)(ch->bm + BM_STATUS));
  outb((u16)(ch->bm + BM_CMD), bm_cmd); /* stop */
  IdeResult r = finish(ch, st);
  r.bm = bm;
  outb((u16)(ch->bm + BM_STATUS), BM_ERROR | BM_INTR); /* write-1-to-clear */
  return r;
}

IdeResult ide_dma(const IdeChannel* ch, u32 unit, u8 command, u64 lba, u32 sectors, int to_memory,
                  const IdePrd* prd, int lba48) {
  u8 bm_cmd = to_memory ? 0x08 : 0x00;
  ide_select(ch, unit);
  outl((u16)(ch->bm + BM_PRD), (u32)(uptr)prd);
  outb((u16)(ch->bm + BM_CMD), bm_cmd);
  outb((u16)(ch->bm + BM_STATUS), BM_ERROR | BM_INTR);
  ide_load_taskfile(ch, unit, lba, sectors, lba48);
  outb((u16)(ch->cmd + R_COMMAND), command);
  return dma_run(ch, bm_cmd);
}

IdeResult atapi_packet(const IdeChannel* ch, u32 unit, const u8* cdb, u8* buf, u32 buflen, u32* got,
                       const IdePrd* prd) {
  *got = 0;
  ide_select(ch, unit);
  if (prd) {
    outl((u16)(ch->bm + BM_PRD), (u32)(uptr)prd);
    outb((u16)(ch->bm + BM_CMD), 0x08);
    outb((u16)(ch->bm + BM_STATUS), BM_ERROR | BM_INTR);
  }
  outb((u16)(ch->cmd + R_FEATURE), prd ? 1 : 0);
  outb((u16)(ch->cmd + R_LBA1), 0xFE); /* byte count limit 0xFFFE */
  outb((u16)(ch->cmd + R_LBA2), 0xFF);
  outb((u16)(ch->cmd + R_DEVICE), (u8)(0xA0 | (unit << 4)));
  outb((u16)(ch->cmd + R_COMMAND), 0xA0);
  u8 st = wait_drq(ch);
  if (st == 0xFF || (st & ATA_ERR) || !(st & ATA_DRQ)) return finish(ch, st);
  const u16* w = (const u16*)cdb;
  for (u32 i = 0; i < 6; i++) outw(ch->cmd, w[i]);
  if (prd) return dma_run(ch, 0x08);
  for (;;) {
    st = ide_wait(ch);
    if (st == 0xFF || (st & ATA_ERR) || !(st & ATA_DRQ)) break;
    u32 n = inb((u16)(ch->cmd + R_LBA1)) | (u32)inb((u16)(ch->cmd + R_LBA2)) << 8;
    if (n == 0) break;
    for (u32 i = 0; i < n; i += 2) {
      u16 v = inw(ch->cmd);
      if (*got + 1 < buflen) {
        buf[*got] = (u8)v;
        buf[*got + 1] = (u8)(v >> 8);
      }
      *got += 2;
    }
  }
  if (*got > buflen) *got = buflen;
  return finish(ch, st);
}
