// SPDX-License-Identifier: GPL-2.0-or-later
// E1000 receive: the RCTL filter, frames held while the ring is full, and
// legacy RX descriptors.
#include <cstring>

#include "hv/net/e1000.h"

namespace amber::hv::net {

using namespace e1000;

namespace {

constexpr size_t kMinFrame = 60;  // Ethernet minimum without FCS: shorter frames are padded
constexpr size_t kFcs = 4;
// Without RCTL.LPE: a 1500-byte payload with a VLAN tag; with it: 16 KiB
// less the FCS (QEMU's limits).
constexpr size_t kMaxShortFrame = 14 + 4 + 1500;
constexpr size_t kMaxLongFrame = 16384 - kFcs;

bool is_multicast(std::span<const uint8_t> frame) {
  return (frame[0] & 1) != 0;
}
bool is_broadcast(std::span<const uint8_t> frame) {
  for (size_t i = 0; i < 6; ++i)
    if (frame[i] != 0xff) return false;
  return true;
}

}  // namespace

bool E1000::rx_ready() const {
  // Not const-correct reg(): read the vector directly.
  return (regs_[kStatus / 4] & kStatusLu) && (regs_[kRctl / 4] & kRctlEn) && bus_master();
}

bool E1000::accepts(std::span<const uint8_t> frame) const {
  const uint32_t rctl = regs_[kRctl / 4];
  if (is_broadcast(frame)) {
    if (rctl & kRctlBam) return true;
  } else if (is_multicast(frame)) {
    if (rctl & kRctlMpe) return true;
  } else if (rctl & kRctlUpe) {
    return true;
  }
  for (uint32_t ra = kRa; ra < kRaEnd; ra += 8) {
    const uint32_t low = regs_[ra / 4], high = regs_[ra / 4 + 1];
    if (!(high & kRahAv)) continue;
    const uint8_t address[6] = {static_cast<uint8_t>(low),       static_cast<uint8_t>(low >> 8),
                                static_cast<uint8_t>(low >> 16), static_cast<uint8_t>(low >> 24),
                                static_cast<uint8_t>(high),      static_cast<uint8_t>(high >> 8)};
    if (std::memcmp(frame.data(), address, 6) == 0) return true;
  }
  // The multicast table: 12 bits of the destination's last two bytes,
  // which 12 chosen by RCTL.MO.
  static constexpr unsigned kShift[4] = {4, 3, 2, 0};
  const unsigned shift = kShift[(rctl >> kRctlMoShift) & 3];
  const unsigned hash = ((static_cast<unsigned>(frame[5]) << 8 | frame[4]) >> shift) & 0xfff;
  return (regs_[kMta / 4 + (hash >> 5)] >> (hash & 31)) & 1;
}

uint32_t E1000::rx_buffer_size() const {
  const uint32_t rctl = regs_[kRctl / 4];
  const unsigned size = (rctl >> kRctlSizeShift) & 3;
  if (rctl & kRctlBsex) {
    static constexpr uint32_t kExtended[4] = {2048, 16384, 8192, 4096};  // BSEX with 00: reserved
    return kExtended[size];
  }
  static constexpr uint32_t kSizes[4] = {2048, 1024, 512, 256};
  return kSizes[size];
}

// Descriptors the guest gave us: from RDH up to (not including) RDT; none
// when the ring is empty or a pointer lies outside it.
uint32_t E1000::rx_free_descriptors() const {
  const uint32_t count = regs_[kRdlen / 4] / kDescriptorSize;
  const uint32_t head = regs_[kRdh / 4], tail = regs_[kRdt / 4];
  if (count == 0 || head >= count || tail >= count) return 0;
  return tail >= head ? tail - head : count - head + tail;
}

bool E1000::fits(size_t total) const {
  const uint32_t size = rx_buffer_size();
  const uint64_t needed = (total + size - 1) / size;
  return rx_free_descriptors() >= needed;
}

bool E1000::can_receive() {
  std::lock_guard lock(mutex_);
  return rx_ready() && held_.size() < kMaxHeldFrames;
}

void E1000::receive_frame(std::span<const uint8_t> frame) {
  std::lock_guard lock(mutex_);
  deliver(frame);
}

void E1000::deliver(std::span<const uint8_t> frame) {
  if (frame.size() < 14 || frame.size() > kMaxFrameSize) {
    stats_.count_rx_error();
    return;
  }
  if (!rx_ready()) {
    stats_.count_rx_drop();  // the receiver is off: a real card loses it too
    return;
  }
  const uint32_t rctl = reg(kRctl);
  if (!(rctl & kRctlSbp) &&
      (frame.size() > kMaxLongFrame || (frame.size() > kMaxShortFrame && !(rctl & kRctlLpe)))) {
    count(kRoc);
    return;
  }
  if (!accepts(frame)) return;  // not for us: filtered, not dropped
  const size_t total = std::max(frame.size(), kMinFrame) + ((rctl & kRctlSecrc) ? 0 : kFcs);
  if (held_.empty() && fits(total)) {
    write_frame(frame);
    return;
  }
  if (held_.size() < kMaxHeldFrames) {
    held_.emplace_back(frame.begin(), frame.end());
    return;
  }
  // Overrun, as the card reports it: missed packets, no buffers.
  stats_.count_rx_drop();
  count(kMpc);
  count(kRnbc);
  raise(kIcrRxo);
}

void E1000::drain_held() {
  while (!held_.empty() && rx_ready()) {
    const std::vector<uint8_t>& frame = held_.front();
    const size_t total = std::max(frame.size(), kMinFrame) + ((reg(kRctl) & kRctlSecrc) ? 0 : kFcs);
    if (!fits(total)) break;
    write_frame(frame);
    held_.pop_front();
  }
}

void E1000::write_frame(std::span<const uint8_t> frame) {
  uint8_t padded[kMinFrame] = {};
  if (frame.size() < kMinFrame) {
    std::memcpy(padded, frame.data(), frame.size());
    frame = std::span<const uint8_t>(padded, kMinFrame);
  }
  const size_t size = frame.size();
  const size_t total = size + ((reg(kRctl) & kRctlSecrc) ? 0 : kFcs);
  const uint32_t buffer_size = rx_buffer_size();
  const uint32_t count_in_ring = reg(kRdlen) / kDescriptorSize;
  const uint64_t base = (static_cast<uint64_t>(reg(kRdbah)) << 32) | (reg(kRdbal) & ~0xfu);
  bool faulted = false;
  size_t offset = 0;  // bytes of `total` placed so far
  // fits() guaranteed enough descriptors; the loop is bounded by them.
  while (offset < total) {
    const uint64_t address = base + kDescriptorSize * reg(kRdh);
    uint8_t desc[kDescriptorSize];
    if (!memory_.read(address, desc, sizeof desc)) {
      faulted = true;
    } else {
      uint64_t buffer = 0;
      std::memcpy(&buffer, desc, 8);
      const size_t chunk = std::min<size_t>(total - offset, buffer_size);
      uint8_t status = desc[12] & ~(kRxdStatDd | kRxdStatEop);
      if (buffer != 0) {
        // The FCS bytes are not written (the length counts them).
        const size_t copy = offset < size ? std::min<size_t>(size - offset, chunk) : 0;
        if (copy != 0 && !memory_.write(buffer, frame.data() + offset, copy)) faulted = true;
        offset += chunk;
        desc[8] = static_cast<uint8_t>(chunk);
        desc[9] = static_cast<uint8_t>(chunk >> 8);
        if (offset >= total) status |= kRxdStatEop | kRxdStatIxsm;
      }
      // A descriptor without a buffer is skipped (SDM 3.2.6), returned done.
      desc[10] = desc[11] = 0;  // checksum
      desc[12] = status | kRxdStatDd;
      desc[13] = 0;             // errors
      desc[14] = desc[15] = 0;  // special
      if (!memory_.write(address + 8, desc + 8, 8)) faulted = true;
    }
    uint32_t head = reg(kRdh) + 1;
    if (head >= count_in_ring) head = 0;
    reg(kRdh) = head;
    if (faulted) break;
    // Every descriptor skipped: stop once the ring is used up.
    if (rx_free_descriptors() == 0 && offset < total) {
      faulted = true;
      break;
    }
  }
  if (faulted) {
    stats_.count_rx_error();
    return;
  }
  stats_.count_rx(size);
  count(kGprc);
  count(kTpr);
  count64(kGorcl, size + kFcs);
  count64(kTorl, size + kFcs);
  if (is_broadcast(frame))
    count(kBprc);
  else if (is_multicast(frame))
    count(kMprc);
  const size_t with_fcs = size + kFcs;
  const unsigned bucket = with_fcs > 1023  ? 5
                          : with_fcs > 511 ? 4
                          : with_fcs > 255 ? 3
                          : with_fcs > 127 ? 2
                          : with_fcs > 64  ? 1
                                           : 0;
  count(kPrc64 + 4 * bucket);
  uint32_t causes = kIcrRxt0;
  // RXDMT0: the free descriptors fell to RCTL.RDMTS's fraction of the ring.
  const unsigned shift = ((reg(kRctl) >> kRctlRdmtsShift) & 3) + 1;
  if (rx_free_descriptors() * kDescriptorSize <= (reg(kRdlen) >> shift)) causes |= kIcrRxdmt0;
  raise(causes);
}

}  // namespace amber::hv::net
