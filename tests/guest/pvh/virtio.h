// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Modern virtio-pci transport (capabilities, common config in a memory BAR)
 * and polled split virtqueues, enough to drive virtio-blk from the probe.
 */
#pragma once
#include "lib.h"
#include "pci.h"

/* Queue size we ask for; also bounds our per-queue ring memory. */
#define VQ_MAX_SIZE 256
/* Queues we can drive; more than any test configures. */
#define VQ_MAX_QUEUES 16

typedef struct {
  u16 index;
  u16 size;
  u16 next_avail; /* our shadow of avail->idx */
  u16 last_used;  /* used entries consumed so far */
  u16 free_head;  /* descriptor free list */
  u16 num_free;
  u32 notify_addr;
  volatile u8* desc; /* 16-byte descriptors */
  volatile u16* avail;
  volatile u8* used;
  u16 chain_len[VQ_MAX_SIZE];
} Virtqueue;

typedef struct {
  PciDevice pci;
  u32 common; /* common cfg MMIO address */
  u32 notify_base;
  u32 notify_mult;
  u32 isr;
  u32 device_cfg;
  u64 features; /* negotiated */
  u64 offered;
  u16 num_queues;
  int event_idx;
  Virtqueue vq[VQ_MAX_QUEUES];
} VirtioDev;

#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_RING_EVENT_IDX 29

/* Finds the transport capabilities; 0 on failure (reason printed). */
int virtio_pci_init(VirtioDev* v, PciDevice* pci);
/* Reset, ACK, DRIVER, feature negotiation with `wanted` & offered.
 * Returns 0 if FEATURES_OK did not stick or VERSION_1 is missing. */
int virtio_negotiate(VirtioDev* v, u64 wanted);
/* Sets up queue `index` in our RAM; 0 if the device offers no such queue. */
int virtio_setup_queue(VirtioDev* v, u16 index);
void virtio_driver_ok(VirtioDev* v);
void virtio_reset(VirtioDev* v);
u8 virtio_status(VirtioDev* v);

typedef struct {
  u32 addr;
  u32 len;
  int device_writes;
} VqBuf;

/* Adds one descriptor chain; returns the head id or -1 when full. Does not
 * notify: call vq_kick after adding a batch. */
int vq_add(Virtqueue* q, const VqBuf* bufs, u32 n);
void vq_kick(VirtioDev* v, Virtqueue* q);
/* Pops one used element; returns 1 and its id/len, 0 if none yet. */
int vq_pop(VirtioDev* v, Virtqueue* q, u32* id, u32* len);
