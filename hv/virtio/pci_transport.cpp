// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/virtio/pci_transport.h"

#include <cstdio>
#include <cstring>
#include <string>

#include "hv/virtio/virtio_spec.h"

namespace amber::hv::virtio {
namespace {

constexpr uint16_t kVirtioPciVendor = 0x1af4;
constexpr uint16_t kMsixControlEnable = 0x8000;
constexpr uint16_t kMsixControlFunctionMask = 0x4000;
constexpr unsigned kWindowData = 16;  // PCI_CFG cap: offset of pci_cfg_data
constexpr unsigned kInta = 1;

uint64_t le_value(std::span<const uint8_t> data) {
  uint64_t v = 0;
  std::memcpy(&v, data.data(), std::min<size_t>(data.size(), 8));
  return v;
}

void append32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// Body (after id/next) of a struct virtio_pci_cap (spec 4.1.4).
std::vector<uint8_t> vendor_cap(uint8_t type, uint8_t bar, uint32_t offset, uint32_t length,
                                unsigned extra_bytes) {
  std::vector<uint8_t> body = {static_cast<uint8_t>(16 + extra_bytes), type, bar, 0, 0, 0};
  append32(body, offset);
  append32(body, length);
  return body;
}

// One iPXE image serves several device IDs (efi-virtio.rom names the
// modern virtio-net 1af4:1041): as QEMU does for every ROM it loads, the
// first image's PCI data structure is made to name this function, and byte
// 6 (iPXE's checksum fix-up byte) absorbs the change so the image still
// sums to zero. A ROM without the 0x55AA signature or a PCIR structure is
// left alone.
void patch_rom_ids(std::vector<uint8_t>& rom, uint16_t vendor, uint16_t device) {
  if (rom.size() < 0x1a || rom[0] != 0x55 || rom[1] != 0xaa) return;
  const size_t pcir = rom[0x18] | rom[0x19] << 8;
  if (pcir + 8 > rom.size() || std::memcmp(&rom[pcir], "PCIR", 4) != 0) return;
  int delta = 0;
  for (unsigned i = 0; i < 2; ++i) {
    const uint16_t want = i == 0 ? vendor : device;
    uint8_t* field = &rom[pcir + 4 + 2 * i];
    delta += (field[0] + field[1]) - ((want & 0xff) + (want >> 8));
    field[0] = static_cast<uint8_t>(want);
    field[1] = static_cast<uint8_t>(want >> 8);
  }
  rom[6] = static_cast<uint8_t>(rom[6] + delta);
}

}  // namespace

VirtioPciTransport::VirtioPciTransport(const VirtioPciIdentity& identity,
                                       InterruptController& interrupts, IoEventRegistry& io_events,
                                       unsigned slot, unsigned vectors)
    : PciConfigSpace(pci::PciIdentity{.vendor = kVirtioPciVendor,
                                      .device = identity.transitional_id,
                                      .revision = 0,
                                      .class_code = identity.class_code,
                                      .subsystem_vendor = kVirtioPciVendor,
                                      .subsystem = identity.device_type,
                                      .header_type = 0}),
      interrupts_(interrupts),
      io_events_(io_events),
      slot_(slot),
      name_(identity.name),
      msix_(vectors, interrupts) {}

Result<std::unique_ptr<VirtioPciTransport>> VirtioPciTransport::create(
    const VirtioPciIdentity& identity, unsigned queues, const DeviceFactory& make_device,
    InterruptController& interrupts, IoEventRegistry& io_events, unsigned pci_slot,
    std::vector<uint8_t> rom) {
  if (queues == 0 || queues > kMaxQueues)
    return Error(ErrorKind::kInvalidArgument,
                 std::string(identity.name) + ": queues must be 1.." + std::to_string(kMaxQueues));
  // One vector per queue plus one for configuration changes.
  std::unique_ptr<VirtioPciTransport> pci(
      new VirtioPciTransport(identity, interrupts, io_events, pci_slot, queues + 1));
  AMBER_TRY_ASSIGN(pci->device_, make_device(*pci));
  if (pci->device_->num_queues() != queues ||
      pci->device_->identity().device_type != identity.device_type)
    return Error(ErrorKind::kInvalidArgument,
                 std::string(identity.name) + ": device does not match its PCI function");
  for (unsigned i = 0; i < queues; ++i) {
    pci->queues_.push_back(std::make_unique<QueueRegs>());
    pci->queues_.back()->size = kMaxQueueSize;
  }
  AMBER_TRY(pci->set_bar(kLegacyBar, pci::BarKind::kIo, kLegacyBarSize));
  AMBER_TRY(pci->set_bar(kMsixBar, pci::BarKind::kMemory32, kMsixBarSize));
  AMBER_TRY(pci->set_bar(kModernBar, pci::BarKind::kMemory64, kModernBarSize, pci::Prefetch::kYes));
  if (!rom.empty()) {
    uint64_t rom_size = 2048;
    while (rom_size < rom.size()) rom_size <<= 1;
    AMBER_TRY(pci->set_rom(rom_size));
    patch_rom_ids(rom, kVirtioPciVendor, identity.transitional_id);
    pci->rom_ = std::move(rom);
  }
  pci->set_interrupt_pin(kInta);
  AMBER_TRY(pci->build_capabilities());
  pci->snapshot_reset_state();
  return pci;
}

Result<void> VirtioPciTransport::build_capabilities() {
  // MSI-X: table size - 1, table at BAR1 + 0, PBA at BAR1 + 0x800.
  std::vector<uint8_t> msix = {static_cast<uint8_t>(msix_.size() - 1),
                               static_cast<uint8_t>((msix_.size() - 1) >> 8)};
  append32(msix, 0 | kMsixBar);
  append32(msix, static_cast<uint32_t>(MsixTable::kPbaOffset) | kMsixBar);
  std::vector<uint8_t> msix_writable(msix.size(), 0);
  msix_writable[1] = 0xC0;  // enable + function mask
  AMBER_TRY_ASSIGN(msix_cap_, add_capability(pci::kCapabilityMsix, msix, msix_writable));

  const auto region = static_cast<uint32_t>(kRegionSize);
  AMBER_TRY(add_capability(pci::kCapabilityVendor, vendor_cap(kPciCapCommonCfg, kModernBar,
                                                              kCommonOffset, kCommonSize, 0)));
  AMBER_TRY(add_capability(pci::kCapabilityVendor,
                           vendor_cap(kPciCapIsrCfg, kModernBar, kIsrOffset, 1, 0)));
  AMBER_TRY(add_capability(pci::kCapabilityVendor,
                           vendor_cap(kPciCapDeviceCfg, kModernBar, kDeviceOffset, region, 0)));
  auto notify = vendor_cap(kPciCapNotifyCfg, kModernBar, kNotifyOffset, region, 4);
  append32(notify, kNotifyMultiplier);
  AMBER_TRY(add_capability(pci::kCapabilityVendor, notify));
  auto window = vendor_cap(kPciCapPciCfg, 0, 0, 0, 4);
  append32(window, 0);
  std::vector<uint8_t> window_writable(window.size(), 0xFF);
  for (unsigned i : {0u, 1u, 3u, 4u, 5u}) window_writable[i] = 0;  // cap_len, type, id, padding
  AMBER_TRY_ASSIGN(window_cap_, add_capability(pci::kCapabilityVendor, window, window_writable));
  return ok();
}

VirtioPciTransport::~VirtioPciTransport() {
  std::lock_guard lock(mutex_);
  device_->reset();
  unregister_ioeventfds();
}

uint64_t VirtioPciTransport::offered_features(VirtioInterface interface) const {
  uint64_t f = device_->device_features() | feature_bit(kFeatureIndirectDesc) |
               feature_bit(kFeatureEventIdx);
  // VERSION_1 tells a driver it talks 1.0; ANY_LAYOUT is a legacy-only bit
  // that 1.0 implies. RING_PACKED is never offered.
  f |= interface == VirtioInterface::kModern ? feature_bit(kFeatureVersion1)
                                             : feature_bit(kFeatureAnyLayout);
  return f;
}

// ---------------------------------------------------------------- BARs

void VirtioPciTransport::bar_read(unsigned index, uint64_t offset, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0);
  if (index == pci::kRomBarIndex) {
    for (size_t i = 0; i < data.size(); ++i)
      if (offset + i < rom_.size()) data[i] = rom_[offset + i];
    return;
  }
  if (data.empty() || data.size() > 8) return;
  const auto size = static_cast<unsigned>(data.size());
  if (index == kMsixBar) {
    msix_.read(offset, data);
    return;
  }
  uint64_t value = 0;
  if (index == kLegacyBar) {
    if (offset >= kLegacyBarSize) return;
    std::lock_guard lock(mutex_);
    value = legacy_read(offset, size);
  } else if (index == kModernBar) {
    if (offset >= kModernBarSize) return;
    if (offset >= kDeviceOffset && offset < kDeviceOffset + kRegionSize) {
      device_->read_config(offset - kDeviceOffset, data);
      return;
    }
    if (offset >= kIsrOffset && offset < kIsrOffset + kRegionSize) {
      // The ISR structure is one byte; reading it clears it.
      if (offset == kIsrOffset) data[0] = read_isr();
      return;
    }
    if (offset < kCommonOffset + kRegionSize) {
      std::lock_guard lock(mutex_);
      value = size == 8 ? (common_read(offset, 4) | (uint64_t{common_read(offset + 4, 4)} << 32))
                        : common_read(offset, size);
    }
  }
  std::memcpy(data.data(), &value, size);
}

void VirtioPciTransport::bar_write(unsigned index, uint64_t offset, std::span<const uint8_t> data) {
  if (data.empty() || data.size() > 8) return;
  const auto size = static_cast<unsigned>(data.size());
  const uint64_t value = le_value(data);
  if (index == kMsixBar) {
    msix_.write(offset, data);
    return;
  }
  std::lock_guard lock(mutex_);
  if (index == kLegacyBar) {
    if (offset < kLegacyBarSize) legacy_write(offset, size, static_cast<uint32_t>(value));
    return;
  }
  if (index != kModernBar || offset >= kModernBarSize) return;
  if (offset < kCommonOffset + kRegionSize) {
    if (size == 8) {  // a 64-bit store to a queue address: two halves
      common_write(offset, 4, static_cast<uint32_t>(value));
      common_write(offset + 4, 4, static_cast<uint32_t>(value >> 32));
    } else {
      common_write(offset, size, static_cast<uint32_t>(value));
    }
  } else if (offset >= kDeviceOffset && offset < kDeviceOffset + kRegionSize) {
    device_->write_config(offset - kDeviceOffset, data);
  } else if (offset >= kNotifyOffset) {
    // The doorbell's position names the queue (queue_notify_off * 4).
    notify((offset - kNotifyOffset) / kNotifyMultiplier);
  }
}

// ---------------------------------------------------------- ioeventfds

void VirtioPciTransport::bar_remapped(unsigned index, const pci::BarInfo& mapped) {
  if (index != kLegacyBar && index != kModernBar) return;
  std::lock_guard lock(mutex_);
  (index == kLegacyBar ? legacy_mapped_ : modern_mapped_) = mapped;
  unregister_ioeventfds();
  register_ioeventfds();
}

void VirtioPciTransport::register_ioeventfds() {
  // Only where the bridge decodes the BAR: a refused BAR's address belongs
  // to another device (fw_cfg's selector, our own MSI-X table, ...).
  const pci::BarInfo& legacy = legacy_mapped_;
  const pci::BarInfo& modern = modern_mapped_;
  for (unsigned q = 0; q < queues_.size(); ++q) {
    const int fd = device_->kick_fd(q);
    std::vector<Registration> wanted;
    if (legacy.enabled)
      wanted.push_back({IoSpace::kPio, legacy.address + kLegacyQueueNotify, fd, q});
    if (modern.enabled)
      wanted.push_back({IoSpace::kMmio, modern.address + kNotifyOffset + q * kNotifyMultiplier, fd,
                        std::nullopt});
    for (const auto& r : wanted) {
      // On failure the doorbell still works, through bar_write on a vCPU.
      if (io_events_.add_ioeventfd(r.space, r.address, 2, r.fd, r.datamatch).ok())
        registrations_.push_back(r);
    }
  }
}

void VirtioPciTransport::unregister_ioeventfds() {
  for (const auto& r : registrations_)
    [[maybe_unused]] auto ignored =
        io_events_.remove_ioeventfd(r.space, r.address, 2, r.fd, r.datamatch);
  registrations_.clear();
}

// ---------------------------------------------------------- PCI hooks

void VirtioPciTransport::reset() {
  std::lock_guard lock(mutex_);
  reset_virtio_locked();
  unregister_ioeventfds();
  legacy_mapped_ = modern_mapped_ = pci::BarInfo{};
  msix_.reset();
  PciConfigSpace::reset();
  std::lock_guard intx_lock(intx_mutex_);
  intx_disabled_ = false;  // COMMAND is 0 again; ISR was cleared above
}

void VirtioPciTransport::capability_written(unsigned cap, unsigned offset, unsigned size,
                                            uint32_t) {
  if (cap == msix_cap_) {
    const auto control = static_cast<uint16_t>(load(cap + 2, 2));
    msix_.set_control(
        (control & kMsixControlEnable) != 0 ? MsixEnable::kEnabled : MsixEnable::kDisabled,
        (control & kMsixControlFunctionMask) != 0 ? MsixFunctionMask::kMasked
                                                  : MsixFunctionMask::kUnmasked);
  } else if (cap == window_cap_ && offset + size > cap + kWindowData) {
    uint8_t bytes[4];
    const uint32_t stored = load(cap + kWindowData, 4);
    std::memcpy(bytes, &stored, 4);
    window_access(WindowAccess::kWrite, bytes);
  }
}

uint32_t VirtioPciTransport::capability_read(unsigned cap, unsigned offset, unsigned size,
                                             uint32_t stored) {
  if (cap != window_cap_ || offset < cap + kWindowData) return stored;
  uint8_t bytes[4] = {};
  window_access(WindowAccess::kRead, bytes);
  uint32_t value;
  std::memcpy(&value, bytes, 4);
  value >>= 8 * (offset - (cap + kWindowData));
  return size == 4 ? value : value & ((1u << (8 * size)) - 1);
}

void VirtioPciTransport::window_access(WindowAccess access, std::span<uint8_t> data) {
  // bar/offset/length are guest-written capability fields: only 1, 2 or 4
  // bytes inside one of our BARs are honoured (spec 4.1.4.9).
  const unsigned bar_index = load(window_cap_ + 4, 1);
  const uint32_t offset = load(window_cap_ + 8, 4);
  const uint32_t length = load(window_cap_ + 12, 4);
  if (length != 1 && length != 2 && length != 4) return;
  const pci::BarInfo info = bar(bar_index);
  if (info.size == 0 || offset >= info.size || length > info.size - offset) return;
  if (access == WindowAccess::kWrite) {
    bar_write(bar_index, offset, data.first(length));
  } else {
    bar_read(bar_index, offset, data.first(length));
  }
}

// ------------------------------------------------------- interrupts

void VirtioPciTransport::raise_intx(uint8_t isr_bits) {
  std::lock_guard lock(intx_mutex_);
  isr_.fetch_or(isr_bits);
  if (!intx_level_) {
    intx_level_ = true;
    if (!intx_disabled_) [[maybe_unused]]
      auto r = interrupts_.set_intx(slot_, kInta, true);
  }
}

void VirtioPciTransport::command_written(uint16_t, uint16_t now) {
  std::lock_guard lock(intx_mutex_);
  const bool disabled = (now & pci::kCommandIntxDisable) != 0;
  if (disabled == intx_disabled_) return;
  intx_disabled_ = disabled;
  // A pending interrupt reaches the line once INTx is enabled again.
  if (intx_level_) [[maybe_unused]]
    auto r = interrupts_.set_intx(slot_, kInta, !disabled);
}

uint8_t VirtioPciTransport::read_isr() {
  std::lock_guard lock(intx_mutex_);
  const uint8_t value = isr_.exchange(0);
  if (intx_level_) {
    intx_level_ = false;
    if (!intx_disabled_) [[maybe_unused]]
      auto r = interrupts_.set_intx(slot_, kInta, false);
  }
  return value;
}

void VirtioPciTransport::notify_queue(unsigned queue) {
  if (msix_.enabled()) {
    const uint16_t vector = queues_[queue]->vector.load();
    if (vector != kNoVector) msix_.fire(vector);
    return;
  }
  raise_intx(kIsrQueue);
}

void VirtioPciTransport::raise_config_interrupt() {
  if (msix_.enabled()) {
    isr_.fetch_or(kIsrConfig);
    const uint16_t vector = config_vector_.load();
    if (vector != kNoVector) msix_.fire(vector);
    return;
  }
  raise_intx(kIsrConfig);
}

void VirtioPciTransport::needs_reset(const Error& why) {
  if (const auto suppressed = needs_reset_log_.allow())
    std::fprintf(stderr, "amber-vmm: %s (slot %u): device needs reset: %s%s\n", name_, slot_,
                 why.message().c_str(), suppressed_note(*suppressed).c_str());
  const uint8_t before = status_.fetch_or(kStatusNeedsReset);
  generation_.fetch_add(1);
  raise_config_interrupt();
  // Once per transition: until the guest resets the device, more broken
  // requests only add (rate-limited) log lines. A guest cycling through
  // reset and breakage is bounded by the event limiter too.
  if ((before & kStatusNeedsReset) == 0 && needs_reset_sink_ && needs_reset_events_.allow())
    needs_reset_sink_(why);
}

}  // namespace amber::hv::virtio
