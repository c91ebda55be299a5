// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/virtio/blk_pci.h"

#include "hv/virtio/blk_device.h"
#include "hv/virtio/pci_transport.h"

namespace amber::hv::virtio {

Result<VirtioBlkPci> make_virtio_blk_pci(const BlkConfig& config, GuestMemory& memory,
                                         InterruptController& interrupts,
                                         IoEventRegistry& io_events, unsigned pci_slot) {
  block::OpenOptions open;
  open.format = config.format;
  open.cache = config.cache;
  open.aio = config.aio;
  open.discard = config.options.discard;
  open.passphrase = config.passphrase;
  open.access = config.options.access == DiskAccess::kReadOnly ? block::io::Access::kReadOnly
                                                               : block::io::Access::kReadWrite;
  AMBER_TRY_ASSIGN(std::unique_ptr<block::Image> image, block::open_image(config.path, open));
  return make_virtio_blk_pci(std::shared_ptr<block::Image>(std::move(image)), config.options,
                             memory, interrupts, io_events, pci_slot);
}

Result<VirtioBlkPci> make_virtio_blk_pci(std::shared_ptr<block::Image> image,
                                         const BlkOptions& options, GuestMemory& memory,
                                         InterruptController& interrupts,
                                         IoEventRegistry& io_events, unsigned pci_slot) {
  BlkDevice* device = nullptr;
  auto make_device = [&](DeviceSignals& signals) -> Result<std::unique_ptr<VirtioDevice>> {
    AMBER_TRY_ASSIGN(std::unique_ptr<BlkDevice> blk,
                     BlkDevice::create(std::move(image), options, memory, signals));
    device = blk.get();
    return std::unique_ptr<VirtioDevice>(std::move(blk));
  };
  AMBER_TRY_ASSIGN(std::unique_ptr<VirtioPciTransport> transport,
                   VirtioPciTransport::create(kVirtioBlkIdentity, options.queues, make_device,
                                              interrupts, io_events, pci_slot));
  return VirtioBlkPci{std::move(transport), device};
}

BlkStats stats(const BlkDevice& device) {
  return device.stats();
}

}  // namespace amber::hv::virtio
