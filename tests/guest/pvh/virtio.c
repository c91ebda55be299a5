// SPDX-License-Identifier: GPL-2.0-or-later
/* Modern virtio-pci + split virtqueue driver for the probe (see virtio.h). */
#include "virtio.h"

#define CAP_VENDOR 0x09
#define CFG_COMMON 1
#define CFG_NOTIFY 2
#define CFG_ISR 3
#define CFG_DEVICE 4

/* Common configuration offsets (virtio 1.x, 4.1.4.3). */
#define C_DFSELECT 0
#define C_DF 4
#define C_GFSELECT 8
#define C_GF 12
#define C_MSIX 16
#define C_NUMQ 18
#define C_STATUS 20
#define C_Q_SELECT 22
#define C_Q_SIZE 24
#define C_Q_MSIX 26
#define C_Q_ENABLE 28
#define C_Q_NOFF 30
#define C_Q_DESC 32
#define C_Q_AVAIL 40
#define C_Q_USED 48

#define S_ACK 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8

#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_USED_F_NO_NOTIFY 1

/* Ring memory: desc at +0, avail at +4096, used at +8192 for each queue. */
static u8 ring_mem[VQ_MAX_QUEUES][3 * 4096] __attribute__((aligned(4096)));

int virtio_pci_init(VirtioDev* v, PciDevice* pci) {
  memset(v, 0, sizeof *v);
  v->pci = *pci;
  pci_setup_bars(&v->pci);
  if (!(pci_read16(&v->pci, 0x06) & 0x10)) {
    print("PROBE: no capability list\n");
    return 0;
  }
  u8 ptr = pci_read8(&v->pci, 0x34) & 0xFC;
  for (u32 guard = 0; ptr && guard < 48; guard++) {
    u8 id = pci_read8(&v->pci, ptr);
    u8 next = pci_read8(&v->pci, (u8)(ptr + 1)) & 0xFC;
    if (id == CAP_VENDOR) {
      u8 type = pci_read8(&v->pci, (u8)(ptr + 3));
      u8 bar = pci_read8(&v->pci, (u8)(ptr + 4));
      u32 off = pci_read32(&v->pci, (u8)(ptr + 8));
      u32 len = pci_read32(&v->pci, (u8)(ptr + 12));
      if (bar < 6 && !v->pci.bar_is_io[bar] && v->pci.bar[bar]) {
        u32 addr = v->pci.bar[bar] + off;
        print("PROBE: virtio cap type %u bar %u off %x len %x -> %x\n", type, bar, off, len, addr);
        if (type == CFG_COMMON && !v->common)
          v->common = addr;
        else if (type == CFG_NOTIFY && !v->notify_base) {
          v->notify_base = addr;
          v->notify_mult = pci_read32(&v->pci, (u8)(ptr + 16));
        } else if (type == CFG_ISR && !v->isr)
          v->isr = addr;
        else if (type == CFG_DEVICE && !v->device_cfg)
          v->device_cfg = addr;
      }
    } else if (id == 0x11) {
      print("PROBE: msi-x cap, table size %u\n", (pci_read16(&v->pci, (u8)(ptr + 2)) & 0x7FF) + 1);
    }
    ptr = next;
  }
  if (!v->common || !v->notify_base || !v->device_cfg) {
    print("PROBE: missing modern capabilities (common %x notify %x device %x)\n", v->common,
          v->notify_base, v->device_cfg);
    return 0;
  }
  return 1;
}

u8 virtio_status(VirtioDev* v) {
  return mmio_read8(v->common + C_STATUS);
}

void virtio_reset(VirtioDev* v) {
  mmio_write8(v->common + C_STATUS, 0);
  u64 dl = deadline_after(10);
  while (mmio_read8(v->common + C_STATUS) != 0 && !deadline_passed(dl))
    ;
}

int virtio_negotiate(VirtioDev* v, u64 wanted) {
  virtio_reset(v);
  mmio_write8(v->common + C_STATUS, S_ACK);
  mmio_write8(v->common + C_STATUS, S_ACK | S_DRIVER);
  mmio_write32(v->common + C_DFSELECT, 0);
  u32 lo = mmio_read32(v->common + C_DF);
  mmio_write32(v->common + C_DFSELECT, 1);
  u32 hi = mmio_read32(v->common + C_DF);
  v->offered = ((u64)hi << 32) | lo;
  print("PROBE: device features %x:%x\n", hi, lo);
  if (!(v->offered & (1ull << VIRTIO_F_VERSION_1))) {
    print("PROBE: VERSION_1 not offered\n");
    return 0;
  }
  v->features = v->offered & wanted;
  mmio_write32(v->common + C_GFSELECT, 0);
  mmio_write32(v->common + C_GF, (u32)v->features);
  mmio_write32(v->common + C_GFSELECT, 1);
  mmio_write32(v->common + C_GF, (u32)(v->features >> 32));
  mmio_write8(v->common + C_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
  if (!(mmio_read8(v->common + C_STATUS) & S_FEATURES_OK)) {
    print("PROBE: FEATURES_OK did not stick\n");
    return 0;
  }
  v->event_idx = (v->features >> VIRTIO_F_RING_EVENT_IDX) & 1;
  v->num_queues = mmio_read16(v->common + C_NUMQ);
  mmio_write16(v->common + C_MSIX, 0xFFFF);
  print("PROBE: negotiated %x:%x, common num_queues %u\n", (u32)(v->features >> 32),
        (u32)v->features, v->num_queues);
  return 1;
}

int virtio_setup_queue(VirtioDev* v, u16 index) {
  if (index >= VQ_MAX_QUEUES) return 0;
  mmio_write16(v->common + C_Q_SELECT, index);
  u16 size = mmio_read16(v->common + C_Q_SIZE);
  if (size == 0) return 0;
  if (size > VQ_MAX_SIZE) {
    size = VQ_MAX_SIZE;
    mmio_write16(v->common + C_Q_SIZE, size);
  }
  Virtqueue* q = &v->vq[index];
  memset(q, 0, sizeof *q);
  memset(ring_mem[index], 0, sizeof ring_mem[index]);
  q->index = index;
  q->size = size;
  q->desc = ring_mem[index];
  q->avail = (volatile u16*)(ring_mem[index] + 4096);
  q->used = ring_mem[index] + 8192;
  for (u16 i = 0; i < size; i++) *(volatile u16*)(q->desc + 16 * i + 14) = (u16)(i + 1); /* next */
  q->free_head = 0;
  q->num_free = size;
  u16 noff = mmio_read16(v->common + C_Q_NOFF);
  q->notify_addr = v->notify_base + (u32)noff * v->notify_mult;
  mmio_write16(v->common + C_Q_MSIX, 0xFFFF);
  mmio_write32(v->common + C_Q_DESC, (uptr)q->desc);
  mmio_write32(v->common + C_Q_DESC + 4, 0);
  mmio_write32(v->common + C_Q_AVAIL, (uptr)q->avail);
  mmio_write32(v->common + C_Q_AVAIL + 4, 0);
  mmio_write32(v->common + C_Q_USED, (uptr)q->used);
  mmio_write32(v->common + C_Q_USED + 4, 0);
  mmio_write16(v->common + C_Q_ENABLE, 1);
  if (mmio_read16(v->common + C_Q_ENABLE) != 1) {
    print("PROBE: queue %u enable did not stick\n", index);
    return 0;
  }
  return 1;
}

void virtio_driver_ok(VirtioDev* v) {
  mmio_write8(v->common + C_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
}

int vq_add(Virtqueue* q, const VqBuf* bufs, u32 n) {
  if (n == 0 || n > q->num_free) return -1;
  u16 head = q->free_head;
  u16 idx = head;
  for (u32 i = 0; i < n; i++) {
    volatile u8* d = q->desc + 16 * idx;
    *(volatile u32*)(d + 0) = bufs[i].addr;
    *(volatile u32*)(d + 4) = 0;
    *(volatile u32*)(d + 8) = bufs[i].len;
    u16 flags = bufs[i].device_writes ? VRING_DESC_F_WRITE : 0;
    if (i + 1 < n) flags |= VRING_DESC_F_NEXT;
    *(volatile u16*)(d + 12) = flags;
    if (i + 1 < n) idx = *(volatile u16*)(d + 14);
  }
  q->free_head = *(volatile u16*)(q->desc + 16 * idx + 14);
  q->num_free = (u16)(q->num_free - n);
  q->chain_len[head] = (u16)n;
  q->avail[2 + (q->next_avail % q->size)] = head;
  barrier();
  q->next_avail++;
  q->avail[1] = q->next_avail;
  return head;
}

void vq_kick(VirtioDev* v, Virtqueue* q) {
  full_barrier();
  if (v->event_idx) {
    /* avail_event lives after the used ring's elements. */
    u16 avail_event = *(volatile u16*)(q->used + 4 + 8 * q->size);
    u16 new_idx = q->next_avail;
    /* The batch since the last kick is unknown here; kick when the
     * device asked for any index we have published but it has not seen. */
    static u16 last_kicked[VQ_MAX_QUEUES];
    u16 old_idx = last_kicked[q->index];
    last_kicked[q->index] = new_idx;
    if ((u16)(new_idx - avail_event - 1) >= (u16)(new_idx - old_idx)) return;
  } else if (*(volatile u16*)q->used & VRING_USED_F_NO_NOTIFY) {
    /* The device is looking at the ring anyway (virtio 2.7.10); the
     * full barrier above orders our avail->idx store before this read,
     * and the device re-checks avail after clearing the flag. */
    return;
  }
  mmio_write16(q->notify_addr, q->index);
}

int vq_pop(VirtioDev* v, Virtqueue* q, u32* id, u32* len) {
  volatile u16* used_idx = (volatile u16*)(q->used + 2);
  if (*used_idx == q->last_used) return 0;
  barrier();
  volatile u8* e = q->used + 4 + 8 * (q->last_used % q->size);
  u32 head = *(volatile u32*)e;
  u32 l = *(volatile u32*)(e + 4);
  q->last_used++;
  if (v->event_idx) q->avail[2 + q->size] = q->last_used; /* used_event */
  if (head >= q->size) {
    print("PROBE: device returned bad used id %u\n", head);
    *id = 0xFFFFFFFF;
    *len = l;
    return 1;
  }
  /* Return the chain to the free list. */
  u16 n = q->chain_len[head];
  u16 last = (u16)head;
  for (u16 i = 1; i < n; i++) last = *(volatile u16*)(q->desc + 16 * last + 14);
  *(volatile u16*)(q->desc + 16 * last + 14) = q->free_head;
  q->free_head = (u16)head;
  q->num_free = (u16)(q->num_free + n);
  *id = head;
  *len = l;
  return 1;
}
