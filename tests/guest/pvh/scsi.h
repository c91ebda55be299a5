// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-scsi (1af4:1004 transitional / 1af4:1048 modern) requests over the
 * polled virtqueues of virtio.h: queue 0 control, 1 event (set up, never
 * filled), 2 the request queue. Synchronous single commands for the
 * functional checks and an asynchronous slot pool for the benchmark; the
 * probe modes `test=scsi` and `test=scsibench` (scsi_probe.c).
 * Single-threaded guest code, like the rest of the probe.
 */
#pragma once
#include "blk.h"
#include "virtio.h"

#define SCSI_REQUEST_QUEUE 2
/* With `queues=N` on the cmdline (N <= VQ_MAX_QUEUES - 2), scsi_open()
 * sets up request queues 2..N+1; scsi_sync() uses scsi_queue (2 unless a
 * check switches it). */
extern u16 scsi_queue;
extern u32 scsi_request_queues;
#define SCSI_CDB_SIZE 32
#define SCSI_SENSE_SIZE 96

/* virtio_scsi_cmd_resp.response (virtio 1.x, 5.6.6.1). */
#define VIRTIO_SCSI_S_OK 0
#define VIRTIO_SCSI_S_OVERRUN 1
#define VIRTIO_SCSI_S_BAD_TARGET 3
#define VIRTIO_SCSI_S_FAILURE 9
/* Our marker for "the device never answered". */
#define SCSI_TIMEOUT 0xFF

#define SCSI_STATUS_GOOD 0x00
#define SCSI_STATUS_CHECK_CONDITION 0x02

typedef struct __attribute__((packed)) {
  u8 lun[8];
  u64 tag;
  u8 task_attr;
  u8 prio;
  u8 crn;
  u8 cdb[SCSI_CDB_SIZE];
} ScsiCmdReq;

typedef struct __attribute__((packed)) {
  u32 sense_len;
  u32 resid;
  u16 status_qualifier;
  u8 status;
  u8 response;
  u8 sense[SCSI_SENSE_SIZE];
} ScsiCmdResp;

/* Asynchronous slots: each has a request, a response and 4 KiB of data. */
#define SCSI_SLOTS BLK_SLOTS
#define SCSI_SLOT_BYTES BLK_SLOT_BYTES
/* One boot drives one controller, so the data buffers are blk.c's: the
 * probe's BSS (zeroed at boot, one emulated store at a time under software
 * KVM) stays as small as before. scsi_probe.c also uses them as its two
 * 64 KiB scratch buffers (slots 0..15 and 16..31). */
#define scsi_slot_data blk_slot_data

/* The 8-byte virtio-scsi LUN field for `target`/`lun` (lun[0] = 1, flat
 * addressing in bytes 2-3 as Linux and QEMU use). */
void scsi_lun(u8 out[8], u8 target, u16 lun);

/* Finds the controller, negotiates VERSION_1 (and EVENT_IDX if `event_idx`),
 * sets up the control, event and first request queue and sets DRIVER_OK.
 * Returns 0 on failure (reason printed). */
int scsi_open(VirtioDev* v, int event_idx);

/* One synchronous command: `out`/`out_len` the data-out buffer (may be 0),
 * `in`/`in_len` the data-in buffer (may be 0). Fills *resp and returns
 * resp->response, or SCSI_TIMEOUT. *used gets the used length when not NULL. */
u8 scsi_sync(VirtioDev* v, const u8 lun[8], const u8* cdb, u32 cdb_len, const void* out,
             u32 out_len, void* in, u32 in_len, ScsiCmdResp* resp, u32* used);

/* Async: scsi_slot_init() builds slot's READ 16 / WRITE 16 request of
 * `blocks` (<= 8) 512-byte blocks from/to scsi_slot_data[slot] once;
 * scsi_submit() then only patches the LBA and queues it (no kick; 0 when
 * the ring is full). Lean on purpose: under software KVM every guest
 * instruction here may be emulated, and the benchmark should time the VMM. */
void scsi_slot_init(u32 slot, const u8 lun[8], int write, u32 blocks);
int scsi_submit(VirtioDev* v, u32 slot, u64 lba);
/* Polls one completion: the slot, -1 if none, -2 if it failed. */
int scsi_poll(VirtioDev* v);

/* The probe modes (scsi_probe.c); they end the guest. */
void scsi_mode_probe(void) __attribute__((noreturn));
void scsi_mode_bench(void) __attribute__((noreturn));
