// SPDX-License-Identifier: GPL-2.0-or-later
// blk_pci.h: how the VM builder creates a virtio-blk disk.
//
// One call builds the whole device: the block::Image (opened here with the
// requested format/cache/access, or handed in already open), the
// virtio-blk device (BlkDevice: request engine, one iothread per queue)
// and the generic transitional virtio-PCI transport around it (identity
// 1af4:1001, subsystem 1af4:0002, class 010000, as QEMU's transitional
// virtio-blk: what SeaBIOS and Windows 7's viostor INF match), which the
// builder plugs into the PCI host bridge at `pci_slot`.
//
// Ownership: the transport owns the device, which owns the image and its
// iothreads; both keep references to GuestMemory, InterruptController and
// IoEventRegistry, which must outlive them (the VM owns all three).
//
// Thread-safety: PciDevice methods as documented in hv/pci/pci_device.h.
// stats() may be called from any thread (the control socket's
// query-block) at any time.
#pragma once

#include <memory>

#include "block/image.h"
#include "common/result.h"
#include "hv/memory/guest_memory.h"
#include "hv/pci/interrupts.h"
#include "hv/virtio/blk_settings.h"
#include "hv/virtio/blk_stats.h"

namespace amber::hv::virtio {

class BlkDevice;
class VirtioPciTransport;

// A built disk: the PCI function to attach, and the device inside it.
struct VirtioBlkPci {
  std::unique_ptr<VirtioPciTransport> transport;  // owns `device`
  BlkDevice* device = nullptr;
};

// Opens config.path and builds the device. `pci_slot` is the device number
// on bus 0 (used for INTx routing through InterruptController::set_intx).
Result<VirtioBlkPci> make_virtio_blk_pci(const BlkConfig& config, GuestMemory& memory,
                                         InterruptController& interrupts,
                                         IoEventRegistry& io_events, unsigned pci_slot);

// Same, with an image the caller already opened (tests, hot-plug).
Result<VirtioBlkPci> make_virtio_blk_pci(std::shared_ptr<block::Image> image,
                                         const BlkOptions& options, GuestMemory& memory,
                                         InterruptController& interrupts,
                                         IoEventRegistry& io_events, unsigned pci_slot);

// Per-disk statistics for query-block.
BlkStats stats(const BlkDevice& device);

}  // namespace amber::hv::virtio
