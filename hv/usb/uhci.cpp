// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/usb/uhci.h"

#include <pthread.h>

#include <chrono>
#include <cstdio>

#include "hv/devices/piix.h"

namespace amber::hv::usb {
namespace {

constexpr unsigned kInterruptPinD = 4;

// QEMU's uhci_info: PCI device id, revision and interrupt pin per model.
struct UhciIdentity {
  uint16_t device;
  uint8_t revision;
  unsigned pin;
  uint8_t header_type;  // ICH9 UHCI1 is function 0 of a multi-function slot
};

UhciIdentity identity(UhciModel model) {
  switch (model) {
    case UhciModel::kPiix3:
      return {0x7020, 0x01, kInterruptPinD, 0x00};
    case UhciModel::kIch9Uhci1:
      return {0x2934, 0x03, 1, 0x80};
    case UhciModel::kIch9Uhci2:
      return {0x2935, 0x03, 2, 0x00};
    case UhciModel::kIch9Uhci3:
      return {0x2936, 0x03, 3, 0x00};
  }
  return {0x7020, 0x01, kInterruptPinD, 0x00};
}
// Config registers QEMU's piix3-usb-uhci sets: the serial bus release
// number (USB 1.0) and the USB clock register.
constexpr unsigned kSerialBusRelease = 0x60;
constexpr unsigned kUsbClock = 0x6A;
// PORTSC bits the guest cannot write (QEMU's UHCI_PORT_READ_ONLY) and the
// write-1-to-clear ones.
constexpr uint16_t kPortReadOnly = 0x1BB;
constexpr uint16_t kPortWriteClear = kPortConnectChange | kPortEnableChange;
// USBINTR bits.
constexpr uint16_t kIntrTimeoutCrc = 1u << 0;
constexpr uint16_t kIntrResume = 1u << 1;
constexpr uint16_t kIntrIoc = 1u << 2;
constexpr uint16_t kIntrShortPacket = 1u << 3;
// A register read outside the implemented ones (QEMU's value).
constexpr uint16_t kUnimplemented = 0xFF7F;
constexpr auto kFramePeriod = std::chrono::milliseconds(1);
// A frame thread that fell behind (host busy) catches up at most this many
// frames per tick and skips frames beyond kMaxFramesBehind (QEMU's
// MAX_FRAMES_PER_TICK and maxframes).
constexpr unsigned kMaxFramesPerTick = 8;
constexpr unsigned kMaxFramesBehind = 128;

}  // namespace

Uhci::Uhci(const GuestMemory& memory, IrqSink irq, UhciModel model)
    : PciConfigSpace({0x8086, identity(model).device, identity(model).revision, 0x0C0300,
                      devices::kQemuSubsystemVendor, devices::kQemuSubsystem,
                      identity(model).header_type}),
      memory_(memory),
      irq_(std::move(irq)) {
  (void)set_bar(kUhciBar, pci::BarKind::kIo, kUhciBarSize);
  set_interrupt_pin(identity(model).pin);
  store(kSerialBusRelease, 1, 0x10);
  store(kUsbClock, 1, 0x01);
  snapshot_reset_state();
  std::lock_guard lock(mutex_);
  reset_locked();
}

Uhci::~Uhci() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Uhci::attach(unsigned port, UsbDevice* device) {
  if (port >= kUhciPorts) return;
  if (device != nullptr) {
    device->set_wakeup([this, port] { wakeup(port); });
    device->set_speed(UsbSpeed::kFull);
  }
  std::lock_guard lock(mutex_);
  devices_[port] = device;
  reset_locked();
}

// QEMU's uhci_attach for a companion port: connected (+ change), and a
// controller in global suspend resumes.
void Uhci::companion_attach(unsigned port, UsbDevice* device) {
  if (port >= kUhciPorts || device == nullptr) return;
  std::lock_guard lock(mutex_);
  devices_[port] = device;
  device->set_speed(UsbSpeed::kFull);
  portsc_[port] |= kPortConnected | kPortConnectChange;
  portsc_[port] &= static_cast<uint16_t>(~kPortLowSpeed);
  resume_locked();
}

// QEMU's uhci_detach: disconnected and disabled, each with its change bit.
void Uhci::companion_detach(unsigned port) {
  if (port >= kUhciPorts) return;
  std::lock_guard lock(mutex_);
  devices_[port] = nullptr;
  uint16_t& portsc = portsc_[port];
  if (portsc & kPortConnected) {
    portsc &= static_cast<uint16_t>(~kPortConnected);
    portsc |= kPortConnectChange;
  }
  if (portsc & kPortEnabled) {
    portsc &= static_cast<uint16_t>(~kPortEnabled);
    portsc |= kPortEnableChange;
  }
  resume_locked();
}

// A suspended port with a device that has news: resume detect on the
// port, and on the controller when it is in global suspend.
void Uhci::wakeup(unsigned port) {
  if (port >= kUhciPorts) return;
  std::lock_guard lock(mutex_);
  uint16_t& portsc = portsc_[port];
  if (!(portsc & kPortSuspend) || (portsc & kPortResumeDetect)) return;
  portsc |= kPortResumeDetect;
  resume_locked();
}

void Uhci::resume_locked() {
  if (!(cmd_ & kCmdGlobalSuspend)) return;
  cmd_ |= kCmdForceResume;
  status_ |= kStsResumeDetect;
  update_irq_locked();
}

void Uhci::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "uhci-frames");
    frame_loop();
  });
}

void Uhci::set_clock_running(bool running) {
  {
    std::lock_guard lock(mutex_);
    clock_stopped_ = !running;
  }
  wake_.notify_all();
}

void Uhci::command_written(uint16_t, uint16_t now) {
  bus_master_ = (now & pci::kCommandBusMaster) != 0;
}

void Uhci::reset() {
  PciConfigSpace::reset();
  bus_master_ = (command() & pci::kCommandBusMaster) != 0;
  std::lock_guard lock(mutex_);
  for (UsbDevice* device : devices_)
    if (device != nullptr) device->reset();
  reset_locked();
}

// QEMU's uhci_reset: registers to their defaults; each port with a device
// is reset and reconnected (connect status + change), disabled.
void Uhci::reset_locked() {
  cmd_ = 0;
  status_ = kStsHalted;
  status2_ = 0;
  intr_ = 0;
  frame_list_ = 0;
  sof_timing_ = 64;
  pending_interrupts_ = 0;
  for (unsigned i = 0; i < kUhciPorts; ++i) {
    portsc_[i] = kPortAlwaysOne;
    if (devices_[i] != nullptr) {
      portsc_[i] |= kPortConnected | kPortConnectChange;
      devices_[i]->reset();
    }
  }
  update_irq_locked();
}

void Uhci::update_irq_locked() {
  const bool level = ((status2_ & 1) && (intr_ & kIntrIoc)) ||
                     ((status2_ & 2) && (intr_ & kIntrShortPacket)) ||
                     ((status_ & kStsError) && (intr_ & kIntrTimeoutCrc)) ||
                     ((status_ & kStsResumeDetect) && (intr_ & kIntrResume)) ||
                     (status_ & (kStsHostSystemError | kStsProcessError)) != 0;
  if (level == irq_level_) return;
  irq_level_ = level;
  set_intx_status(level);
  if (irq_) irq_(level);
}

uint16_t Uhci::read_register(unsigned offset) {
  switch (offset) {
    case 0x00:
      return cmd_;
    case 0x02:
      return status_;
    case 0x04:
      return intr_;
    case 0x06:
      return frnum_;
    case 0x08:
      return static_cast<uint16_t>(frame_list_);
    case 0x0A:
      return static_cast<uint16_t>(frame_list_ >> 16);
    case 0x0C:
      return sof_timing_;
    case 0x10:
    case 0x12:
      return portsc_[(offset - 0x10) / 2];
    default:
      return kUnimplemented;
  }
}

void Uhci::write_register(unsigned offset, uint16_t value) {
  switch (offset) {
    case 0x00:
      if ((value & kCmdRun) && !(cmd_ & kCmdRun)) {
        status_ &= static_cast<uint16_t>(~kStsHalted);
        wake_.notify_all();
      } else if (!(value & kCmdRun)) {
        status_ |= kStsHalted;
      }
      if (value & kCmdGlobalReset) {
        // Reset on the bus (every device), then of the controller.
        for (UsbDevice* device : devices_)
          if (device != nullptr) device->reset();
        reset_locked();
        return;
      }
      if (value & kCmdHostReset) {
        reset_locked();
        return;
      }
      cmd_ = value;
      if ((value & kCmdGlobalSuspend) &&
          ((portsc_[0] & kPortResumeDetect) || (portsc_[1] & kPortResumeDetect)))
        resume_locked();
      break;
    case 0x02:
      status_ &= static_cast<uint16_t>(~value);
      if (value & kStsInterrupt) status2_ = 0;
      update_irq_locked();
      break;
    case 0x04:
      intr_ = value;
      update_irq_locked();
      break;
    case 0x06:
      if (status_ & kStsHalted) frnum_ = value & 0x7FF;
      break;
    case 0x08:
      frame_list_ = (frame_list_ & 0xFFFF0000u) | (value & 0xF000u);
      break;
    case 0x0A:
      frame_list_ = (frame_list_ & 0xFFFFu) | static_cast<uint32_t>(value) << 16;
      break;
    case 0x0C:
      sof_timing_ = static_cast<uint8_t>(value);
      break;
    case 0x10:
    case 0x12: {
      const unsigned n = (offset - 0x10) / 2;
      uint16_t& port = portsc_[n];
      UsbDevice* device = devices_[n];
      if (device != nullptr && (value & kPortReset) && !(port & kPortReset)) device->reset();
      port &= kPortReadOnly;
      // Enable only takes with a device connected.
      if (!(port & kPortConnected)) value &= static_cast<uint16_t>(~kPortEnabled);
      port |= value & static_cast<uint16_t>(~kPortReadOnly);
      port &= static_cast<uint16_t>(~(value & kPortWriteClear));
      break;
    }
    default:
      break;
  }
}

// Every access is made of 16-bit register accesses, as QEMU's (impl
// sizes 2..2): 32-bit ones are two halves, a byte read is the low byte of
// the register at that offset, a byte write writes it zero-extended.
void Uhci::bar_read(unsigned index, uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mutex_);
  for (size_t done = 0; done < data.size(); done += 2) {
    const uint64_t at = offset + done;
    const uint16_t value =
        index == kUhciBar && at < kUhciBarSize ? read_register(static_cast<unsigned>(at)) : 0xFFFF;
    data[done] = static_cast<uint8_t>(value);
    if (done + 1 < data.size()) data[done + 1] = static_cast<uint8_t>(value >> 8);
  }
}

void Uhci::bar_write(unsigned index, uint64_t offset, std::span<const uint8_t> data) {
  if (index != kUhciBar) return;
  std::lock_guard lock(mutex_);
  for (size_t done = 0; done < data.size(); done += 2) {
    const uint64_t at = offset + done;
    if (at >= kUhciBarSize) break;
    uint16_t value = data[done];
    if (done + 1 < data.size()) value |= static_cast<uint16_t>(data[done + 1] << 8);
    write_register(static_cast<unsigned>(at), value);
  }
}

void Uhci::run_frames(unsigned count) {
  std::lock_guard lock(mutex_);
  while (count > 0) {
    const unsigned now = count < kMaxFramesPerTick ? count : kMaxFramesPerTick;
    tick_locked(now);
    count -= now;
  }
}

FrameWork Uhci::last_frame() const {
  std::lock_guard lock(mutex_);
  return last_frame_;
}

// QEMU's uhci_frame_timer: while RS is set, the frames that are due, then
// the end-of-frame interrupts; with RS clear, halt and sleep.
void Uhci::tick_locked(unsigned frames) {
  if (!(cmd_ & kCmdRun)) {
    status_ |= kStsHalted;
    return;
  }
  for (unsigned i = 0; i < frames && (cmd_ & kCmdRun); ++i) {
    frame_bytes_ = 0;
    process_frame_locked();
    frnum_ = (frnum_ + 1) & 0x7FF;
  }
  // A frame that stopped the controller (a bad PID) leaves it halted.
  if (!(cmd_ & kCmdRun)) status_ |= kStsHalted;
  if (pending_interrupts_ != 0) {
    status2_ |= static_cast<uint16_t>(pending_interrupts_);
    status_ |= kStsInterrupt;
    update_irq_locked();
  }
  pending_interrupts_ = 0;
}

void Uhci::frame_loop() {
  using Clock = std::chrono::steady_clock;
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (!(cmd_ & kCmdRun) || clock_stopped_) {
      if (!(cmd_ & kCmdRun)) status_ |= kStsHalted;
      wake_.wait(lock, [this] { return stopping_ || ((cmd_ & kCmdRun) && !clock_stopped_); });
      continue;
    }
    Clock::time_point next = Clock::now() + kFramePeriod;
    while (!stopping_ && (cmd_ & kCmdRun) && !clock_stopped_) {
      wake_.wait_until(lock, next, [this] { return stopping_ || clock_stopped_; });
      if (stopping_ || clock_stopped_) break;
      const Clock::time_point now = Clock::now();
      auto behind = static_cast<uint64_t>((now - next) / kFramePeriod) + 1;
      if (behind > kMaxFramesBehind) {
        // Lost frames are skipped (the frame number still counts them).
        frnum_ = static_cast<uint16_t>((frnum_ + behind - kMaxFramesPerTick) & 0x7FF);
        next += (behind - kMaxFramesPerTick) * kFramePeriod;
        behind = kMaxFramesPerTick;
      }
      const unsigned frames =
          static_cast<unsigned>(behind < kMaxFramesPerTick ? behind : kMaxFramesPerTick);
      tick_locked(frames);
      next += frames * kFramePeriod;
    }
  }
}

void Uhci::log_guest_error(const char* what, uint32_t address) {
  if (const auto suppressed = guest_log_.allow())
    std::fprintf(stderr, "amber-vmm: usb uhci: %s at 0x%08x%s\n", what, address,
                 suppressed_note(*suppressed).c_str());
}

}  // namespace amber::hv::usb
