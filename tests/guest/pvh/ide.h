// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A polled PIIX3 IDE driver for the probe guest: the legacy task-file
 * ports of one channel, PIO data-in/out, bus-master DMA through a PRD
 * table and ATAPI packets over PIO or DMA. No interrupts are taken (the
 * guest runs with IF=0); completion is polled on the status registers.
 * Single-threaded guest code.
 */
#pragma once
#include "pci.h"

/* ATA status / error bits. */
#define ATA_BSY 0x80
#define ATA_DRDY 0x40
#define ATA_DRQ 0x08
#define ATA_ERR 0x01
#define ATA_ABRT 0x04
#define ATA_IDNF 0x10
/* Bus-master status bits. */
#define BM_ACTIVE 0x01
#define BM_ERROR 0x02
#define BM_INTR 0x04

typedef struct {
  u16 cmd; /* command block: 0x1F0 / 0x170 */
  u16 ctl; /* device control / alternate status: 0x3F6 / 0x376 */
  u16 bm;  /* this channel's bus-master registers in BAR4 */
} IdeChannel;

/* One PRD table entry. */
typedef struct {
  u32 addr;
  u16 bytes; /* 0 means 64 KiB */
  u16 flags; /* 0x8000: end of table */
} __attribute__((packed)) IdePrd;

/* Result of a command: the final ATA status, error register and (DMA)
 * bus-master status; status 0xFF on a timeout. */
typedef struct {
  u8 status, error, bm;
} IdeResult;

void ide_channel_init(IdeChannel* ch, u16 bar4, int secondary);
/* Selects unit 0/1 (LBA mode) and waits for BSY to clear. */
void ide_select(const IdeChannel* ch, u32 unit);
/* Polls the alternate status until BSY clears; 0xFF on timeout. */
u8 ide_wait(const IdeChannel* ch);
/* Loads the task file (LBA48 when lba48: both halves) without the command. */
void ide_load_taskfile(const IdeChannel* ch, u32 unit, u64 lba, u32 count, int lba48);
/* Non-data command (FLUSH CACHE EXT, ...). */
IdeResult ide_nondata(const IdeChannel* ch, u32 unit, u8 command);
/* PIO data-in command of `sectors` 512-byte blocks (IDENTIFY: lba 0, 1). */
IdeResult ide_pio_in(const IdeChannel* ch, u32 unit, u8 command, u64 lba, u32 sectors, u8* buf,
                     int lba48);
IdeResult ide_pio_out(const IdeChannel* ch, u32 unit, u8 command, u64 lba, u32 sectors,
                      const u8* buf, int lba48);
/* Bus-master DMA command over the PRD table at `prd` (physical = virtual). */
IdeResult ide_dma(const IdeChannel* ch, u32 unit, u8 command, u64 lba, u32 sectors, int to_memory,
                  const IdePrd* prd, int lba48);
/* ATAPI PACKET with a 12-byte CDB; PIO data-in into buf (up to buflen,
 * the rest discarded), *got = bytes moved. With prd != NULL the data
 * phase goes over DMA (PACKET feature bit 0). */
IdeResult atapi_packet(const IdeChannel* ch, u32 unit, const u8* cdb, u8* buf, u32 buflen, u32* got,
                       const IdePrd* prd);

/* The probe's test=ide and test=idebench modes (ide_probe.c). */
void mode_ide(void) __attribute__((noreturn));
void mode_idebench(void) __attribute__((noreturn));
/* probe.c's sector pattern (see vmmlib.pattern_sector). */
void fill_sector(u8* p, const char* tag, u32 s, u32 sd);
