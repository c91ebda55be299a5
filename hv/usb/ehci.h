// SPDX-License-Identifier: GPL-2.0-or-later
// Ehci: ICH9's USB 2.0 EHCI controller as QEMU 7.2's ich9-usb-ehci1
// (hw/usb/hcd-ehci.c, hcd-ehci-pci.c): 8086:293a rev 03, class 0C0320,
// subsystem 1af4:1100, interrupt pin D, memory BAR0 of 4 KiB, config 0x60
// SBRN 0x20, 0x61 FLADJ 0x20, and at 0x68 the USBLEGSUP/USBLEGCTLSTS
// extended capability (HCCPARAMS.EECP = 0x68; BIOS owned bit clear).
//  - capability registers: CAPLENGTH 0x20, HCIVERSION 0x0100, HCSPARAMS
//    six ports in three companions of two (0x3206), HCCPARAMS 0x6880
//    (32-bit, frame list of 1024, isochronous threshold "frame");
//  - operational registers at 0x20: USBCMD (run/stop, HCRESET, PSE, ASE,
//    IAAD; a frame list size other than 1024 is refused), USBSTS
//    (write-1-to-clear USBINT, USBERRINT, PCD, FLR, HSE, IAA; HCHalted,
//    PSS, ASS), USBINTR, FRINDEX, PERIODICLISTBASE, ASYNCLISTADDR,
//    CONFIGFLAG and PORTSC1..6 at 0x64;
//  - ports: owned by the companion UHCI (PORT_OWNER set) until the guest
//    writes CONFIGFLAG = 1; PORT_OWNER written by the guest hands one back
//    (ports 0-1 to UHCI1, 2-3 to UHCI2, 4-5 to UHCI3). A port reset ends
//    when the guest clears PR: the device is reset, and the port enabled
//    only for a high-speed device (a full-speed one stays disabled: the
//    guest hands it over);
//  - the schedules (ehci_schedule.cpp): every 1 ms frame the periodic
//    frame list entry for FRINDEX (interrupt QHs; iTDs, siTDs and FSTNs
//    are skipped and counted) and one pass over the asynchronous QH ring;
//    qTDs run through the QH overlay with status write-back, short packet
//    alternate next, data toggle, IOC. USBINT and USBERRINT are raised at
//    the end of the frame; the doorbell (IAAD) is answered with IAA after
//    the next asynchronous pass. PCD and FLR at once; INTx follows
//    USBSTS & USBINTR.
// Bounds against a hostile guest: at most kEhciMaxQueueHeads QH visits and
// kEhciMaxTransfers qTDs per frame and schedule, a QH seen twice in one
// walk ends it, qTD total bytes above 0x5000 (five pages) halt the qTD,
// and every guest address goes through GuestMemory (outside RAM: the qTD
// halts with a transaction error or the walk ends; nothing else is touched).
//
// Thread-safety: register accesses come from vCPU threads, frames from the
// controller's own frame thread; one mutex serializes them and every
// packet. Port hand-over calls the companions' methods under this mutex
// (lock order: EHCI, then UHCI); nothing calls back the other way.
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
#include "hv/usb/uhci.h"
#include "hv/usb/usb_device.h"

namespace amber::hv::usb {

inline constexpr unsigned kEhciPorts = 6;
inline constexpr unsigned kEhciPortsPerCompanion = 2;
inline constexpr unsigned kEhciCompanions = kEhciPorts / kEhciPortsPerCompanion;
inline constexpr unsigned kEhciBar = 0;
inline constexpr uint64_t kEhciBarSize = 0x1000;
// QH visits and qTDs run per frame and schedule: a ring of a few dozen
// endpoints is far more than a HID guest has; a guest's loop ends here.
inline constexpr unsigned kEhciMaxQueueHeads = 128;
inline constexpr unsigned kEhciMaxTransfers = 256;
// Periodic links followed per frame (QHs, iTDs, siTDs, FSTNs).
inline constexpr unsigned kEhciMaxPeriodicLinks = 256;
// The largest qTD: five 4 KiB pages (EHCI 1.0 3.5.3, "total bytes" <= 0x5000).
inline constexpr unsigned kEhciMaxTransferBytes = 0x5000;

// Operational register offsets in BAR0.
inline constexpr unsigned kEhciUsbCmd = 0x20, kEhciUsbSts = 0x24, kEhciUsbIntr = 0x28,
                          kEhciFrIndex = 0x2C, kEhciCtrlDsSegment = 0x30,
                          kEhciPeriodicListBase = 0x34, kEhciAsyncListAddr = 0x38,
                          kEhciConfigFlag = 0x60, kEhciPortSc = 0x64;

// USBCMD, USBSTS and PORTSC bits.
inline constexpr uint32_t kEhciCmdRun = 1u << 0;
inline constexpr uint32_t kEhciCmdReset = 1u << 1;
inline constexpr uint32_t kEhciCmdFrameListSize = 3u << 2;
inline constexpr uint32_t kEhciCmdPeriodic = 1u << 4;
inline constexpr uint32_t kEhciCmdAsync = 1u << 5;
inline constexpr uint32_t kEhciCmdDoorbell = 1u << 6;
inline constexpr uint32_t kEhciStsInt = 1u << 0;
inline constexpr uint32_t kEhciStsError = 1u << 1;
inline constexpr uint32_t kEhciStsPortChange = 1u << 2;
inline constexpr uint32_t kEhciStsFrameRollover = 1u << 3;
inline constexpr uint32_t kEhciStsHostError = 1u << 4;
inline constexpr uint32_t kEhciStsDoorbell = 1u << 5;
inline constexpr uint32_t kEhciStsHalted = 1u << 12;
inline constexpr uint32_t kEhciStsPeriodic = 1u << 14;
inline constexpr uint32_t kEhciStsAsync = 1u << 15;
inline constexpr uint32_t kEhciPortConnect = 1u << 0;
inline constexpr uint32_t kEhciPortConnectChange = 1u << 1;
inline constexpr uint32_t kEhciPortEnabled = 1u << 2;
inline constexpr uint32_t kEhciPortEnableChange = 1u << 3;
inline constexpr uint32_t kEhciPortOverCurrentChange = 1u << 5;
inline constexpr uint32_t kEhciPortForceResume = 1u << 6;
inline constexpr uint32_t kEhciPortSuspend = 1u << 7;
inline constexpr uint32_t kEhciPortReset = 1u << 8;
inline constexpr uint32_t kEhciPortPower = 1u << 12;
inline constexpr uint32_t kEhciPortOwner = 1u << 13;

// What one frame did (tests check the bounds).
struct EhciFrameWork {
  unsigned queue_heads = 0;  // QH visits, both schedules
  unsigned transfers = 0;    // qTDs run (a packet to a device)
  unsigned periodic_links = 0;
  unsigned skipped = 0;  // iTDs, siTDs, FSTNs
  unsigned bytes = 0;
};

class Ehci : public pci::PciConfigSpace {
 public:
  using IrqSink = std::function<void(bool level)>;

  Ehci(const GuestMemory& memory, IrqSink irq);
  ~Ehci() override;
  Ehci(const Ehci&) = delete;
  Ehci& operator=(const Ehci&) = delete;

  // Set-up, before attach() and start(): the companion UHCI of ports
  // 2*index and 2*index+1 (not owned; it must outlive this controller).
  void set_companion(unsigned index, Uhci* companion);
  // Set-up, before start(): a device on root port 0..5 (not owned; it must
  // outlive the controller). Connected from power-on, on the companion
  // while the guest has not taken the port.
  void attach(unsigned port, UsbDevice* device);
  // Starts the frame thread (idle until the guest sets USBCMD.RS).
  void start();
  // The VM's clock: while stopped (VM paused) no frames run. Any thread.
  void set_clock_running(bool running);

  void bar_read(unsigned index, uint64_t offset, std::span<uint8_t> data) override;
  void bar_write(unsigned index, uint64_t offset, std::span<const uint8_t> data) override;
  void reset() override;

  // Runs `count` frames now, as the frame thread would after `count` ms
  // (unit tests drive the schedules with this). Nothing while halted.
  void run_frames(unsigned count);
  EhciFrameWork last_frame() const;

 private:
  // A queue head as read from guest memory (32-bit layout, 12 dwords).
  struct QueueHead {
    std::array<uint32_t, 12> words{};
  };
  enum class Schedule { kAsync, kPeriodic };

  void command_written(uint16_t old, uint16_t now) override;
  uint32_t read_register(unsigned offset);
  void write_register(unsigned offset, uint32_t value);
  void write_port(unsigned port, uint32_t value);
  void set_owner_locked(unsigned port, uint32_t owner);
  void port_attach_locked(unsigned port);
  void port_detach_locked(unsigned port);
  void wakeup(unsigned port);
  void reset_locked();
  void update_halted_locked();
  void raise_locked(uint32_t bits);
  void update_irq_locked();
  void frame_loop();
  void tick_locked(unsigned frames);
  void process_frame_locked();
  void async_pass_locked();
  void periodic_pass_locked();
  // Runs the queue head at `address` (its active qTDs, up to the frame's
  // budget; one transfer for an interrupt QH).
  void process_queue_head_locked(uint32_t address, Schedule schedule);
  // One transfer of the overlay; false when the queue does not advance
  // (NAK, halted, budget) this frame.
  bool execute_overlay_locked(QueueHead& qh, uint32_t address);
  UsbDevice* find_device_locked(uint8_t address);
  void log_guest_error(const char* what, uint32_t address);

  const GuestMemory& memory_;
  IrqSink irq_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::thread thread_;
  bool stopping_ = false;
  bool clock_stopped_ = false;

  uint32_t cmd_ = 0;
  uint32_t status_ = kEhciStsHalted;
  uint32_t pending_ = 0;  // USBINT/USBERRINT/IAA raised in this frame
  uint32_t intr_ = 0;
  uint32_t frindex_ = 0;
  uint32_t periodic_base_ = 0;
  uint32_t async_addr_ = 0;
  uint32_t config_flag_ = 0;
  std::array<uint32_t, kEhciPorts> portsc_{};
  std::array<UsbDevice*, kEhciPorts> devices_{};
  std::array<Uhci*, kEhciCompanions> companions_{};
  EhciFrameWork last_frame_;
  unsigned frame_bytes_ = 0;
  bool irq_level_ = false;
  std::atomic<bool> bus_master_{false};
  RateLimiter guest_log_{kGuestLogBurst, kGuestLogInterval};
};

}  // namespace amber::hv::usb
