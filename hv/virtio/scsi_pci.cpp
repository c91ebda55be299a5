// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/virtio/scsi_pci.h"

#include "hv/virtio/pci_transport.h"

namespace amber::hv::virtio {

Result<VirtioScsiPci> make_virtio_scsi_pci(std::vector<ScsiLun> luns, unsigned request_queues,
                                           GuestMemory& memory, InterruptController& interrupts,
                                           IoEventRegistry& io_events, unsigned pci_slot) {
  ScsiDevice* device = nullptr;
  auto make_device = [&](DeviceSignals& signals) -> Result<std::unique_ptr<VirtioDevice>> {
    AMBER_TRY_ASSIGN(std::unique_ptr<ScsiDevice> scsi,
                     ScsiDevice::create(std::move(luns), request_queues, memory, signals));
    device = scsi.get();
    return std::unique_ptr<VirtioDevice>(std::move(scsi));
  };
  AMBER_TRY_ASSIGN(std::unique_ptr<VirtioPciTransport> transport,
                   VirtioPciTransport::create(kVirtioScsiIdentity, request_queues + 2, make_device,
                                              interrupts, io_events, pci_slot));
  return VirtioScsiPci{std::move(transport), device};
}

}  // namespace amber::hv::virtio
