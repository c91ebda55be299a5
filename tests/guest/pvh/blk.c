// SPDX-License-Identifier: GPL-2.0-or-later
/* virtio-blk request helpers for the probe guest (see blk.h). */
#include "blk.h"

typedef struct {
  u32 type;
  u32 reserved;
  u64 sector;
} BlkHeader;

typedef struct {
  u64 sector;
  u32 num_sectors;
  u32 flags;
} BlkRange;

u8 blk_slot_data[BLK_SLOTS][BLK_SLOT_BYTES] __attribute__((aligned(4096)));
static BlkHeader slot_hdr[BLK_SLOTS];
static volatile u8 slot_status[BLK_SLOTS];
/* Maps a queue's descriptor head back to our slot. */
static u8 head_slot[VQ_MAX_QUEUES][VQ_MAX_SIZE];

static BlkHeader sync_hdr;
static BlkRange sync_range;
static volatile u8 sync_status;

static u8 wait_head(VirtioDev* v, Virtqueue* q, int head, volatile u8* status) {
  u64 dl = deadline_after(60);
  for (;;) {
    u32 id, len;
    if (vq_pop(v, q, &id, &len)) {
      if ((int)id == head) return *status;
      print("PROBE: unexpected used id %u (want %d)\n", id, head);
      return BLK_S_TIMEOUT;
    }
    if (deadline_passed(dl)) {
      print("PROBE: timeout on queue %u (used idx %u, ours %u, status %x)\n", q->index,
            *(volatile u16*)(q->used + 2), q->last_used, virtio_status(v));
      return BLK_S_TIMEOUT;
    }
  }
}

u8 blk_sync(VirtioDev* v, u16 queue, u32 type, u64 sector, void* data, u32 len, int split) {
  Virtqueue* q = &v->vq[queue];
  VqBuf b[4];
  u32 n = 0;
  int dev_writes = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
  sync_hdr.type = type;
  sync_hdr.reserved = 0;
  sync_hdr.sector = sector;
  sync_status = 0xEE;
  b[n++] = (VqBuf){(uptr)&sync_hdr, sizeof sync_hdr, 0};
  if (data && len) {
    if (split && len >= 1024) {
      u32 first = len / 2;
      b[n++] = (VqBuf){(uptr)data, first, dev_writes};
      b[n++] = (VqBuf){(uptr)data + first, len - first, dev_writes};
    } else {
      b[n++] = (VqBuf){(uptr)data, len, dev_writes};
    }
  }
  b[n++] = (VqBuf){(uptr)&sync_status, 1, 1};
  int head = vq_add(q, b, n);
  if (head < 0) return BLK_S_TIMEOUT;
  vq_kick(v, q);
  return wait_head(v, q, head, &sync_status);
}

u8 blk_range(VirtioDev* v, u16 queue, u32 type, u64 sector, u32 count, u32 unmap) {
  sync_range.sector = sector;
  sync_range.num_sectors = count;
  sync_range.flags = unmap ? 1 : 0;
  Virtqueue* q = &v->vq[queue];
  sync_hdr.type = type;
  sync_hdr.reserved = 0;
  sync_hdr.sector = 0;
  sync_status = 0xEE;
  VqBuf b[3] = {
      {(uptr)&sync_hdr, sizeof sync_hdr, 0},
      {(uptr)&sync_range, sizeof sync_range, 0},
      {(uptr)&sync_status, 1, 1},
  };
  int head = vq_add(q, b, 3);
  if (head < 0) return BLK_S_TIMEOUT;
  vq_kick(v, q);
  return wait_head(v, q, head, &sync_status);
}

int blk_submit(VirtioDev* v, u16 queue, u32 slot, u32 type, u64 sector, u32 len) {
  Virtqueue* q = &v->vq[queue];
  slot_hdr[slot].type = type;
  slot_hdr[slot].reserved = 0;
  slot_hdr[slot].sector = sector;
  slot_status[slot] = 0xEE;
  VqBuf b[3];
  u32 n = 0;
  b[n++] = (VqBuf){(uptr)&slot_hdr[slot], sizeof slot_hdr[slot], 0};
  if (len) b[n++] = (VqBuf){(uptr)blk_slot_data[slot], len, type == VIRTIO_BLK_T_IN};
  b[n++] = (VqBuf){(uptr)&slot_status[slot], 1, 1};
  int head = vq_add(q, b, n);
  if (head < 0) return 0;
  head_slot[queue][head] = (u8)slot;
  return 1;
}

int blk_poll(VirtioDev* v, u16 queue, u8* status) {
  u32 id, len;
  if (!vq_pop(v, &v->vq[queue], &id, &len)) return -1;
  if (id >= VQ_MAX_SIZE) {
    *status = BLK_S_TIMEOUT;
    return -2;
  }
  u32 slot = head_slot[queue][id];
  *status = slot_status[slot];
  return *status == BLK_S_OK ? (int)slot : -2;
}
