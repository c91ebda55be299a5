// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/virtio/net_pci.h"

#include "hv/virtio/pci_transport.h"

namespace amber::hv::virtio {

Result<VirtioNetPci> make_virtio_net_pci(const NetDeviceConfig& config,
                                         std::unique_ptr<net::NetBackend> backend,
                                         std::vector<uint8_t> rom, const GuestMemory& memory,
                                         InterruptController& interrupts,
                                         IoEventRegistry& io_events, unsigned pci_slot) {
  NetDevice* device = nullptr;
  auto make_device = [&](DeviceSignals& signals) -> Result<std::unique_ptr<VirtioDevice>> {
    AMBER_TRY_ASSIGN(std::unique_ptr<NetDevice> net,
                     NetDevice::create(config, memory, signals, std::move(backend)));
    device = net.get();
    return std::unique_ptr<VirtioDevice>(std::move(net));
  };
  AMBER_TRY_ASSIGN(
      std::unique_ptr<VirtioPciTransport> transport,
      VirtioPciTransport::create(kVirtioNetIdentity, 2 * config.queue_pairs + 1, make_device,
                                 interrupts, io_events, pci_slot, std::move(rom)));
  return VirtioNetPci{std::move(transport), device};
}

}  // namespace amber::hv::virtio
