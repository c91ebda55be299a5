// SPDX-License-Identifier: GPL-2.0-or-later
// net_pci.h: how the VM builder creates a virtio-net card: the NetDevice
// with its backend inside the generic transitional virtio-PCI transport
// (1af4:1000, subsystem 1af4:0001, class 020000, as QEMU 7.2's
// virtio-net-pci), with the iPXE option ROM when one is given. Queues:
// `queue_pairs` RX/TX pairs and the control queue.
//
// Ownership: the transport owns the device, which owns the backend.
// Thread-safety: as blk_pci.h.
#pragma once

#include <memory>
#include <vector>

#include "common/result.h"
#include "hv/memory/guest_memory.h"
#include "hv/pci/interrupts.h"
#include "hv/virtio/net_device.h"

namespace amber::hv::virtio {

class VirtioPciTransport;

struct VirtioNetPci {
  std::unique_ptr<VirtioPciTransport> transport;  // owns `device`
  NetDevice* device = nullptr;
};

Result<VirtioNetPci> make_virtio_net_pci(const NetDeviceConfig& config,
                                         std::unique_ptr<net::NetBackend> backend,
                                         std::vector<uint8_t> rom, const GuestMemory& memory,
                                         InterruptController& interrupts,
                                         IoEventRegistry& io_events, unsigned pci_slot);

}  // namespace amber::hv::virtio
