// SPDX-License-Identifier: GPL-2.0-or-later
// scsi_pci.h: how the VM builder creates a virtio-scsi controller: the
// ScsiDevice with its LUNs inside the generic transitional virtio-PCI
// transport (1af4:1004, subsystem 1af4:0008, class 010000, as QEMU's
// transitional virtio-scsi-pci, what SeaBIOS and Windows 7's vioscsi INF
// match). Queues: control, event and `request_queues` request queues.
//
// Ownership: the transport owns the device, which shares the disks.
// Thread-safety: as blk_pci.h.
#pragma once

#include <memory>
#include <vector>

#include "common/result.h"
#include "hv/memory/guest_memory.h"
#include "hv/pci/interrupts.h"
#include "hv/virtio/scsi_device.h"

namespace amber::hv::virtio {

class VirtioPciTransport;

struct VirtioScsiPci {
  std::unique_ptr<VirtioPciTransport> transport;  // owns `device`
  ScsiDevice* device = nullptr;
};

Result<VirtioScsiPci> make_virtio_scsi_pci(std::vector<ScsiLun> luns, unsigned request_queues,
                                           GuestMemory& memory, InterruptController& interrupts,
                                           IoEventRegistry& io_events, unsigned pci_slot);

}  // namespace amber::hv::virtio
