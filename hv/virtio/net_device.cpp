// SPDX-License-Identifier: GPL-2.0-or-later
// NetDevice: queues, configuration, the control queue and receive.
#include "hv/virtio/net_device.h"

#include <algorithm>
#include <cstring>

#include "hv/net/e1000.h"  // net::kMaxHeldFrames
#include "hv/virtio/virtio_spec.h"

namespace amber::hv::virtio {
namespace {

// Chains served before an iothread checks for a stop request.
constexpr unsigned kBudget = 256;

// Copies the chain's device-readable bytes into `out` (at most `limit`);
// returns how many there were in all (may exceed `limit`).
uint64_t gather(const DescriptorChain& chain, std::vector<uint8_t>& out, uint64_t limit) {
  uint64_t total = 0;
  out.clear();
  for (const ChainSegment& seg : chain.segments) {
    if (seg.device_writable) continue;
    const uint64_t room = limit - std::min(limit, total);
    const uint64_t take = std::min<uint64_t>(room, seg.length);
    out.insert(out.end(), seg.host, seg.host + take);
    total += seg.length;
  }
  return total;
}

uint64_t writable_bytes(const DescriptorChain& chain) {
  uint64_t total = 0;
  for (const ChainSegment& seg : chain.segments)
    if (seg.device_writable) total += seg.length;
  return total;
}

// Writes `bytes` at `offset` into the chain's device-writable part.
void scatter_at(const DescriptorChain& chain, uint64_t offset, std::span<const uint8_t> bytes) {
  size_t done = 0;
  for (const ChainSegment& seg : chain.segments) {
    if (!seg.device_writable) continue;
    if (done == bytes.size()) return;
    if (offset >= seg.length) {
      offset -= seg.length;
      continue;
    }
    const size_t k = std::min<size_t>(seg.length - offset, bytes.size() - done);
    std::memcpy(seg.host + offset, bytes.data() + done, k);
    done += k;
    offset = 0;
  }
}

}  // namespace

NetDevice::NetDevice(const NetDeviceConfig& config, const GuestMemory& memory,
                     DeviceSignals& signals, std::unique_ptr<net::NetBackend> backend)
    : memory_(memory),
      signals_(signals),
      configured_mac_(config.mac),
      pairs_(config.queue_pairs),
      backend_(std::move(backend)),
      mac_(config.mac) {}

Result<std::unique_ptr<NetDevice>> NetDevice::create(const NetDeviceConfig& config,
                                                     const GuestMemory& memory,
                                                     DeviceSignals& signals,
                                                     std::unique_ptr<net::NetBackend> backend) {
  if (config.queue_pairs == 0 || 2 * config.queue_pairs + 1 > kMaxQueues)
    return Error(ErrorKind::kInvalidArgument,
                 "virtio-net: queue pairs must be 1.." + std::to_string((kMaxQueues - 1) / 2));
  std::unique_ptr<NetDevice> device(new NetDevice(config, memory, signals, std::move(backend)));
  for (unsigned i = 0; i < 2 * config.queue_pairs + 1; ++i) {
    auto q = std::make_unique<Queue>();
    const std::string name = i == 2 * config.queue_pairs ? std::string("net-ctrl")
                             : i % 2 == 0                ? "net-rx" + std::to_string(i / 2)
                                                         : "net-tx" + std::to_string(i / 2);
    AMBER_TRY_ASSIGN(q->thread, IoThread::create(name));
    q->chain.segments.reserve(kMaxQueueSize);
    device->queues_.push_back(std::move(q));
  }
  return device;
}

NetDevice::~NetDevice() {
  if (backend_) backend_->stop();
  reset();
}

Result<void> NetDevice::start() {
  if (!backend_) return ok();
  return backend_->start(*this);
}

uint64_t NetDevice::device_features() const {
  uint64_t f = 0;
  for (unsigned bit :
       {kNetFeatureCsum, kNetFeatureGuestCsum, kNetFeatureMac, kNetFeatureGuestTso4,
        kNetFeatureGuestTso6, kNetFeatureHostTso4, kNetFeatureHostTso6, kNetFeatureMrgRxbuf,
        kNetFeatureStatus, kNetFeatureCtrlVq, kNetFeatureCtrlRx})
    f |= feature_bit(bit);
  if (pairs_ > 1) f |= feature_bit(kNetFeatureMq);
  return f;
}

std::array<uint8_t, 6> NetDevice::mac() const {
  std::lock_guard lock(rx_mutex_);
  return mac_;
}

void NetDevice::kick(unsigned queue) {
  if (queue < queues_.size()) queues_[queue]->thread->kick();
}

void NetDevice::read_config(uint64_t offset, std::span<uint8_t> data) const {
  uint8_t config[kNetConfigSize] = {};
  {
    std::lock_guard lock(rx_mutex_);
    std::memcpy(config, mac_.data(), 6);
  }
  config[6] = 1;  // status: VIRTIO_NET_S_LINK_UP
  config[8] = static_cast<uint8_t>(pairs_);
  config[9] = static_cast<uint8_t>(pairs_ >> 8);
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = offset + i < kNetConfigSize ? config[offset + i] : 0;
}

void NetDevice::write_config(uint64_t offset, std::span<const uint8_t> data) {
  // A legacy driver sets the MAC through the config space (QEMU allows it
  // unless VERSION_1 or CTRL_MAC_ADDR was negotiated); the rest is
  // read-only.
  if ((features_ & feature_bit(kFeatureVersion1)) != 0) return;
  std::lock_guard lock(rx_mutex_);
  for (size_t i = 0; i < data.size(); ++i)
    if (offset + i < 6) mac_[offset + i] = data[i];
}

void NetDevice::stop_queues() {
  for (auto& q : queues_) q->thread->stop();
  std::lock_guard lock(rx_mutex_);
  rx_ready_ = false;
  for (auto& q : queues_) q->ring.reset();
  rx_stash_.clear();
  held_.clear();
}

Result<void> NetDevice::activate(uint64_t features, std::span<const QueueLayout> layouts) {
  stop_queues();
  features_ = features;
  mergeable_ = (features & feature_bit(kNetFeatureMrgRxbuf)) != 0;
  hdr_size_ =
      mergeable_ || (features & feature_bit(kFeatureVersion1)) != 0 ? kNetHdrSizeMrg : kNetHdrSize;
  const RingFeatures ring{(features & feature_bit(kFeatureEventIdx)) != 0,
                          (features & feature_bit(kFeatureIndirectDesc)) != 0};
  {
    std::lock_guard lock(rx_mutex_);
    for (size_t i = 0; i < queues_.size() && i < layouts.size(); ++i) {
      if (layouts[i].size == 0) continue;
      if (auto r = queues_[i]->ring.activate(memory_, layouts[i], ring); !r.ok()) {
        for (auto& q : queues_) q->ring.reset();
        return std::move(r).error().with_context("queue " + std::to_string(i));
      }
    }
    rx_ready_ = queues_[0]->ring.active();
    // Publish avail_event / clear NO_NOTIFY so the first RX buffers kick.
    if (rx_ready_) (void)queues_[0]->ring.prepare_to_sleep();
  }
  active_ = true;
  const bool ctrl = (features & feature_bit(kNetFeatureCtrlVq)) != 0;
  for (unsigned i = 0; i < queues_.size(); ++i) {
    if (!queues_[i]->ring.active()) continue;
    if (i == control_queue()) {
      if (ctrl) AMBER_TRY(queues_[i]->thread->start([this] { return serve_ctrl(); }));
    } else if (i % 2 == 1) {
      AMBER_TRY(queues_[i]->thread->start([this, i] { return serve_tx(i); }));
    } else if (i == 0) {
      AMBER_TRY(queues_[i]->thread->start([this] { return serve_rx_kick(); }));
    }
  }
  if (backend_) backend_->wake();
  return ok();
}

void NetDevice::reset() {
  stop_queues();
  std::lock_guard lock(rx_mutex_);
  active_ = false;
  features_ = 0;
  hdr_size_ = kNetHdrSize;
  mergeable_ = false;
  mac_ = configured_mac_;
  rx_mode_ = RxMode{};
  uni_table_.clear();
  multi_table_.clear();
  active_pairs_ = 1;
}

// ------------------------------------------------------------ iothreads

IoWork NetDevice::serve_tx(unsigned index) {
  Queue& q = *queues_[index];
  if (!q.ring.active()) return IoWork::kIdle;  // broken earlier: waits for a reset
  q.ring.disable_notifications();
  bool pushed = false;
  for (unsigned budget = kBudget;; --budget) {
    if (budget == 0 || q.thread->stop_requested()) {
      if (pushed && q.ring.should_notify()) signals_.notify_queue(index);
      return IoWork::kMore;
    }
    Result<bool> popped = q.ring.pop(q.chain);
    if (!popped.ok()) {
      if (pushed && q.ring.should_notify()) signals_.notify_queue(index);
      signals_.needs_reset(popped.error());
      return IoWork::kIdle;
    }
    if (!*popped) {
      if (pushed && q.ring.should_notify()) signals_.notify_queue(index);
      pushed = false;
      if (!q.ring.prepare_to_sleep()) return IoWork::kIdle;
      q.ring.disable_notifications();
      continue;
    }
    transmit(q.chain);
    q.ring.push_used(q.chain.head, 0);
    pushed = true;
  }
}

IoWork NetDevice::serve_ctrl() {
  const unsigned index = control_queue();
  Queue& q = *queues_[index];
  if (!q.ring.active()) return IoWork::kIdle;
  for (unsigned budget = kBudget; budget != 0 && !q.thread->stop_requested(); --budget) {
    Result<bool> popped = q.ring.pop(q.chain);
    if (!popped.ok()) {
      signals_.needs_reset(popped.error());
      return IoWork::kIdle;
    }
    if (!*popped) {
      if (q.ring.prepare_to_sleep()) continue;
      return IoWork::kIdle;
    }
    Result<uint32_t> used = serve_control(q.chain);
    if (!used.ok()) {
      q.ring.reset();
      signals_.needs_reset(used.error());
      return IoWork::kIdle;
    }
    q.ring.push_used(q.chain.head, *used);
    if (q.ring.should_notify()) signals_.notify_queue(index);
  }
  return IoWork::kMore;
}

IoWork NetDevice::serve_rx_kick() {
  {
    std::lock_guard lock(rx_mutex_);
    drain_held_locked();
  }
  if (backend_) backend_->wake();
  return IoWork::kIdle;
}

// ------------------------------------------------------------ control

Result<uint32_t> NetDevice::serve_control(const DescriptorChain& chain) {
  const uint64_t room = writable_bytes(chain);
  if (room < 1) return Error(ErrorKind::kCorrupt, "virtio-net: control request without an ack");
  std::vector<uint8_t> in;
  // The largest request: a MAC table of 2 * 64 entries, far below this.
  const uint64_t total = gather(chain, in, 4096);
  uint8_t ack = kNetCtrlErr;
  auto answer = [&](uint8_t value) -> uint32_t {
    scatter_at(chain, 0, std::span<const uint8_t>(&value, 1));
    return 1;
  };
  if (total < 2 || total > in.size()) return answer(ack);
  const uint8_t cls = in[0], cmd = in[1];
  std::span<const uint8_t> data(in.data() + 2, in.size() - 2);
  std::lock_guard lock(rx_mutex_);
  if (cls == kNetCtrlRx && (features_ & feature_bit(kNetFeatureCtrlRx)) != 0 && cmd <= 5 &&
      data.size() >= 1) {
    bool* const flags[] = {&rx_mode_.promisc, &rx_mode_.allmulti, &rx_mode_.alluni,
                           &rx_mode_.nomulti, &rx_mode_.nouni,    &rx_mode_.nobcast};
    *flags[cmd] = data[0] != 0;
    ack = kNetCtrlOk;
  } else if (cls == kNetCtrlMac && cmd == 1 && data.size() >= 6) {  // ADDR_SET
    std::memcpy(mac_.data(), data.data(), 6);
    ack = kNetCtrlOk;
  } else if (cls == kNetCtrlMac && cmd == 0) {  // TABLE_SET: unicast then multicast
    std::vector<std::array<uint8_t, 6>> tables[2];
    size_t at = 0;
    bool good = true;
    for (auto& table : tables) {
      uint32_t entries = 0;
      if (data.size() - at < 4) {
        good = false;
        break;
      }
      std::memcpy(&entries, data.data() + at, 4);
      at += 4;
      if (entries > kNetMacTableEntries || (data.size() - at) / 6 < entries) {
        good = false;
        break;
      }
      for (uint32_t i = 0; i < entries; ++i, at += 6) {
        std::array<uint8_t, 6> mac;
        std::memcpy(mac.data(), data.data() + at, 6);
        table.push_back(mac);
      }
    }
    if (good) {
      uni_table_ = std::move(tables[0]);
      multi_table_ = std::move(tables[1]);
      ack = kNetCtrlOk;
    }
  } else if (cls == kNetCtrlMq && cmd == 0 && data.size() >= 2) {  // VQ_PAIRS_SET
    const unsigned pairs = data[0] | data[1] << 8;
    if ((features_ & feature_bit(kNetFeatureMq)) != 0 && pairs >= 1 && pairs <= pairs_) {
      active_pairs_ = pairs;
      ack = kNetCtrlOk;
    }
  }
  return answer(ack);
}

// ------------------------------------------------------------ receive

bool NetDevice::accepts(std::span<const uint8_t> frame) const {
  if (frame.size() < 14) return false;
  if (rx_mode_.promisc) return true;
  std::array<uint8_t, 6> dest;
  std::memcpy(dest.data(), frame.data(), 6);
  auto listed = [&dest](const std::vector<std::array<uint8_t, 6>>& table) {
    return std::find(table.begin(), table.end(), dest) != table.end();
  };
  if (dest == std::array<uint8_t, 6>{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) return !rx_mode_.nobcast;
  if (dest[0] & 1) {
    if (rx_mode_.nomulti) return false;
    return rx_mode_.allmulti || listed(multi_table_);
  }
  if (rx_mode_.nouni) return false;
  return rx_mode_.alluni || dest == mac_ || listed(uni_table_);
}

bool NetDevice::can_receive() {
  std::lock_guard lock(rx_mutex_);
  return rx_ready_ && held_.size() < net::kMaxHeldFrames;
}

void NetDevice::receive_frame(std::span<const uint8_t> frame) {
  std::lock_guard lock(rx_mutex_);
  if (!rx_ready_ || frame.empty() || frame.size() > net::kMaxFrameSize) {
    stats_.count_rx_drop();
    return;
  }
  if (!accepts(frame)) return;
  deliver_locked(frame);
}

void NetDevice::deliver_locked(std::span<const uint8_t> frame) {
  if (held_.empty() && write_frame_locked(frame)) return;
  if (!rx_ready_ || held_.size() >= net::kMaxHeldFrames) {
    stats_.count_rx_drop();
    return;
  }
  held_.emplace_back(frame.begin(), frame.end());
}

void NetDevice::drain_held_locked() {
  while (!held_.empty() && rx_ready_) {
    if (!write_frame_locked(held_.front())) return;
    held_.pop_front();
  }
}

std::optional<DescriptorChain> NetDevice::next_rx_chain_locked() {
  if (!rx_stash_.empty()) {
    DescriptorChain chain = std::move(rx_stash_.front());
    rx_stash_.pop_front();
    return chain;
  }
  SplitQueue& ring = queues_[0]->ring;
  for (int attempt = 0; attempt < 2; ++attempt) {
    DescriptorChain chain;
    Result<bool> popped = ring.pop(chain);
    if (!popped.ok()) {
      rx_ready_ = false;
      held_.clear();
      stats_.count_rx_error();
      signals_.needs_reset(popped.error());
      return std::nullopt;
    }
    if (*popped) return chain;
    // Empty: ask for a kick when buffers come, then look once more.
    if (!ring.prepare_to_sleep()) return std::nullopt;
  }
  return std::nullopt;
}

bool NetDevice::write_frame_locked(std::span<const uint8_t> frame) {
  const uint64_t needed = hdr_size_ + frame.size();
  std::vector<DescriptorChain> chains;
  uint64_t room = 0;
  // Each chain holds at least one byte (empty ones are returned unused
  // with length 0), so a packet takes at most the ring's size of them.
  while (room < needed) {
    if (!mergeable_ && !chains.empty()) break;
    if (chains.size() >= queues_[0]->ring.size()) break;
    std::optional<DescriptorChain> chain = next_rx_chain_locked();
    if (!chain) {
      if (!rx_ready_) return true;  // the ring broke: the frame is gone (counted)
      for (auto it = chains.rbegin(); it != chains.rend(); ++it)
        rx_stash_.push_front(std::move(*it));
      return false;
    }
    room += writable_bytes(*chain);
    chains.push_back(std::move(*chain));
  }
  if (room < needed) {
    // Non-mergeable chain too small (or a ring of tiny chains): the frame
    // is dropped, the buffers kept for the next one.
    for (auto it = chains.rbegin(); it != chains.rend(); ++it) rx_stash_.push_front(std::move(*it));
    stats_.count_rx_drop();
    return true;
  }
  uint8_t header[kNetHdrSizeMrg] = {};  // flags 0, GSO_NONE
  header[10] = static_cast<uint8_t>(chains.size());
  header[11] = static_cast<uint8_t>(chains.size() >> 8);
  std::vector<SplitQueue::Used> used;
  uint64_t offset = 0;  // into header + frame
  for (const DescriptorChain& chain : chains) {
    const uint64_t capacity = writable_bytes(chain);
    const uint64_t n = std::min<uint64_t>(capacity, needed - offset);
    uint64_t written = 0;
    if (offset < hdr_size_) {
      const uint64_t h = std::min<uint64_t>(hdr_size_ - offset, n);
      scatter_at(chain, 0, std::span<const uint8_t>(header + offset, h));
      written = h;
    }
    if (written < n) {
      const uint64_t from = offset + written - hdr_size_;
      scatter_at(chain, written, frame.subspan(from, n - written));
    }
    used.push_back({chain.head, static_cast<uint32_t>(n)});
    offset += n;
  }
  SplitQueue& ring = queues_[0]->ring;
  ring.push_used_all(used);
  stats_.count_rx(frame.size());
  if (ring.should_notify()) signals_.notify_queue(0);
  return true;
}

}  // namespace amber::hv::virtio
