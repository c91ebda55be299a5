// SPDX-License-Identifier: GPL-2.0-or-later
// Uhci: the PIIX3 USB UHCI controller (00:01.2 on QEMU's pc and libvirt's
// default address: 8086:7020 rev 01, class 0C0300, subsystem 1af4:1100,
// interrupt pin D, I/O BAR4 of 32 bytes), with QEMU's hw/usb/hcd-uhci.c
// semantics:
//  - registers USBCMD (run/stop, host controller and global reset, EGSM,
//    FGR), USBSTS (write-1-to-clear; HCHalted while stopped), USBINTR,
//    FRNUM (writable while halted), FLBASEADD, SOFMOD and PORTSC1/2
//    (connect/enable change bits, port reset resets the device, enable
//    only with a device connected); accesses of any width are split into
//    16-bit ones as QEMU's;
//  - the schedule (uhci_schedule.cpp): every 1 ms frame the frame list
//    entry for FRNUM, then QHs and TDs breadth or depth first, with TD
//    status write-back (active, stall, babble, NAK, timeout, actual
//    length), short packet detect, IOC and SPD interrupts at the end of
//    the frame, USBERR and HCPERR (an active TD with a bad PID stops the
//    controller).
// Bounds against a hostile guest (as QEMU's): at most kFrameMaxLinks
// schedule entries per frame, a QH visited twice without a TD done in
// between ends the frame, at most kFrameBandwidth bytes per frame, a TD's
// max length above 1280 bytes is babble, and every guest address goes
// through GuestMemory (outside RAM: the TD fails, nothing is touched).
//
// The same controller is also ICH9's UHCI1..3 (8086:2934/2935/2936 rev 03,
// interrupt pins A/B/C, functions 0-2 of the EHCI's slot), an EHCI's
// companion: the EHCI (ehci.h) hands it a port's device while the EHCI
// does not own that port (companion_attach/companion_detach).
//
// Thread-safety: register accesses come from vCPU threads, frames from
// the controller's own frame thread (start(); it runs only while USBCMD.RS
// is set); one mutex serializes them and every packet to the devices.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#include "common/rate_limit.h"
#include "hv/memory/guest_memory.h"
#include "hv/pci/pci_config.h"
#include "hv/usb/usb_device.h"

namespace amber::hv::usb {

inline constexpr unsigned kUhciPorts = 2;
inline constexpr unsigned kUhciBar = 4;
inline constexpr uint64_t kUhciBarSize = 32;
// QEMU's FRAME_MAX_LOOPS: schedule links followed in one frame.
inline constexpr unsigned kFrameMaxLinks = 256;
// QEMU's UHCI_MAX_QUEUES: QHs remembered for loop detection in one frame.
inline constexpr unsigned kFrameMaxQueues = 128;
// USB 1.1 full speed: 1280 bytes a frame (QEMU's frame_bandwidth); also
// the largest max length a TD may ask for.
inline constexpr unsigned kFrameBandwidth = 1280;

// USBCMD, USBSTS, PORTSC bits.
inline constexpr uint16_t kCmdRun = 1u << 0;
inline constexpr uint16_t kCmdHostReset = 1u << 1;
inline constexpr uint16_t kCmdGlobalReset = 1u << 2;
inline constexpr uint16_t kCmdGlobalSuspend = 1u << 3;
inline constexpr uint16_t kCmdForceResume = 1u << 4;
inline constexpr uint16_t kStsInterrupt = 1u << 0;
inline constexpr uint16_t kStsError = 1u << 1;
inline constexpr uint16_t kStsResumeDetect = 1u << 2;
inline constexpr uint16_t kStsHostSystemError = 1u << 3;
inline constexpr uint16_t kStsProcessError = 1u << 4;
inline constexpr uint16_t kStsHalted = 1u << 5;
inline constexpr uint16_t kPortConnected = 1u << 0;
inline constexpr uint16_t kPortConnectChange = 1u << 1;
inline constexpr uint16_t kPortEnabled = 1u << 2;
inline constexpr uint16_t kPortEnableChange = 1u << 3;
inline constexpr uint16_t kPortResumeDetect = 1u << 6;
inline constexpr uint16_t kPortAlwaysOne = 1u << 7;
inline constexpr uint16_t kPortLowSpeed = 1u << 8;
inline constexpr uint16_t kPortReset = 1u << 9;
inline constexpr uint16_t kPortSuspend = 1u << 12;

// TD control/status bits.
inline constexpr uint32_t kTdActualLengthMask = 0x7FF;
inline constexpr uint32_t kTdBitstuff = 1u << 17;
inline constexpr uint32_t kTdTimeout = 1u << 18;
inline constexpr uint32_t kTdNak = 1u << 19;
inline constexpr uint32_t kTdBabble = 1u << 20;
inline constexpr uint32_t kTdBufferError = 1u << 21;
inline constexpr uint32_t kTdStalled = 1u << 22;
inline constexpr uint32_t kTdActive = 1u << 23;
inline constexpr uint32_t kTdIoc = 1u << 24;
inline constexpr uint32_t kTdIsochronous = 1u << 25;
inline constexpr uint32_t kTdLowSpeed = 1u << 26;
inline constexpr unsigned kTdErrorShift = 27;
inline constexpr uint32_t kTdShortPacket = 1u << 29;
// Link pointer bits.
inline constexpr uint32_t kLinkTerminate = 1u << 0;
inline constexpr uint32_t kLinkQh = 1u << 1;
inline constexpr uint32_t kLinkDepthFirst = 1u << 2;

// What one frame did (tests check the bounds).
struct FrameWork {
  unsigned links = 0;  // schedule entries followed
  unsigned tds = 0;    // TDs executed (active ones)
  unsigned bytes = 0;
};

// Which UHCI function this is (its PCI identity and interrupt pin).
enum class UhciModel { kPiix3, kIch9Uhci1, kIch9Uhci2, kIch9Uhci3 };

class Uhci : public pci::PciConfigSpace {
 public:
  using IrqSink = std::function<void(bool level)>;

  Uhci(const GuestMemory& memory, IrqSink irq, UhciModel model = UhciModel::kPiix3);
  ~Uhci() override;
  Uhci(const Uhci&) = delete;
  Uhci& operator=(const Uhci&) = delete;

  // Set-up, before start(): a device on root port 0 or 1 (not owned; it
  // must outlive the controller). Connected from power-on.
  void attach(unsigned port, UsbDevice* device);
  // An EHCI companion's port: the EHCI gives the port's device to this
  // controller (it appears: connect + connect change, full speed) or takes
  // it back (disconnect, and disable, with their change bits). Any thread
  // but the controller's own; the caller keeps the device's wakeup.
  void companion_attach(unsigned port, UsbDevice* device);
  void companion_detach(unsigned port);
  // A device on `port` asks to wake the host (QEMU's uhci_wakeup). Any
  // thread that holds no device lock.
  void wakeup(unsigned port);
  // Starts the frame thread (idle until the guest sets USBCMD.RS).
  void start();
  // The VM's clock: while it is stopped (VM paused) no frames run, as
  // QEMU's virtual clock; none are owed afterwards. Any thread.
  void set_clock_running(bool running);

  void bar_read(unsigned index, uint64_t offset, std::span<uint8_t> data) override;
  void bar_write(unsigned index, uint64_t offset, std::span<const uint8_t> data) override;
  void reset() override;

  // Runs `count` frames now, as the frame thread would after `count` ms
  // (unit tests drive the schedule with this, without the thread). Does
  // nothing while the controller is stopped.
  void run_frames(unsigned count);
  FrameWork last_frame() const;

 private:
  struct Td {
    uint32_t link = 0, control = 0, token = 0, buffer = 0;
  };
  enum class TdResult { kStopFrame, kNextQh, kComplete };

  void command_written(uint16_t old, uint16_t now) override;
  void resume_locked();
  uint16_t read_register(unsigned offset);
  void write_register(unsigned offset, uint16_t value);
  void reset_locked();
  void update_irq_locked();
  void frame_loop();
  // One frame tick: the frames due, then the interrupts of the frame(s).
  void tick_locked(unsigned frames);
  void process_frame_locked();
  TdResult handle_td_locked(Td& td, uint32_t& interrupt_mask);
  TdResult td_error_locked(Td& td, UsbStatus status, uint32_t& interrupt_mask);
  UsbDevice* find_device_locked(uint8_t address);
  void log_guest_error(const char* what, uint32_t address);

  const GuestMemory& memory_;
  IrqSink irq_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::thread thread_;
  bool stopping_ = false;
  bool clock_stopped_ = false;

  uint16_t cmd_ = 0;
  uint16_t status_ = kStsHalted;
  // Which end-of-frame interrupt is pending: bit 0 IOC, bit 1 short packet
  // (QEMU's status2: USBSTS has one bit for both).
  uint16_t status2_ = 0;
  uint16_t intr_ = 0;
  uint16_t frnum_ = 0;
  uint32_t frame_list_ = 0;
  uint8_t sof_timing_ = 64;
  std::array<uint16_t, kUhciPorts> portsc_{};
  std::array<UsbDevice*, kUhciPorts> devices_{};
  uint32_t pending_interrupts_ = 0;
  unsigned frame_bytes_ = 0;
  FrameWork last_frame_;
  bool irq_level_ = false;
  // COMMAND's bus master bit, kept here for the frame thread (config
  // space itself belongs to the host bridge's lock).
  std::atomic<bool> bus_master_{false};
  RateLimiter guest_log_{kGuestLogBurst, kGuestLogInterval};
};

}  // namespace amber::hv::usb
