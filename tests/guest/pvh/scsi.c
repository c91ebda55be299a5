// SPDX-License-Identifier: GPL-2.0-or-later
/* virtio-scsi request helpers for the probe guest (see scsi.h). */
#include "scsi.h"

static ScsiCmdReq slot_req[SCSI_SLOTS];
static ScsiCmdResp slot_resp[SCSI_SLOTS];
static VqBuf slot_bufs[SCSI_SLOTS][3];
/* Maps the request queue's descriptor head back to our slot. */
static u8 head_slot[VQ_MAX_SIZE];

u16 scsi_queue = SCSI_REQUEST_QUEUE;
u32 scsi_request_queues = 1;

static ScsiCmdReq sync_req;
static ScsiCmdResp sync_resp;

void scsi_lun(u8 out[8], u8 target, u16 lun) {
  memset(out, 0, 8);
  out[0] = 1;
  out[1] = target;
  out[2] = (u8)(0x40 | ((lun >> 8) & 0x3F));
  out[3] = (u8)lun;
}

int scsi_open(VirtioDev* v, int event_idx) {
  PciDevice pci;
  if (!pci_find(0x1AF4, 0x1004, 0x1048, &pci)) {
    print("PROBE: no virtio-scsi controller on bus 0\n");
    return 0;
  }
  print("PROBE: virtio-scsi %x:%x at 00:%x.%u subsystem %x:%x class %x\n", pci.vendor, pci.device,
        pci.dev, pci.fn, pci_read16(&pci, 0x2C), pci_read16(&pci, 0x2E),
        pci_read32(&pci, 0x08) >> 8);
  if (!virtio_pci_init(v, &pci)) return 0;
  /* We poll: PCI Interrupt Disable keeps INTx deasserted. An interrupt left
   * pending while we run with IF=0 makes software KVM single-step us. */
  pci_write16(&v->pci, 0x04, (u16)(pci_read16(&v->pci, 0x04) | 0x400));
  u64 want = 1ull << VIRTIO_F_VERSION_1;
  if (event_idx) want |= 1ull << VIRTIO_F_RING_EVENT_IDX;
  if (!virtio_negotiate(v, want)) return 0;
  u32 cfg = v->device_cfg;
  print(
      "PROBE: scsi config num_queues %u seg_max %u max_sectors %u cmd_per_lun %u sense %u "
      "cdb %u max_target %u max_lun %u\n",
      mmio_read32(cfg + 0), mmio_read32(cfg + 4), mmio_read32(cfg + 8), mmio_read32(cfg + 12),
      mmio_read32(cfg + 20), mmio_read32(cfg + 24), mmio_read16(cfg + 30), mmio_read32(cfg + 32));
  /* The defaults are what we lay out; writing them is allowed (5.6.4). */
  mmio_write32(cfg + 20, SCSI_SENSE_SIZE);
  mmio_write32(cfg + 24, SCSI_CDB_SIZE);
  scsi_request_queues = cmdline_u32("queues", 1);
  if (scsi_request_queues < 1 || scsi_request_queues > VQ_MAX_QUEUES - 2) scsi_request_queues = 1;
  for (u16 q = 0; q < SCSI_REQUEST_QUEUE + scsi_request_queues; q++) {
    if (!virtio_setup_queue(v, q)) {
      print("PROBE: scsi queue %u could not be set up\n", q);
      return 0;
    }
  }
  virtio_driver_ok(v);
  if (virtio_status(v) & 0xC0) {
    print("PROBE: scsi status %x after DRIVER_OK\n", virtio_status(v));
    return 0;
  }
  return 1;
}

static void fill_req(ScsiCmdReq* r, const u8 lun[8], const u8* cdb, u32 cdb_len, u64 tag) {
  memset(r, 0, sizeof *r);
  memcpy(r->lun, lun, 8);
  r->tag = tag;
  if (cdb_len > SCSI_CDB_SIZE) cdb_len = SCSI_CDB_SIZE;
  memcpy(r->cdb, cdb, cdb_len);
}

u8 scsi_sync(VirtioDev* v, const u8 lun[8], const u8* cdb, u32 cdb_len, const void* out,
             u32 out_len, void* in, u32 in_len, ScsiCmdResp* resp, u32* used) {
  static u64 tag = 1;
  Virtqueue* q = &v->vq[scsi_queue];
  fill_req(&sync_req, lun, cdb, cdb_len, tag++);
  memset(&sync_resp, 0, sizeof sync_resp);
  sync_resp.response = 0xEE;
  VqBuf b[4];
  u32 n = 0;
  b[n++] = (VqBuf){(uptr)&sync_req, sizeof sync_req, 0};
  if (out && out_len) b[n++] = (VqBuf){(uptr)out, out_len, 0};
  b[n++] = (VqBuf){(uptr)&sync_resp, sizeof sync_resp, 1};
  if (in && in_len) b[n++] = (VqBuf){(uptr)in, in_len, 1};
  int head = vq_add(q, b, n);
  if (head < 0) return SCSI_TIMEOUT;
  vq_kick(v, q);
  u64 dl = deadline_after(60);
  for (;;) {
    u32 id, len;
    if (vq_pop(v, q, &id, &len)) {
      if ((int)id != head) {
        print("PROBE: scsi unexpected used id %u (want %d)\n", id, head);
        return SCSI_TIMEOUT;
      }
      if (used) *used = len;
      *resp = sync_resp;
      return sync_resp.response;
    }
    if (deadline_passed(dl)) {
      print("PROBE: scsi timeout (used idx %u, ours %u, status %x)\n",
            *(volatile u16*)(q->used + 2), q->last_used, virtio_status(v));
      return SCSI_TIMEOUT;
    }
  }
}

void scsi_slot_init(u32 slot, const u8 lun[8], int write, u32 blocks) {
  u8 cdb[16] = {write ? 0x8A : 0x88};
  cdb[13] = (u8)blocks;
  fill_req(&slot_req[slot], lun, cdb, sizeof cdb, slot);
  u32 len = blocks * 512;
  u32 n = 0;
  slot_bufs[slot][n++] = (VqBuf){(uptr)&slot_req[slot], sizeof slot_req[slot], 0};
  if (write) slot_bufs[slot][n++] = (VqBuf){(uptr)scsi_slot_data[slot], len, 0};
  slot_bufs[slot][n++] = (VqBuf){(uptr)&slot_resp[slot], sizeof slot_resp[slot], 1};
  if (!write) slot_bufs[slot][n++] = (VqBuf){(uptr)scsi_slot_data[slot], len, 1};
}

int scsi_submit(VirtioDev* v, u32 slot, u64 lba) {
  /* CDB bytes 2..9: the LBA, big-endian. */
  u32* l = (u32*)(void*)&slot_req[slot].cdb[2];
  l[0] = __builtin_bswap32((u32)(lba >> 32));
  l[1] = __builtin_bswap32((u32)lba);
  slot_resp[slot].response = 0xEE;
  int head = vq_add(&v->vq[SCSI_REQUEST_QUEUE], slot_bufs[slot], 3);
  if (head < 0) return 0;
  head_slot[head] = (u8)slot;
  return 1;
}

int scsi_poll(VirtioDev* v) {
  u32 id, len;
  if (!vq_pop(v, &v->vq[SCSI_REQUEST_QUEUE], &id, &len)) return -1;
  if (id >= VQ_MAX_SIZE) return -2;
  u32 slot = head_slot[id];
  if (slot_resp[slot].response != VIRTIO_SCSI_S_OK || slot_resp[slot].status != SCSI_STATUS_GOOD ||
      slot_resp[slot].sense_len != 0) {
    print("PROBE: scsi slot %u response %u status %x\n", slot, slot_resp[slot].response,
          slot_resp[slot].status);
    return -2;
  }
  return (int)slot;
}
