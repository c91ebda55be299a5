// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-blk requests over the polled virtqueues of virtio.h: synchronous
 * single requests for the functional probe and an asynchronous slot pool for
 * the benchmark and write-loop modes.
 */
#pragma once
#include "virtio.h"

#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Status values returned by the device, plus our timeout marker. */
#define BLK_S_OK 0
#define BLK_S_IOERR 1
#define BLK_S_UNSUPP 2
#define BLK_S_TIMEOUT 0xFF

/* Asynchronous slots: each has a header, a status byte and 4 KiB of data. */
#define BLK_SLOTS 64
#define BLK_SLOT_BYTES 4096

extern u8 blk_slot_data[BLK_SLOTS][BLK_SLOT_BYTES];

/* One synchronous request. `split` sends the data as two descriptors.
 * `data` may be NULL for FLUSH. Returns the device status. */
u8 blk_sync(VirtioDev* v, u16 queue, u32 type, u64 sector, void* data, u32 len, int split);
/* DISCARD / WRITE_ZEROES for one range. */
u8 blk_range(VirtioDev* v, u16 queue, u32 type, u64 sector, u32 count, u32 unmap);

/* Async: submit on slot (data in blk_slot_data[slot]); no kick. */
int blk_submit(VirtioDev* v, u16 queue, u32 slot, u32 type, u64 sector, u32 len);
/* Polls one completion; returns the slot, -1 if none, -2 on device error
 * (status in *status). */
int blk_poll(VirtioDev* v, u16 queue, u8* status);
