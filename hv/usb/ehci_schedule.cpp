// SPDX-License-Identifier: GPL-2.0-or-later
// The EHCI schedules: one frame of the periodic frame list and one pass
// over the asynchronous QH ring (QEMU's ehci_advance_periodic_state and
// ehci_advance_async_state, for devices that answer at once). A queue head
// runs the qTD in its overlay; when that is done it copies the next active
// qTD (or the alternate after a short packet) into the overlay. Every guest
// structure goes through GuestMemory: a link outside RAM ends the walk, a
// data buffer outside RAM halts the qTD with a transaction error.
#include <algorithm>
#include <array>

#include "hv/usb/ehci.h"

namespace amber::hv::usb {
namespace {

constexpr uint32_t kEhciLinkTerminate = 1u << 0;
constexpr uint32_t kLinkPointerMask = ~0x1Fu;
enum LinkType : uint32_t { kItd = 0, kQh = 1, kSitd = 2, kFstn = 3 };
// QH words: 0 horizontal link, 1 endpoint characteristics, 2 endpoint
// capabilities, 3 current qTD, 4..11 the overlay (next, alternate next,
// token, buffer pointers 0..4).
constexpr unsigned kQhBytes = 12 * 4;
constexpr unsigned kQhOverlayFirst = 3;
constexpr uint32_t kQhDataToggleControl = 1u << 14;
constexpr uint32_t kQhSmask = 0xFF;
// qTD token bits.
constexpr uint32_t kQtdActive = 1u << 7;
constexpr uint32_t kQtdHalted = 1u << 6;
constexpr uint32_t kQtdBufferError = 1u << 5;
constexpr uint32_t kQtdBabble = 1u << 4;
constexpr uint32_t kQtdTransactionError = 1u << 3;
constexpr uint32_t kQtdPing = 1u << 0;
constexpr unsigned kQtdPidShift = 8;
constexpr uint32_t kQtdErrorCounter = 3u << 10;
constexpr unsigned kQtdPageShift = 12;
constexpr uint32_t kQtdPageMask = 7u << kQtdPageShift;
constexpr uint32_t kQtdIoc = 1u << 15;
constexpr unsigned kQtdBytesShift = 16;
constexpr uint32_t kQtdBytesMask = 0x7FFFu << kQtdBytesShift;
constexpr uint32_t kQtdToggle = 1u << 31;
constexpr uint32_t kPage = 4096;
constexpr unsigned kBufferPages = 5;

unsigned total_bytes(uint32_t token) {
  return (token & kQtdBytesMask) >> kQtdBytesShift;
}

// The QH addresses one walk has met (a second visit ends the walk).
class SeenSet {
 public:
  bool insert(uint32_t address) {
    for (unsigned i = 0; i < count_; ++i)
      if (addresses_[i] == address) return true;
    if (count_ == addresses_.size()) return true;
    addresses_[count_++] = address;
    return false;
  }

 private:
  std::array<uint32_t, kEhciMaxQueueHeads> addresses_{};
  unsigned count_ = 0;
};

}  // namespace

UsbDevice* Ehci::find_device_locked(uint8_t address) {
  for (unsigned i = 0; i < kEhciPorts; ++i) {
    if (devices_[i] == nullptr || (portsc_[i] & kEhciPortOwner) || !(portsc_[i] & kEhciPortEnabled))
      continue;
    if (devices_[i]->address() == address) return devices_[i];
  }
  return nullptr;
}

void Ehci::process_frame_locked() {
  last_frame_ = {};
  // PCI bus mastering off: the controller cannot read its schedules.
  if (!bus_master_) return;
  periodic_pass_locked();
  async_pass_locked();
}

// The frame list entry for this frame, then the tree of interrupt QHs it
// links to. Isochronous transfers (iTD, siTD) and FSTNs are not run: they
// are counted, logged and followed.
void Ehci::periodic_pass_locked() {
  if (!(cmd_ & kEhciCmdPeriodic)) return;
  const uint32_t entry = periodic_base_ + ((frindex_ >> 3) & 0x3FF) * 4;
  uint32_t link = 0;
  if (!memory_.read(entry, &link, 4)) {
    log_guest_error("periodic frame list outside RAM", entry);
    return;
  }
  SeenSet seen;
  while (!(link & kEhciLinkTerminate) && last_frame_.periodic_links < kEhciMaxPeriodicLinks) {
    ++last_frame_.periodic_links;
    const uint32_t address = link & kLinkPointerMask;
    const uint32_t type = (link >> 1) & 3;
    if (type == kQh) {
      if (seen.insert(address)) break;
      process_queue_head_locked(address, Schedule::kPeriodic);
    } else {
      ++last_frame_.skipped;
      log_guest_error(type == kItd    ? "iTD (isochronous) skipped"
                      : type == kSitd ? "siTD (split isochronous) skipped"
                                      : "FSTN skipped",
                      address);
    }
    // Every periodic element starts with its next link.
    if (!memory_.read(address, &link, 4)) {
      log_guest_error("periodic element outside RAM", address);
      break;
    }
  }
}

// One pass over the ring from ASYNCLISTADDR back to where it started (or
// to any QH seen before). The doorbell is answered after the pass: no QH
// a guest unlinked before ringing it is held past this point.
void Ehci::async_pass_locked() {
  if (!(cmd_ & kEhciCmdAsync)) {
    if (cmd_ & kEhciCmdDoorbell) {
      cmd_ &= ~kEhciCmdDoorbell;
      raise_locked(kEhciStsDoorbell);
    }
    return;
  }
  // QEMU waits for the guest to acknowledge the last doorbell.
  if (status_ & kEhciStsDoorbell) return;
  uint32_t address = async_addr_;
  SeenSet seen;
  while (address != 0 && !seen.insert(address) && last_frame_.queue_heads < kEhciMaxQueueHeads &&
         last_frame_.transfers < kEhciMaxTransfers) {
    process_queue_head_locked(address, Schedule::kAsync);
    uint32_t link = 0;
    if (!memory_.read(address, &link, 4)) break;  // logged by process_queue_head_locked
    // The asynchronous schedule is a ring of QHs: anything else ends it.
    if ((link & kEhciLinkTerminate) || ((link >> 1) & 3) != kQh) break;
    address = link & kLinkPointerMask;
  }
  if (cmd_ & kEhciCmdDoorbell) {
    cmd_ &= ~kEhciCmdDoorbell;
    raise_locked(kEhciStsDoorbell);
  }
}

void Ehci::process_queue_head_locked(uint32_t address, Schedule schedule) {
  ++last_frame_.queue_heads;
  QueueHead qh;
  if (!memory_.read(address, qh.words.data(), kQhBytes)) {
    log_guest_error("QH outside RAM", address);
    return;
  }
  // A periodic QH with an empty S-mask is never scheduled (EHCI 1.0 4.10.3).
  if (schedule == Schedule::kPeriodic && (qh.words[2] & kQhSmask) == 0) return;
  while (last_frame_.transfers < kEhciMaxTransfers) {
    uint32_t& token = qh.words[6];
    if (token & kQtdHalted) return;
    if (!(token & kQtdActive)) {
      // Advance the queue: the alternate next after a short packet, else
      // the next qTD; an inactive qTD or a terminating link ends it.
      uint32_t next = 0;
      if (total_bytes(token) != 0 && !(qh.words[5] & kEhciLinkTerminate)) {
        next = qh.words[5] & kLinkPointerMask;
      } else if (!(qh.words[4] & kEhciLinkTerminate)) {
        next = qh.words[4] & kLinkPointerMask;
      } else {
        return;
      }
      std::array<uint32_t, 8> qtd{};
      if (!memory_.read(next, qtd.data(), sizeof(qtd))) {
        log_guest_error("qTD outside RAM", next);
        return;
      }
      if (!(qtd[2] & kQtdActive)) return;
      // The overlay (EHCI 1.0 4.10.2): the toggle stays the QH's unless
      // the qTD carries it (DTC), a high-speed OUT keeps its ping state.
      const uint32_t toggle = token & kQtdToggle;
      const uint32_t ping = token & kQtdPing;
      qh.words[3] = next;
      qh.words[4] = qtd[0];
      qh.words[5] = qtd[1];
      token = qtd[2] | ping;
      if (!(qh.words[1] & kQhDataToggleControl)) token = (token & ~kQtdToggle) | toggle;
      std::copy(qtd.begin() + 3, qtd.end(), qh.words.begin() + 7);
      (void)memory_.write(address + 4 * kQhOverlayFirst, &qh.words[kQhOverlayFirst],
                          4 * (12 - kQhOverlayFirst));
    }
    if (!execute_overlay_locked(qh, address)) return;
    // An interrupt endpoint moves one transfer per polling interval.
    if (schedule == Schedule::kPeriodic) return;
  }
}

bool Ehci::execute_overlay_locked(QueueHead& qh, uint32_t address) {
  uint32_t& token = qh.words[6];
  const uint32_t qtd_address = qh.words[3] & kLinkPointerMask;
  ++last_frame_.transfers;
  const unsigned pid_code = (token >> kQtdPidShift) & 3;
  const unsigned length = total_bytes(token);
  uint32_t error = 0;
  size_t actual = 0;
  // The data, at most five pages from the current page and offset.
  std::array<uint8_t, kEhciMaxTransferBytes> buffer{};
  const auto move_data = [&](size_t count, bool to_guest) {
    uint32_t offset = qh.words[7] & (kPage - 1);
    unsigned page = (token & kQtdPageMask) >> kQtdPageShift;
    for (size_t done = 0; done < count; ++page) {
      if (page >= kBufferPages) return false;
      const uint32_t base = qh.words[7 + page] & ~(kPage - 1);
      const size_t chunk = std::min<size_t>(count - done, kPage - offset);
      const bool ok = to_guest ? memory_.write(base + offset, buffer.data() + done, chunk)
                               : memory_.read(base + offset, buffer.data() + done, chunk);
      if (!ok) return false;
      done += chunk;
      offset = 0;
    }
    return true;
  };
  UsbDevice* device = find_device_locked(static_cast<uint8_t>(qh.words[1] & 0x7F));
  if (pid_code == 3 || length > kEhciMaxTransferBytes) {
    // No such PID, or more than five pages: the qTD cannot be carried out.
    log_guest_error(pid_code == 3 ? "qTD with PID code 3" : "qTD longer than five pages",
                    qtd_address);
    error = kQtdBabble;
  } else if (device == nullptr) {
    error = kQtdTransactionError;
  } else {
    const UsbPid pid = pid_code == 0 ? UsbPid::kOut : pid_code == 1 ? UsbPid::kIn : UsbPid::kSetup;
    if (pid != UsbPid::kIn && !move_data(length, false)) {
      log_guest_error("qTD data buffer outside RAM", qtd_address);
      error = kQtdTransactionError;
    } else {
      const unsigned endpoint = (qh.words[1] >> 8) & 0xF;
      const UsbResult result =
          device->handle_packet(pid, endpoint, std::span<uint8_t>(buffer.data(), length));
      switch (result.status) {
        case UsbStatus::kOk:
          actual = std::min<size_t>(result.length, length);
          if (result.length > length) {
            error = kQtdBabble;
          } else if (pid == UsbPid::kIn && actual > 0 && !move_data(actual, true)) {
            log_guest_error("qTD data buffer outside RAM", qtd_address);
            error = kQtdTransactionError;
          }
          break;
        case UsbStatus::kNak:
          return false;  // still active: retried in a later frame
        case UsbStatus::kStall:
          error = kQtdHalted;
          break;
        case UsbStatus::kBabble:
          error = kQtdBabble;
          break;
        case UsbStatus::kNoDevice:
          error = kQtdTransactionError;
          break;
      }
    }
  }
  if (error != 0) {
    token |= kQtdHalted | (error & (kQtdBabble | kQtdTransactionError | kQtdBufferError));
    if (error == kQtdTransactionError) token &= ~kQtdErrorCounter;
    raise_locked(kEhciStsError);
  } else {
    // Bytes left, the new current page and offset, the toggle flips
    // once per qTD (as QEMU's).
    const uint32_t position = static_cast<uint32_t>(
        ((token & kQtdPageMask) >> kQtdPageShift) * kPage + (qh.words[7] & (kPage - 1)) + actual);
    token = (token & ~kQtdBytesMask) | (static_cast<uint32_t>(length - actual) << kQtdBytesShift);
    token = (token & ~kQtdPageMask) | (std::min(position / kPage, 4u) << kQtdPageShift);
    qh.words[7] = (qh.words[7] & ~(kPage - 1)) | (position & (kPage - 1));
    token ^= kQtdToggle;
    frame_bytes_ += static_cast<unsigned>(actual);
    last_frame_.bytes += static_cast<unsigned>(actual);
    // A short IN packet interrupts too (EHCI 1.0 4.15.1.2).
    if (pid_code == 1 && actual < length) raise_locked(kEhciStsInt);
  }
  token &= ~kQtdActive;
  if (token & kQtdIoc) raise_locked(kEhciStsInt);
  // The overlay back into the QH, the token into the qTD.
  (void)memory_.write(address + 4 * kQhOverlayFirst, &qh.words[kQhOverlayFirst],
                      4 * (12 - kQhOverlayFirst));
  (void)memory_.write(qtd_address + 8, &token, 4);
  return error == 0;
}

}  // namespace amber::hv::usb
