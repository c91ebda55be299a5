// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/usb/ehci.h"

#include <pthread.h>

#include <chrono>
#include <cstdio>
#include <cstring>

#include "hv/devices/piix.h"

namespace amber::hv::usb {
namespace {

constexpr unsigned kInterruptPinD = 4;
// Config registers QEMU's ich9-usb-ehci1 sets: SBRN (USB 2.0), FLADJ, the
// port wake capability, and USBLEGSUP (capability id 1, no BIOS owner) /
// USBLEGCTLSTS at EECP = 0x68; QEMU leaves every device-specific config
// byte writable (the OS-owned semaphore, SMI enables).
constexpr unsigned kSerialBusRelease = 0x60;
constexpr unsigned kFrameLengthAdjust = 0x61;
constexpr unsigned kLegacySupport = 0x68;
constexpr unsigned kLegacyControl = 0x6C;
constexpr unsigned kCapabilityLength = 0x20;
constexpr uint32_t kHcsParams = 0x00003206;  // 3 companions of 2 ports, 6 ports
constexpr uint32_t kHccParams = 0x00006880;  // EECP 0x68, IST 8, 32-bit, 1024 frames
// USBCMD after reset: interrupt threshold 8 microframes (QEMU's
// NB_MAXINTRATE << 16).
constexpr uint32_t kCmdResetValue = 8u << 16;
// The USBSTS bits the guest clears by writing 1, and the interrupt sources.
constexpr uint32_t kStsWriteClear = 0x3F;
constexpr uint32_t kIntrMask = 0x3F;
// PORTSC bits the guest writes (wake enables, reset, suspend, force
// resume: QEMU's PORTSC_RO_MASK) and the write-1-to-clear change bits.
constexpr uint32_t kPortWritable = 0x007001C0;
constexpr uint32_t kPortWriteClear =
    kEhciPortConnectChange | kEhciPortEnableChange | kEhciPortOverCurrentChange;
// FRINDEX: 14 bits of microframes; a frame is 8 of them.
constexpr uint32_t kFrIndexMask = 0x3FFF;
constexpr uint32_t kMicroframesPerFrame = 8;
// The frame list of 1024 entries covers 0x2000 microframes: FLR each time
// FRINDEX crosses that boundary (FRINDEX bit 13 toggles).
constexpr uint32_t kFrameListMicroframes = 0x2000;
constexpr auto kFramePeriod = std::chrono::milliseconds(1);
// As the UHCI's frame thread: catch up at most 8 frames a tick, skip past
// 128 frames behind.
constexpr unsigned kMaxFramesPerTick = 8;
constexpr unsigned kMaxFramesBehind = 128;

}  // namespace

Ehci::Ehci(const GuestMemory& memory, IrqSink irq)
    : PciConfigSpace({0x8086, 0x293A, 0x03, 0x0C0320, devices::kQemuSubsystemVendor,
                      devices::kQemuSubsystem, 0x00}),
      memory_(memory),
      irq_(std::move(irq)) {
  (void)set_bar(kEhciBar, pci::BarKind::kMemory32, kEhciBarSize);
  set_interrupt_pin(kInterruptPinD);
  store(kSerialBusRelease, 1, 0x20);
  store(kFrameLengthAdjust, 1, 0x20);
  store(kLegacySupport, 4, 0x00000001);
  store(kLegacyControl, 4, 0xC0000000);
  set_writable(kFrameLengthAdjust, 1, 0xFF);
  set_writable(0x62, 2, 0xFFFF);
  set_writable(kLegacySupport, 4, 0xFFFFFFFF);
  set_writable(kLegacyControl, 4, 0xFFFFFFFF);
  snapshot_reset_state();
  std::lock_guard lock(mutex_);
  reset_locked();
}

Ehci::~Ehci() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Ehci::set_companion(unsigned index, Uhci* companion) {
  if (index >= kEhciCompanions) return;
  std::lock_guard lock(mutex_);
  companions_[index] = companion;
  reset_locked();
}

void Ehci::attach(unsigned port, UsbDevice* device) {
  if (port >= kEhciPorts) return;
  if (device != nullptr) device->set_wakeup([this, port] { wakeup(port); });
  std::lock_guard lock(mutex_);
  devices_[port] = device;
  reset_locked();
}

void Ehci::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "ehci-frames");
    frame_loop();
  });
}

void Ehci::set_clock_running(bool running) {
  {
    std::lock_guard lock(mutex_);
    clock_stopped_ = !running;
  }
  wake_.notify_all();
}

void Ehci::command_written(uint16_t, uint16_t now) {
  bus_master_ = (now & pci::kCommandBusMaster) != 0;
}

void Ehci::reset() {
  PciConfigSpace::reset();
  bus_master_ = (command() & pci::kCommandBusMaster) != 0;
  std::lock_guard lock(mutex_);
  reset_locked();
}

// QEMU's ehci_attach: on a companion-owned port the companion gets the
// device; on an EHCI one it connects (+ change, PCD) at high speed.
void Ehci::port_attach_locked(unsigned port) {
  UsbDevice* device = devices_[port];
  if (device == nullptr) return;
  if (portsc_[port] & kEhciPortOwner) {
    if (Uhci* companion = companions_[port / kEhciPortsPerCompanion])
      companion->companion_attach(port % kEhciPortsPerCompanion, device);
    return;
  }
  device->set_speed(UsbSpeed::kHigh);
  portsc_[port] |= kEhciPortConnect | kEhciPortConnectChange;
  raise_locked(kEhciStsPortChange);
}

// QEMU's ehci_detach: the companion loses the device, or the EHCI port is
// disconnected, disabled and out of suspend (connect change, PCD).
void Ehci::port_detach_locked(unsigned port) {
  if (devices_[port] == nullptr) return;
  if (portsc_[port] & kEhciPortOwner) {
    if (Uhci* companion = companions_[port / kEhciPortsPerCompanion])
      companion->companion_detach(port % kEhciPortsPerCompanion);
    return;
  }
  portsc_[port] &= ~(kEhciPortConnect | kEhciPortEnabled | kEhciPortSuspend);
  portsc_[port] |= kEhciPortConnectChange;
  raise_locked(kEhciStsPortChange);
}

// QEMU's handle_port_owner_write: a change of owner moves the device.
// Without a companion the bit stays clear (read-only).
void Ehci::set_owner_locked(unsigned port, uint32_t owner) {
  if (companions_[port / kEhciPortsPerCompanion] == nullptr) return;
  owner &= kEhciPortOwner;
  if ((portsc_[port] & kEhciPortOwner) == owner) return;
  port_detach_locked(port);
  portsc_[port] = (portsc_[port] & ~kEhciPortOwner) | owner;
  port_attach_locked(port);
}

// QEMU's ehci_reset: registers to their defaults, every port back to its
// companion (powered), each device detached, reattached and reset.
void Ehci::reset_locked() {
  for (unsigned i = 0; i < kEhciPorts; ++i) port_detach_locked(i);
  cmd_ = kCmdResetValue;
  status_ = kEhciStsHalted;
  pending_ = 0;
  intr_ = 0;
  frindex_ = 0;
  periodic_base_ = 0;
  async_addr_ = 0;
  config_flag_ = 0;
  for (unsigned i = 0; i < kEhciPorts; ++i) {
    portsc_[i] = kEhciPortPower;
    if (companions_[i / kEhciPortsPerCompanion] != nullptr) portsc_[i] |= kEhciPortOwner;
  }
  for (unsigned i = 0; i < kEhciPorts; ++i) {
    port_attach_locked(i);
    if (devices_[i] != nullptr) devices_[i]->reset();
  }
  update_irq_locked();
}

void Ehci::wakeup(unsigned port) {
  std::lock_guard lock(mutex_);
  if (portsc_[port] & kEhciPortOwner) {
    if (Uhci* companion = companions_[port / kEhciPortsPerCompanion])
      companion->wakeup(port % kEhciPortsPerCompanion);
    return;
  }
  if (portsc_[port] & kEhciPortSuspend) {
    portsc_[port] |= kEhciPortForceResume;
    raise_locked(kEhciStsPortChange);
  }
}

// QEMU's ehci_raise_irq: port change, frame rollover and host errors show
// at once; transfer interrupts wait for the end of the frame.
void Ehci::raise_locked(uint32_t bits) {
  if (bits & (kEhciStsPortChange | kEhciStsFrameRollover | kEhciStsHostError)) {
    status_ |= bits;
    update_irq_locked();
  } else {
    pending_ |= bits;
  }
}

void Ehci::update_irq_locked() {
  const bool level = (status_ & intr_ & kIntrMask) != 0;
  if (level == irq_level_) return;
  irq_level_ = level;
  set_intx_status(level);
  if (irq_) irq_(level);
}

// HCHalted follows run/stop; PSS/ASS follow the enables while running.
void Ehci::update_halted_locked() {
  if (cmd_ & kEhciCmdRun) {
    status_ &= ~kEhciStsHalted;
  } else {
    status_ |= kEhciStsHalted;
  }
  const bool run = (cmd_ & kEhciCmdRun) != 0;
  status_ = (status_ & ~(kEhciStsPeriodic | kEhciStsAsync)) |
            (run && (cmd_ & kEhciCmdPeriodic) ? kEhciStsPeriodic : 0) |
            (run && (cmd_ & kEhciCmdAsync) ? kEhciStsAsync : 0);
}

uint32_t Ehci::read_register(unsigned offset) {
  switch (offset) {
    case 0x00:
      return kCapabilityLength | 0x0100u << 16;
    case 0x04:
      return kHcsParams;
    case 0x08:
      return kHccParams;
    case kEhciUsbCmd:
      return cmd_;
    case kEhciUsbSts:
      return status_;
    case kEhciUsbIntr:
      return intr_;
    case kEhciFrIndex:
      return frindex_;
    case kEhciPeriodicListBase:
      return periodic_base_;
    case kEhciAsyncListAddr:
      return async_addr_;
    case kEhciConfigFlag:
      return config_flag_;
    default:
      if (offset >= kEhciPortSc && offset < kEhciPortSc + 4 * kEhciPorts)
        return portsc_[(offset - kEhciPortSc) / 4];
      return 0;  // CTRLDSSEGMENT (32-bit controller), HCSP-PORTROUTE, reserved
  }
}

void Ehci::write_register(unsigned offset, uint32_t value) {
  switch (offset) {
    case kEhciUsbCmd: {
      if (value & kEhciCmdReset) {
        reset_locked();
        return;
      }
      // Only the 1024-entry frame list (HCCPARAMS says it is fixed).
      value &= ~kEhciCmdFrameListSize;
      const bool starting = (value & kEhciCmdRun) && !(cmd_ & kEhciCmdRun);
      cmd_ = value;
      update_halted_locked();
      if (starting) wake_.notify_all();
      return;
    }
    case kEhciUsbSts:
      status_ &= ~(value & kStsWriteClear);
      update_irq_locked();
      return;
    case kEhciUsbIntr:
      intr_ = value & kIntrMask;
      update_irq_locked();
      return;
    case kEhciFrIndex:
      frindex_ = value & kFrIndexMask;
      return;
    case kEhciPeriodicListBase:
      periodic_base_ = value & 0xFFFFF000u;
      return;
    case kEhciAsyncListAddr:
      async_addr_ = value & 0xFFFFFFE0u;
      return;
    case kEhciConfigFlag:
      config_flag_ = value & 1;
      // Routing every port to the EHCI (QEMU does nothing on 0).
      if (config_flag_)
        for (unsigned i = 0; i < kEhciPorts; ++i) set_owner_locked(i, 0);
      return;
    default:
      if (offset >= kEhciPortSc && offset < kEhciPortSc + 4 * kEhciPorts)
        write_port((offset - kEhciPortSc) / 4, value);
      return;
  }
}

// QEMU's handle_port_status_write.
void Ehci::write_port(unsigned port, uint32_t value) {
  uint32_t& portsc = portsc_[port];
  UsbDevice* device = devices_[port];
  portsc &= ~(value & kPortWriteClear);
  // The guest may clear the enable bit, never set it.
  if (!(value & kEhciPortEnabled)) portsc &= ~kEhciPortEnabled;
  set_owner_locked(port, value);
  value &= kPortWritable;
  const bool ehci_device = device != nullptr && !(portsc & kEhciPortOwner);
  if (!(value & kEhciPortReset) && (portsc & kEhciPortReset)) {
    // End of the port reset: reset the device and, for a high-speed one,
    // enable the port (EHCI 1.0 table 2-16). A full-speed device stays
    // disabled; the driver hands it to the companion.
    if (ehci_device) {
      device->reset();
      device->set_speed(UsbSpeed::kHigh);
      portsc &= ~kEhciPortConnectChange;
      if (device->supports_high_speed()) value |= kEhciPortEnabled;
    }
  }
  if (!(value & kEhciPortForceResume) && (portsc & kEhciPortForceResume))
    value &= ~kEhciPortSuspend;
  portsc = (portsc & ~kPortWritable) | value;
}

// Capability registers byte by byte (QEMU's caps region); operational and
// port registers as dwords: a narrower read gets its bytes of the dword,
// a narrower write is ignored (QEMU accepts only 4-byte accesses there).
void Ehci::bar_read(unsigned index, uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mutex_);
  for (size_t done = 0; done < data.size(); ++done) {
    const uint64_t at = offset + done;
    if (index != kEhciBar || at >= kEhciBarSize) {
      data[done] = 0xFF;
      continue;
    }
    const uint32_t value = read_register(static_cast<unsigned>(at & ~3u));
    data[done] = static_cast<uint8_t>(value >> (8 * (at & 3)));
  }
}

void Ehci::bar_write(unsigned index, uint64_t offset, std::span<const uint8_t> data) {
  if (index != kEhciBar || data.size() != 4 || (offset & 3) != 0 || offset >= kEhciBarSize) return;
  uint32_t value;
  std::memcpy(&value, data.data(), 4);
  std::lock_guard lock(mutex_);
  if (offset >= kCapabilityLength) write_register(static_cast<unsigned>(offset), value);
}

void Ehci::run_frames(unsigned count) {
  std::lock_guard lock(mutex_);
  while (count > 0) {
    const unsigned now = count < kMaxFramesPerTick ? count : kMaxFramesPerTick;
    tick_locked(now);
    count -= now;
  }
}

EhciFrameWork Ehci::last_frame() const {
  std::lock_guard lock(mutex_);
  return last_frame_;
}

void Ehci::tick_locked(unsigned frames) {
  if (!(cmd_ & kEhciCmdRun)) {
    update_halted_locked();
    return;
  }
  for (unsigned i = 0; i < frames && (cmd_ & kEhciCmdRun); ++i) {
    process_frame_locked();
    const uint32_t before = frindex_;
    frindex_ = (frindex_ + kMicroframesPerFrame) & kFrIndexMask;
    if ((before & kFrameListMicroframes) != (frindex_ & kFrameListMicroframes))
      raise_locked(kEhciStsFrameRollover);
    // The frame's transfer interrupts (interrupt threshold: one frame).
    if (pending_ != 0) {
      status_ |= pending_;
      pending_ = 0;
      update_irq_locked();
    }
  }
}

void Ehci::frame_loop() {
  using Clock = std::chrono::steady_clock;
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (!(cmd_ & kEhciCmdRun) || clock_stopped_) {
      wake_.wait(lock, [this] { return stopping_ || ((cmd_ & kEhciCmdRun) && !clock_stopped_); });
      continue;
    }
    Clock::time_point next = Clock::now() + kFramePeriod;
    while (!stopping_ && (cmd_ & kEhciCmdRun) && !clock_stopped_) {
      wake_.wait_until(lock, next, [this] { return stopping_ || clock_stopped_; });
      if (stopping_ || clock_stopped_) break;
      auto behind = static_cast<uint64_t>((Clock::now() - next) / kFramePeriod) + 1;
      if (behind > kMaxFramesBehind) {
        // Lost frames are skipped (FRINDEX still counts them).
        const uint64_t skipped = behind - kMaxFramesPerTick;
        frindex_ =
            static_cast<uint32_t>((frindex_ + skipped * kMicroframesPerFrame) & kFrIndexMask);
        next += skipped * kFramePeriod;
        behind = kMaxFramesPerTick;
      }
      const unsigned frames =
          static_cast<unsigned>(behind < kMaxFramesPerTick ? behind : kMaxFramesPerTick);
      tick_locked(frames);
      next += frames * kFramePeriod;
    }
  }
}

void Ehci::log_guest_error(const char* what, uint32_t address) {
  if (const auto suppressed = guest_log_.allow())
    std::fprintf(stderr, "amber-vmm: usb ehci: %s at 0x%08x%s\n", what, address,
                 suppressed_note(*suppressed).c_str());
}

}  // namespace amber::hv::usb
