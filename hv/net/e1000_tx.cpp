// SPDX-License-Identifier: GPL-2.0-or-later
// E1000 transmit: the TX ring, legacy and context/data descriptors,
// checksum insertion and TCP segmentation (as QEMU's e1000 does them).
#include <cstring>

#include "hv/net/e1000.h"

namespace amber::hv::net {

using namespace e1000;

namespace {

uint32_t load_le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

// Big-endian fields of the packet, written only when they lie inside it
// (the offsets come from the guest's context descriptor).
uint32_t get_be(const std::vector<uint8_t>& data, size_t size, size_t at, unsigned bytes) {
  if (at + bytes > size) return 0;
  uint32_t value = 0;
  for (unsigned i = 0; i < bytes; ++i) value = value << 8 | data[at + i];
  return value;
}
void put_be(std::vector<uint8_t>& data, size_t size, size_t at, unsigned bytes, uint32_t value) {
  if (at + bytes > size) return;
  for (unsigned i = 0; i < bytes; ++i)
    data[at + i] = static_cast<uint8_t>(value >> (8 * (bytes - 1 - i)));
}

}  // namespace

void E1000::start_transmit() {
  if (!(reg(kTctl) & kTctlEn) || transmitting_ || !bus_master()) return;
  const uint32_t ring = reg(kTdlen) / kDescriptorSize;
  if (reg(kTdh) == reg(kTdt)) return;
  if (ring == 0 || reg(kTdh) >= ring || reg(kTdt) >= ring) {
    stats_.count_tx_error();  // head or tail outside the ring
    return;
  }
  transmitting_ = true;
  const uint64_t base = (static_cast<uint64_t>(reg(kTdbah)) << 32) | (reg(kTdbal) & ~0xfu);
  uint32_t cause = kIcrTxqe;
  // At most one pass over the ring per doorbell.
  for (uint32_t n = 0; n < ring && reg(kTdh) != reg(kTdt); ++n) {
    const uint64_t address = base + kDescriptorSize * reg(kTdh);
    uint8_t desc[kDescriptorSize];
    if (!memory_.read(address, desc, sizeof desc)) {
      stats_.count_tx_error();
    } else {
      process_tx_descriptor(desc);
      const uint32_t lower = load_le32(desc + 8);
      if (lower & (kTxdCmdRs | kTxdCmdRps)) {
        // Done; the collision / underrun bits stay clear.
        const uint32_t upper = (load_le32(desc + 12) | kTxdStatDd) & ~0x0eu;
        const uint8_t bytes[4] = {static_cast<uint8_t>(upper), static_cast<uint8_t>(upper >> 8),
                                  static_cast<uint8_t>(upper >> 16),
                                  static_cast<uint8_t>(upper >> 24)};
        if (!memory_.write(address + 12, bytes, 4)) stats_.count_tx_error();
        cause |= kIcrTxdw;
      }
    }
    uint32_t head = reg(kTdh) + 1;
    if (head >= ring) head = 0;
    reg(kTdh) = head;
  }
  transmitting_ = false;
  raise(cause);
}

void E1000::read_tx_data(uint64_t address, size_t length) {
  if (length == 0) return;
  if (!memory_.read(address, tx_.data.data() + tx_.size, length)) tx_.faulted = true;
  tx_.size += length;
}

void E1000::process_tx_descriptor(const uint8_t (&desc)[kDescriptorSize]) {
  uint64_t address = 0;
  std::memcpy(&address, desc, 8);
  const uint32_t lower = load_le32(desc + 8);
  const uint32_t upper = load_le32(desc + 12);
  const uint32_t type = lower & (kTxdCmdDext | kTxdDtypData);
  if (type == kTxdCmdDext) {  // context descriptor
    TxContext context;
    context.ipcss = desc[0];
    context.ipcso = desc[1];
    context.ipcse = static_cast<uint16_t>(desc[2] | desc[3] << 8);
    context.tucss = desc[4];
    context.tucso = desc[5];
    context.tucse = static_cast<uint16_t>(desc[6] | desc[7] << 8);
    context.paylen = lower & 0xfffff;
    context.ipv4 = (lower & kTxdCmdIp) != 0;
    context.tcp = (lower & kTxdCmdTcp) != 0;
    context.hdr_len = desc[13];
    context.mss = static_cast<uint16_t>(desc[14] | desc[15] << 8);
    if (lower & kTxdCmdTse) {
      tso_context_ = context;
      tx_.tso_frames = 0;
    } else {
      tx_context_ = context;
    }
    return;
  }
  if (type == (kTxdCmdDext | kTxdDtypData)) {
    if (tx_.size == 0) tx_.popts = static_cast<uint8_t>(upper >> 8);
    tx_.tso = (lower & kTxdCmdTse) != 0;
  } else {
    tx_.tso = false;
  }

  size_t split = lower & 0xffff;
  if (tx_.tso) {
    // Segments of hdr_len + mss bytes, each sent as it fills; the headers
    // are kept and repeated in front of the next one.
    const size_t segment = static_cast<size_t>(tso_context_.hdr_len) + tso_context_.mss;
    size_t bytes = 0;
    do {
      bytes = split;
      if (tx_.size >= segment) break;
      bytes = std::min(bytes, segment - tx_.size);
      bytes = std::min(bytes, kMaxFrameSize - tx_.size);
      const size_t before = tx_.size;
      read_tx_data(address, bytes);
      if (tx_.size >= tso_context_.hdr_len && before < tso_context_.hdr_len)
        std::memcpy(tx_.header.data(), tx_.data.data(), tso_context_.hdr_len);
      address += bytes;
      if (tx_.size == segment) {
        transmit_segment(false, 0, 0);
        std::memcpy(tx_.data.data(), tx_.header.data(), tso_context_.hdr_len);
        tx_.size = tso_context_.hdr_len;
      }
      split -= bytes;
    } while (bytes != 0 && split != 0);
  } else {
    const size_t room = kMaxFrameSize - tx_.size;
    if (split > room) {
      tx_.truncated = true;
      split = room;
    }
    read_tx_data(address, split);
  }

  if (!(lower & kTxdCmdEop)) return;
  const bool legacy = type != (kTxdCmdDext | kTxdDtypData);
  if (!(tx_.tso && tx_.size < tso_context_.hdr_len))
    transmit_segment(legacy && (lower & kTxdCmdIc), static_cast<uint8_t>(upper >> 8),
                     static_cast<uint8_t>(lower >> 16));
  if (tx_.truncated || tx_.faulted) stats_.count_tx_error();
  tx_.size = 0;
  tx_.popts = 0;
  tx_.tso = false;
  tx_.tso_frames = 0;
  tx_.truncated = false;
  tx_.faulted = false;
}

void E1000::put_checksum(size_t at, size_t start, size_t end) {
  size_t n = tx_.size;
  if (end != 0 && end < n) n = end + 1;
  if (at + 1 >= n || start >= n) return;
  uint32_t sum = 0;
  for (size_t i = start; i < n; ++i)
    sum += ((i - start) & 1) ? tx_.data[i] : static_cast<uint32_t>(tx_.data[i]) << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  uint16_t result = static_cast<uint16_t>(~sum);
  if (result == 0) result = 0xffff;  // as QEMU: a computed zero is sent as 0xffff
  put_be(tx_.data, tx_.size, at, 2, result);
}

void E1000::transmit_segment(bool legacy_checksum, uint8_t legacy_css, uint8_t legacy_cso) {
  if (tx_.size == 0) return;
  const TxContext& context = tx_.tso ? tso_context_ : tx_context_;
  std::vector<uint8_t>& data = tx_.data;
  const size_t size = tx_.size;
  if (tx_.tso) {
    const size_t ip = context.ipcss;
    if (context.ipv4) {
      put_be(data, size, ip + 2, 2, static_cast<uint32_t>(size - std::min(ip, size)));
      put_be(data, size, ip + 4, 2, get_be(data, size, ip + 4, 2) + tx_.tso_frames);
    } else {
      put_be(data, size, ip + 4, 2, static_cast<uint32_t>(size - std::min(ip, size)));
    }
    const size_t l4 = context.tucss;
    const uint32_t length = static_cast<uint32_t>(size - std::min(l4, size));
    if (context.tcp) {
      const uint32_t sofar = tx_.tso_frames * context.mss;
      put_be(data, size, l4 + 4, 4, get_be(data, size, l4 + 4, 4) + sofar);  // sequence
      if (context.paylen - sofar > context.mss) {
        if (l4 + 13 < size) data[l4 + 13] &= static_cast<uint8_t>(~9u);  // PSH, FIN: last only
      } else if (tx_.tso_frames != 0) {
        count(kTsctc);
      }
    } else {
      put_be(data, size, l4 + 4, 2, length);  // UDP length
    }
    if (tx_.popts & kPoptsTxsm) {
      // The pseudo-header sum the driver wrote lacks the length.
      uint32_t sum = get_be(data, size, context.tucso, 2) + length;
      sum = (sum >> 16) + (sum & 0xffff);
      put_be(data, size, context.tucso, 2, sum);
    }
    ++tx_.tso_frames;
  }
  if (tx_.popts & kPoptsTxsm) put_checksum(context.tucso, context.tucss, context.tucse);
  if (tx_.popts & kPoptsIxsm) put_checksum(context.ipcso, context.ipcss, context.ipcse);
  if (legacy_checksum) put_checksum(legacy_cso, legacy_css, 0);
  if (!tx_.faulted) send_frame(std::span<const uint8_t>(data.data(), size));

  const uint8_t* frame = data.data();
  if (size >= 6) {
    bool broadcast = true;
    for (int i = 0; i < 6; ++i) broadcast = broadcast && frame[i] == 0xff;
    if (broadcast)
      count(kBptc);
    else if (frame[0] & 1)
      count(kMptc);
  }
  const size_t with_fcs = size + 4;
  const unsigned bucket = with_fcs > 1023  ? 5
                          : with_fcs > 511 ? 4
                          : with_fcs > 255 ? 3
                          : with_fcs > 127 ? 2
                          : with_fcs > 64  ? 1
                                           : 0;
  count(kPtc64 + 4 * bucket);
  count(kTpt);
  count(kGptc);
  count64(kTotl, with_fcs);
  count64(kGotcl, with_fcs);
}

void E1000::send_frame(std::span<const uint8_t> frame) {
  if (phy_[kPhyBmcr] & kBmcrLoopback) {
    deliver(frame);  // PHY loopback: back to our own receiver
    stats_.count_tx(frame.size());
    return;
  }
  if (!backend_) {
    stats_.count_tx_drop();
    return;
  }
  switch (backend_->send(frame)) {
    case SendResult::kSent:
      stats_.count_tx(frame.size());
      break;
    case SendResult::kDropped:
      stats_.count_tx_drop();
      break;
    case SendResult::kFailed:
      stats_.count_tx_error();
      break;
  }
}

}  // namespace amber::hv::net
