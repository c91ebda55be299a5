// SPDX-License-Identifier: GPL-2.0-or-later
// NetDevice transmit: virtio_net_hdr, software checksum completion and TCP
// segmentation (the backends carry plain Ethernet frames).
#include <algorithm>
#include <cstring>

#include "hv/virtio/net_device.h"
#include "hv/virtio/virtio_spec.h"

namespace amber::hv::virtio {
namespace {

uint16_t get_be16(const std::vector<uint8_t>& p, size_t at) {
  return static_cast<uint16_t>(p[at] << 8 | p[at + 1]);
}
void put_be16(std::vector<uint8_t>& p, size_t at, uint16_t v) {
  p[at] = static_cast<uint8_t>(v >> 8);
  p[at + 1] = static_cast<uint8_t>(v);
}
uint32_t get_be32(const std::vector<uint8_t>& p, size_t at) {
  return static_cast<uint32_t>(get_be16(p, at)) << 16 | get_be16(p, at + 2);
}
void put_be32(std::vector<uint8_t>& p, size_t at, uint32_t v) {
  put_be16(p, at, static_cast<uint16_t>(v >> 16));
  put_be16(p, at + 2, static_cast<uint16_t>(v));
}

// The ones'-complement sum of p[begin, end) (big-endian words), not folded.
uint64_t sum_bytes(const std::vector<uint8_t>& p, size_t begin, size_t end, uint64_t sum = 0) {
  for (size_t i = begin; i < end; ++i)
    sum += ((i - begin) & 1) ? p[i] : static_cast<uint64_t>(p[i]) << 8;
  return sum;
}
uint16_t fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// Where the IP header starts (after one optional 802.1Q tag), or 0.
size_t l3_offset(const std::vector<uint8_t>& frame) {
  if (frame.size() < 14) return 0;
  if (get_be16(frame, 12) == 0x8100) return frame.size() >= 18 ? 18 : 0;
  return 14;
}

}  // namespace

void NetDevice::transmit(const DescriptorChain& chain) {
  // The readable part: virtio_net_hdr then the frame. Copied out once (the
  // guest may change it under us) and bounded to one 64 KiB GSO packet.
  const uint64_t limit = hdr_size_ + net::kMaxFrameSize;
  std::vector<uint8_t> packet;
  packet.reserve(2048);
  uint64_t total = 0;
  for (const ChainSegment& seg : chain.segments) {
    if (seg.device_writable) continue;
    const uint64_t take = std::min<uint64_t>(limit - std::min(limit, total), seg.length);
    packet.insert(packet.end(), seg.host, seg.host + take);
    total += seg.length;
  }
  if (total < hdr_size_ + 14 || total > limit) {
    stats_.count_tx_error();  // a short header or frame, or more than 64 KiB
    return;
  }
  const uint8_t flags = packet[0], gso_type = packet[1];
  const unsigned gso_size = packet[4] | packet[5] << 8;
  const unsigned csum_start = packet[6] | packet[7] << 8;
  const unsigned csum_offset = packet[8] | packet[9] << 8;
  std::vector<uint8_t> frame(packet.begin() + hdr_size_, packet.end());
  const uint8_t gso = gso_type & static_cast<uint8_t>(~kNetGsoEcn);
  if (gso == kNetGsoNone) {
    if (flags & kNetHdrNeedsCsum) finish_checksum(frame, csum_start, csum_offset);
    send(frame);
    return;
  }
  if ((gso == kNetGsoTcpv4 && (features_ & feature_bit(kNetFeatureHostTso4)) != 0) ||
      (gso == kNetGsoTcpv6 && (features_ & feature_bit(kNetFeatureHostTso6)) != 0)) {
    segment_tcp(frame, gso, csum_start, gso_size);
    return;
  }
  stats_.count_tx_error();  // UFO or a GSO type that was not negotiated
}

void NetDevice::send(std::span<const uint8_t> frame) {
  if (!backend_) {
    stats_.count_tx_drop();
    return;
  }
  switch (backend_->send(frame)) {
    case net::SendResult::kSent:
      stats_.count_tx(frame.size());
      break;
    case net::SendResult::kDropped:
      stats_.count_tx_drop();
      break;
    case net::SendResult::kFailed:
      stats_.count_tx_error();
      break;
  }
}

void NetDevice::finish_checksum(std::vector<uint8_t>& frame, unsigned start, unsigned offset) {
  // The guest put the pseudo-header sum in the field; the device adds the
  // bytes from csum_start on (spec 5.1.6.2). Fields outside the frame are
  // the guest's mistake: the frame goes out as it is.
  if (start >= frame.size() || uint64_t{start} + offset + 2 > frame.size()) return;
  const uint16_t sum = fold(sum_bytes(frame, start, frame.size()));
  put_be16(frame, start + offset, static_cast<uint16_t>(~sum));
}

void NetDevice::segment_tcp(std::vector<uint8_t>& frame, uint8_t gso_type, unsigned csum_start,
                            unsigned mss) {
  // The guest's hdr_len is a hint only (Linux fills in the linear part):
  // the headers are found from the frame itself.
  const size_t l3 = l3_offset(frame);
  const bool v4 = gso_type == kNetGsoTcpv4;
  const size_t l4 = csum_start;
  if (l3 == 0 || mss == 0 || l4 + 20 > frame.size() || l4 < l3 + (v4 ? 20u : 40u)) {
    stats_.count_tx_error();
    return;
  }
  const size_t tcp_hlen = (frame[l4 + 12] >> 4) * 4u;
  const size_t headers = l4 + tcp_hlen;
  if (tcp_hlen < 20 || headers > frame.size() || (v4 && (frame[l3] >> 4) != 4) ||
      (!v4 && (frame[l3] >> 4) != 6)) {
    stats_.count_tx_error();
    return;
  }
  const size_t payload = frame.size() - headers;
  const uint32_t seq = get_be32(frame, l4 + 4);
  const uint16_t ip_id = v4 ? get_be16(frame, l3 + 4) : 0;
  const uint8_t tcp_flags = frame[l4 + 13];
  const size_t ihl = v4 ? (frame[l3] & 0xf) * 4u : 40;
  std::vector<uint8_t> segment;
  size_t done = 0;
  unsigned n = 0;
  do {
    const size_t chunk = std::min<size_t>(mss, payload - done);
    segment.assign(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(headers));
    segment.insert(segment.end(), frame.begin() + static_cast<std::ptrdiff_t>(headers + done),
                   frame.begin() + static_cast<std::ptrdiff_t>(headers + done + chunk));
    const bool last = done + chunk >= payload;
    const size_t l3_length = segment.size() - l3;
    uint64_t pseudo = 0;
    if (v4) {
      put_be16(segment, l3 + 2, static_cast<uint16_t>(l3_length));
      put_be16(segment, l3 + 4, static_cast<uint16_t>(ip_id + n));
      put_be16(segment, l3 + 10, 0);
      if (l3 + ihl <= segment.size())
        put_be16(segment, l3 + 10, static_cast<uint16_t>(~fold(sum_bytes(segment, l3, l3 + ihl))));
      pseudo = sum_bytes(segment, l3 + 12, l3 + 20) + 6;  // addresses, protocol
    } else {
      put_be16(segment, l3 + 4, static_cast<uint16_t>(l3_length - 40));
      pseudo = sum_bytes(segment, l3 + 8, l3 + 40) + 6;
    }
    const size_t tcp_length = segment.size() - l4;
    pseudo += tcp_length;
    put_be32(segment, l4 + 4, seq + static_cast<uint32_t>(done));
    // FIN and PSH only on the last segment; CWR only on the first.
    segment[l4 + 13] = static_cast<uint8_t>(last ? tcp_flags : tcp_flags & ~0x09u);
    if (n != 0) segment[l4 + 13] &= static_cast<uint8_t>(~0x80u);
    put_be16(segment, l4 + 16, 0);
    put_be16(segment, l4 + 16,
             static_cast<uint16_t>(~fold(sum_bytes(segment, l4, segment.size(), pseudo))));
    send(segment);
    done += chunk;
    ++n;
  } while (done < payload);
}

}  // namespace amber::hv::virtio
