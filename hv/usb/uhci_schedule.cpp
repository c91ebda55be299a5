// SPDX-License-Identifier: GPL-2.0-or-later
// The UHCI schedule walk: one frame of the frame list, its QHs and TDs
// (QEMU's uhci_process_frame / uhci_handle_td / uhci_complete_td, for
// devices that answer at once). Every guest structure is read and written
// through GuestMemory: an address outside RAM ends the frame (a link) or
// fails the TD (a data buffer), nothing else.
#include <algorithm>
#include <array>
#include <vector>

#include "hv/usb/uhci.h"

namespace amber::hv::usb {
namespace {

constexpr uint32_t kPointerMask = ~0xFu;
constexpr uint8_t kPidSetup = 0x2D, kPidIn = 0x69, kPidOut = 0xE1;
constexpr uint32_t kErrorCounterMask = 3u << kTdErrorShift;

bool terminates(uint32_t link) {
  return (link & kLinkTerminate) != 0;
}

// The TD token's max length field: n + 1 bytes, 0x7FF = zero bytes.
unsigned max_length(uint32_t token) {
  return ((token >> 21) + 1) & 0x7FF;
}

// Remembers the QHs met in this frame (QEMU's QhDb).
class QueueHeadSet {
 public:
  // true when `address` was seen already or the set is full.
  bool insert(uint32_t address) {
    for (unsigned i = 0; i < count_; ++i)
      if (addresses_[i] == address) return true;
    if (count_ == kFrameMaxQueues) return true;
    addresses_[count_++] = address;
    return false;
  }
  void clear() { count_ = 0; }

 private:
  std::array<uint32_t, kFrameMaxQueues> addresses_{};
  unsigned count_ = 0;
};

}  // namespace

UsbDevice* Uhci::find_device_locked(uint8_t address) {
  for (unsigned i = 0; i < kUhciPorts; ++i) {
    if (!(portsc_[i] & kPortEnabled) || devices_[i] == nullptr) continue;
    if (devices_[i]->address() == address) return devices_[i];
  }
  return nullptr;
}

// QEMU's uhci_handle_td_error: the TD is retired with an error status.
Uhci::TdResult Uhci::td_error_locked(Td& td, UsbStatus status, uint32_t& interrupt_mask) {
  TdResult result = TdResult::kNextQh;
  switch (status) {
    case UsbStatus::kNak:
      // Still active: the host controller retries it next frame.
      td.control |= kTdNak;
      return TdResult::kNextQh;
    case UsbStatus::kStall:
      td.control |= kTdStalled;
      break;
    case UsbStatus::kBabble:
      td.control |= kTdBabble | kTdStalled;
      result = TdResult::kStopFrame;
      break;
    default:  // no device, a buffer outside RAM
      td.control |= kTdTimeout;
      td.control &= ~kErrorCounterMask;
      break;
  }
  td.control &= ~kTdActive;
  status_ |= kStsError;
  if (td.control & kTdIoc) interrupt_mask |= 1;
  update_irq_locked();
  return result;
}

Uhci::TdResult Uhci::handle_td_locked(Td& td, uint32_t& interrupt_mask) {
  if (!(td.control & kTdActive)) {
    // "Even if the Active bit is already clear ... an IOC interrupt is
    // generated" (QEMU quoting the EHCI spec).
    if (td.control & kTdIoc) interrupt_mask |= 1;
    return TdResult::kNextQh;
  }
  // The token's low byte is the PID: any value, checked right here, and
  // only for an active TD (a driver such as SeaBIOS links to zeroed TDs
  // it fills later; QEMU 7.2 checks in this order too).
  const uint8_t pid = static_cast<uint8_t>(td.token);
  if (pid != kPidSetup && pid != kPidIn && pid != kPidOut) {
    // A PID the controller cannot send: host controller process error,
    // the controller stops (QEMU clears RS).
    status_ |= kStsProcessError;
    cmd_ &= static_cast<uint16_t>(~kCmdRun);
    update_irq_locked();
    return TdResult::kStopFrame;
  }
  ++last_frame_.tds;
  const unsigned length = max_length(td.token);
  // MaxLen 0x500..0x7FE is illegal (UHCI 1.1 3.2.3): more than a frame can
  // carry. The TD fails as babble, which also ends the frame.
  if (length > kFrameBandwidth) return td_error_locked(td, UsbStatus::kBabble, interrupt_mask);
  // Device address: 7 bits (masked), endpoint: 4 bits; both only select.
  UsbDevice* device = find_device_locked(static_cast<uint8_t>((td.token >> 8) & 0x7F));
  if (device == nullptr) return td_error_locked(td, UsbStatus::kNoDevice, interrupt_mask);
  const unsigned endpoint = (td.token >> 15) & 0xF;

  std::array<uint8_t, kFrameBandwidth> buffer{};
  const std::span<uint8_t> data(buffer.data(), length);
  if (pid != kPidIn && length > 0 && !memory_.read(td.buffer, data.data(), length)) {
    log_guest_error("TD data buffer outside RAM", td.buffer);
    return td_error_locked(td, UsbStatus::kNoDevice, interrupt_mask);
  }
  const UsbPid usb_pid = pid == kPidSetup ? UsbPid::kSetup
                         : pid == kPidIn  ? UsbPid::kIn
                                          : UsbPid::kOut;
  UsbResult result = device->handle_packet(usb_pid, endpoint, data);
  if (result.status == UsbStatus::kOk && result.length > length) result.status = UsbStatus::kBabble;
  if (td.control & kTdIsochronous) td.control &= ~kTdActive;
  if (result.status != UsbStatus::kOk) return td_error_locked(td, result.status, interrupt_mask);

  // At most `length` (<= 1280): a longer answer was made babble above.
  const unsigned actual = static_cast<unsigned>(result.length);
  if (pid == kPidIn && actual > 0 && !memory_.write(td.buffer, data.data(), actual)) {
    log_guest_error("TD data buffer outside RAM", td.buffer);
    return td_error_locked(td, UsbStatus::kNoDevice, interrupt_mask);
  }
  td.control = (td.control & ~kTdActualLengthMask) | ((actual - 1) & kTdActualLengthMask);
  // A NAK of an earlier frame is cleared on success (Windows 2000 relies
  // on it, says QEMU).
  td.control &= ~(kTdActive | kTdNak);
  if (td.control & kTdIoc) interrupt_mask |= 1;
  frame_bytes_ += actual;
  last_frame_.bytes += actual;
  if (pid == kPidIn && (td.control & kTdShortPacket) && actual < length) {
    // Short packet: the QH stays on this TD; the driver looks at it.
    interrupt_mask |= 2;
    return TdResult::kNextQh;
  }
  return TdResult::kComplete;
}

void Uhci::process_frame_locked() {
  last_frame_ = {};
  // PCI bus mastering off: the controller cannot read the schedule.
  if (!bus_master_) return;
  uint32_t link = 0;
  const uint32_t entry = (frame_list_ & 0xFFFFF000u) + ((frnum_ & 0x3FFu) << 2);
  if (!memory_.read(entry, &link, 4)) {
    log_guest_error("frame list outside RAM", entry);
    return;
  }
  uint32_t interrupt_mask = 0;
  uint32_t current_qh = 0;
  uint32_t qh_link = 0;  // the current QH's horizontal link
  unsigned tds_since_qh = 0;
  QueueHeadSet seen;
  for (unsigned budget = kFrameMaxLinks; !terminates(link) && budget > 0; --budget) {
    if (frame_bytes_ >= kFrameBandwidth) break;
    ++last_frame_.links;
    const uint32_t address = link & kPointerMask;
    if (link & kLinkQh) {
      if (seen.insert(link)) {
        // Round again: fine for bandwidth reclamation, but only when a TD
        // was done since the last time here.
        if (tds_since_qh == 0) break;
        tds_since_qh = 0;
        seen.clear();
        seen.insert(link);
      }
      uint32_t qh[2];
      if (!memory_.read(address, qh, sizeof(qh))) {
        log_guest_error("QH outside RAM", address);
        break;
      }
      qh_link = qh[0];
      if (terminates(qh[1])) {
        current_qh = 0;
        link = qh[0];
      } else {
        current_qh = link;
        link = qh[1];
      }
      continue;
    }
    Td td;
    uint32_t words[4];
    if (!memory_.read(address, words, sizeof(words))) {
      log_guest_error("TD outside RAM", address);
      break;
    }
    td = {words[0], words[1], words[2], words[3]};
    const uint32_t old_control = td.control;
    const TdResult result = handle_td_locked(td, interrupt_mask);
    if (td.control != old_control) (void)memory_.write(address + 4, &td.control, 4);
    if (result == TdResult::kStopFrame) break;
    if (result == TdResult::kNextQh) {
      link = current_qh != 0 ? qh_link : td.link;
      continue;
    }
    link = td.link;
    ++tds_since_qh;
    if (current_qh != 0) {
      // Advance the queue: its element link now points past this TD.
      (void)memory_.write((current_qh & kPointerMask) + 4, &link, 4);
      if (!(link & kLinkDepthFirst)) {
        current_qh = 0;
        link = qh_link;
      }
    }
  }
  pending_interrupts_ |= interrupt_mask;
}

}  // namespace amber::hv::usb
