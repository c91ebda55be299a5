// SPDX-License-Identifier: GPL-2.0-or-later
// VirtioPciTransport: the transitional virtio-pci function around any
// VirtioDevice (virtio_device.h): blk today, scsi and net later.
//
// Identity: 1af4:<the device's transitional id> rev 0, subsystem
// 1af4:<virtio device type>, the device's class code, INTA (virtio 1.x,
// 4.1.2.1, as QEMU's transitional devices). Both interfaces are live at
// once; the driver picks one:
//  - BAR0, I/O, 128 bytes: the legacy (0.9.5) register file; the two
//    MSI-X vector registers appear at 0x14 while MSI-X is enabled and the
//    device config then moves from 0x14 to 0x18.
//  - BAR1, 32-bit memory, 4 KiB: MSI-X table (offset 0) and PBA (0x800),
//    queues + 1 vectors (config vector first by convention of the driver).
//  - BAR4, 64-bit prefetchable memory, 16 KiB: modern structures found via
//    vendor capabilities: common cfg @0, ISR @0x1000, device cfg @0x2000,
//    notify @0x3000 (multiplier 4: one doorbell per queue).
//  - a VIRTIO_PCI_CAP_PCI_CFG window capability.
//  - the expansion ROM BAR when create() was given a ROM image (an iPXE
//    driver for virtio-net, as QEMU's pc machine loads).
// Features: the device's bits plus INDIRECT_DESC and EVENT_IDX; VERSION_1
// only on the modern interface, ANY_LAYOUT only on the legacy one (it is
// implied by 1.0), never RING_PACKED.
//
// Queue doorbells are ioeventfds (registered on every BAR move) wired to
// the queues' iothreads; doorbell writes that still reach a vCPU thread
// kick the same eventfd. Interrupts: MSI-X when enabled, else INTx + ISR.
//
// Thread-safety: config accesses come under the host bridge's lock; BAR
// accesses from any vCPU take this device's register mutex (never held by
// iothreads); iothreads only use atomics, the MSI-X table lock and the
// INTx lock. stats() from any thread.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "common/rate_limit.h"
#include "hv/memory/guest_memory.h"
#include "hv/pci/interrupts.h"
#include "hv/pci/pci_config.h"
#include "hv/virtio/msix.h"
#include "hv/virtio/virtio_device.h"

namespace amber::hv::virtio {

// Which of the two register interfaces an access or a feature set is for.
enum class VirtioInterface { kLegacy, kModern };

class VirtioPciTransport final : public pci::PciConfigSpace, public DeviceSignals {
 public:
  static constexpr unsigned kLegacyBar = 0;
  static constexpr unsigned kMsixBar = 1;
  static constexpr unsigned kModernBar = 4;
  static constexpr uint64_t kLegacyBarSize = 0x80;
  static constexpr uint64_t kMsixBarSize = 0x1000;
  static constexpr uint64_t kModernBarSize = 0x4000;
  static constexpr uint64_t kCommonOffset = 0x0000;
  static constexpr uint64_t kIsrOffset = 0x1000;
  static constexpr uint64_t kDeviceOffset = 0x2000;
  static constexpr uint64_t kNotifyOffset = 0x3000;
  static constexpr uint64_t kRegionSize = 0x1000;
  static constexpr uint32_t kNotifyMultiplier = 4;

  // Builds the PCI function for a device of `identity` with `queues`
  // queues (MSI-X: queues + 1 vectors), then the device itself with
  // `make_device`, handed this transport's signals; the device must report
  // the same identity and queue count. `pci_slot` is the device number on
  // bus 0 (INTx routing through InterruptController::set_intx). A
  // non-empty `rom` is served read-only through the expansion ROM BAR
  // (its size rounded up to a power of two, at least 2 KiB), its first
  // image's PCIR vendor/device patched to this function's (as QEMU).
  using DeviceFactory = std::function<Result<std::unique_ptr<VirtioDevice>>(DeviceSignals&)>;
  static Result<std::unique_ptr<VirtioPciTransport>> create(
      const VirtioPciIdentity& identity, unsigned queues, const DeviceFactory& make_device,
      InterruptController& interrupts, IoEventRegistry& io_events, unsigned pci_slot,
      std::vector<uint8_t> rom = {});
  ~VirtioPciTransport() override;

  void bar_read(unsigned index, uint64_t offset, std::span<uint8_t> data) override;
  void bar_write(unsigned index, uint64_t offset, std::span<const uint8_t> data) override;
  void bar_remapped(unsigned index, const pci::BarInfo& mapped) override;
  void reset() override;

  // DeviceSignals (iothreads).
  void notify_queue(unsigned queue) override;
  void needs_reset(const Error& why) override;

  // Called (from an iothread or a vCPU) once each time the device goes
  // into NEEDS_RESET, with the reason, at most kGuestLogBurst times per
  // kGuestLogInterval; set before the guest runs.
  void set_needs_reset_sink(std::function<void(const Error&)> sink) {
    needs_reset_sink_ = std::move(sink);
  }

  uint8_t device_status() const { return status_.load(); }
  VirtioDevice& device() { return *device_; }

 protected:
  void capability_written(unsigned capability_offset, unsigned offset, unsigned size,
                          uint32_t value) override;
  uint32_t capability_read(unsigned capability_offset, unsigned offset, unsigned size,
                           uint32_t stored) override;
  // COMMAND's Interrupt Disable bit gates the INTx line (PCI 3.0 6.2.2).
  void command_written(uint16_t old, uint16_t now) override;

 private:
  struct QueueRegs {
    uint16_t size = 0;
    bool enabled = false;
    uint64_t desc = 0;
    uint64_t driver = 0;
    uint64_t device = 0;
    std::atomic<uint16_t> vector{0xFFFF};
  };

  VirtioPciTransport(const VirtioPciIdentity& identity, InterruptController& interrupts,
                     IoEventRegistry& io_events, unsigned slot, unsigned vectors);
  Result<void> build_capabilities();

  uint64_t offered_features(VirtioInterface interface) const;
  uint32_t common_read(uint64_t offset, unsigned size);
  void common_write(uint64_t offset, unsigned size, uint32_t value);
  uint32_t legacy_read(uint64_t offset, unsigned size);
  void legacy_write(uint64_t offset, unsigned size, uint32_t value);
  void write_status(uint8_t value);
  void reset_virtio_locked();
  void notify(uint64_t queue);
  uint8_t read_isr();
  void raise_config_interrupt();
  void raise_intx(uint8_t isr_bits);
  void unregister_ioeventfds();
  void register_ioeventfds();
  // A BAR access through the PCI_CFG capability window.
  enum class WindowAccess { kRead, kWrite };
  void window_access(WindowAccess access, std::span<uint8_t> data);

  InterruptController& interrupts_;
  IoEventRegistry& io_events_;
  const unsigned slot_;
  const char* const name_;  // "virtio-blk", for log lines
  std::unique_ptr<VirtioDevice> device_;
  std::vector<uint8_t> rom_;  // the expansion ROM image (empty: none); read-only
  // A hostile guest breaks its rings once per request: a few lines per
  // interval, the rest counted.
  RateLimiter needs_reset_log_{kGuestLogBurst, kGuestLogInterval};
  std::function<void(const Error&)> needs_reset_sink_;
  RateLimiter needs_reset_events_{kGuestLogBurst, kGuestLogInterval};
  MsixTable msix_;
  unsigned msix_cap_ = 0;
  unsigned window_cap_ = 0;

  std::mutex mutex_;  // register file state below (not the atomics)
  std::atomic<uint8_t> status_{0};
  std::atomic<uint8_t> generation_{0};
  std::atomic<uint8_t> isr_{0};
  std::atomic<uint16_t> config_vector_{0xFFFF};
  uint32_t device_feature_select_ = 0;
  uint32_t driver_feature_select_ = 0;
  uint64_t driver_features_ = 0;
  uint16_t queue_select_ = 0;
  std::vector<std::unique_ptr<QueueRegs>> queues_;

  std::mutex intx_mutex_;       // orders ISR changes with the INTx level
  bool intx_level_ = false;     // an ISR bit is pending (what the line would be)
  bool intx_disabled_ = false;  // COMMAND.Interrupt Disable: the line stays low

  struct Registration {
    IoSpace space;
    uint64_t address;
    int fd;
    std::optional<uint64_t> datamatch;
  };
  std::vector<Registration> registrations_;  // guarded by mutex_
  // Where the bridge decodes the two BARs with doorbells (guarded by
  // mutex_): a BAR it refused gets no ioeventfds.
  pci::BarInfo legacy_mapped_;
  pci::BarInfo modern_mapped_;
};

}  // namespace amber::hv::virtio
