// virtio_blk.h: how the VM builder creates a virtio-blk disk.
//
// One call builds the whole device: the block::Image (opened here with the
// requested format/cache/access, or handed in already open), the
// virtio-blk request engine with one iothread per queue, and the
// transitional virtio-pci function (1af4:1001, subsystem 1af4:0002) that the
// builder plugs into the PCI host bridge at `pci_slot`.
//
// Ownership: the returned VirtioBlkPci owns the image and its iothreads; it
// keeps references to GuestMemory, InterruptController and IoEventRegistry,
// which must outlive it (the VM owns all three).
//
// Thread-safety: PciDevice methods as documented in hv/pci/pci_device.h.
// stats() may be called from any thread (the control socket's
// query-block) at any time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "block/image.h"
#include "common/result.h"
#include "hv/memory/guest_memory.h"
#include "hv/pci/interrupts.h"
#include "hv/pci/pci_device.h"

namespace amber::hv::virtio {

// Whether the guest may write the disk (RO feature bit, no image writes).
enum class DiskAccess { kReadWrite, kReadOnly };

// Device-level options (everything that is not about opening the file).
struct BlkOptions {
  // Number of request queues (VIRTIO_BLK_F_MQ when > 1); 1..kMaxQueues.
  unsigned queues = 1;
  // kUnmap offers DISCARD and WRITE_ZEROES to the guest; kIgnore offers
  // neither (QEMU's discard=ignore, the libvirt default).
  block::DiscardMode discard = block::DiscardMode::kIgnore;
  DiskAccess access = DiskAccess::kReadWrite;
  // GET_ID answer; at most 20 bytes are used (longer is truncated).
  std::string serial;
};

// Everything the builder knows from the domain definition.
struct BlkConfig {
  std::string path;
  std::optional<block::ImageFormat> format;  // empty: probe
  block::io::CacheMode cache = block::io::CacheMode::kWriteback;
  block::io::AioBackend aio = block::io::AioBackend::kThreads;
  BlkOptions options;
};

// Counters for one kind of request, since the device was created.
struct OpStats {
  uint64_t ops = 0;          // completed requests (success or failure)
  uint64_t bytes = 0;        // bytes moved (successful requests)
  uint64_t total_ns = 0;     // sum of request latencies
  uint64_t failed = 0;       // requests answered with IOERR
};

struct BlkStats {
  OpStats read;
  OpStats write;
  OpStats flush;
  OpStats discard;       // DISCARD and WRITE_ZEROES requests
  uint64_t unsupported = 0;  // requests answered with UNSUPP
};

// The transitional virtio-blk PCI function. Defined in pci_transport.h;
// the builder only needs it as a pci::PciDevice plus stats().
class VirtioBlkPci;

// Opens config.path and builds the device. `pci_slot` is the device number
// on bus 0 (used for INTx routing through InterruptController::set_intx).
Result<std::unique_ptr<VirtioBlkPci>> make_virtio_blk_pci(const BlkConfig& config,
                                                          GuestMemory& memory,
                                                          InterruptController& interrupts,
                                                          IoEventRegistry& io_events,
                                                          unsigned pci_slot);

// Same, with an image the caller already opened (tests, hot-plug).
Result<std::unique_ptr<VirtioBlkPci>> make_virtio_blk_pci(std::shared_ptr<block::Image> image,
                                                          const BlkOptions& options,
                                                          GuestMemory& memory,
                                                          InterruptController& interrupts,
                                                          IoEventRegistry& io_events,
                                                          unsigned pci_slot);

// Upcast helper so builder code can include only this header.
pci::PciDevice& as_pci_device(VirtioBlkPci& device);
// Per-disk statistics for query-block.
BlkStats stats(const VirtioBlkPci& device);

}  // namespace amber::hv::virtio
