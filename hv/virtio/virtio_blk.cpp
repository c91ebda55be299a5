#include "hv/virtio/virtio_blk.h"

#include "hv/virtio/pci_transport.h"

namespace amber::hv::virtio {

Result<std::unique_ptr<VirtioBlkPci>> make_virtio_blk_pci(const BlkConfig& config,
                                                          GuestMemory& memory,
                                                          InterruptController& interrupts,
                                                          IoEventRegistry& io_events,
                                                          unsigned pci_slot) {
  block::OpenOptions open;
  open.format = config.format;
  open.cache = config.cache;
  open.aio = config.aio;
  open.discard = config.options.discard;
  open.access = config.options.access == DiskAccess::kReadOnly ? block::io::Access::kReadOnly
                                                               : block::io::Access::kReadWrite;
  AMBER_TRY_ASSIGN(std::unique_ptr<block::Image> image, block::open_image(config.path, open));
  return make_virtio_blk_pci(std::shared_ptr<block::Image>(std::move(image)), config.options,
                             memory, interrupts, io_events, pci_slot);
}

Result<std::unique_ptr<VirtioBlkPci>> make_virtio_blk_pci(std::shared_ptr<block::Image> image,
                                                          const BlkOptions& options,
                                                          GuestMemory& memory,
                                                          InterruptController& interrupts,
                                                          IoEventRegistry& io_events,
                                                          unsigned pci_slot) {
  return VirtioBlkPci::create(std::move(image), options, memory, interrupts, io_events, pci_slot);
}

pci::PciDevice& as_pci_device(VirtioBlkPci& device) { return device; }

BlkStats stats(const VirtioBlkPci& device) { return device.stats(); }

}  // namespace amber::hv::virtio
