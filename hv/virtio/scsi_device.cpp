// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/virtio/scsi_device.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "hv/virtio/virtio_spec.h"

namespace amber::hv::virtio {
namespace {

constexpr uint64_t kCmdHeaderFixed = 19;
// virtio-scsi TMF subtypes (VIRTIO_SCSI_T_TMF_*) that reset something.
constexpr uint32_t kTmfItNexusReset = 4;
constexpr uint32_t kTmfLogicalUnitReset = 5;  // lun[8], tag, task_attr, prio, crn
constexpr uint64_t kRespFixed = 12;  // sense_len, resid, status_qualifier, status, response
// Completions pushed before the guest is notified, while more are waiting.
constexpr unsigned kNotifyBatch = 16;

void put_le(uint8_t* p, uint64_t value, unsigned size) {
  std::memcpy(p, &value, size);  // little-endian host
}

// A chain split into its device-readable and device-writable bytes.
struct Split {
  std::vector<iovec> readable;
  std::vector<iovec> writable;
  uint64_t readable_bytes = 0;
  uint64_t writable_bytes = 0;
};

Split split(const DescriptorChain& chain) {
  Split s;
  for (const ChainSegment& seg : chain.segments) {
    (seg.device_writable ? s.writable : s.readable).push_back({seg.host, seg.length});
    (seg.device_writable ? s.writable_bytes : s.readable_bytes) += seg.length;
  }
  return s;
}

// Removes the first `n` bytes of `iov` into `out` (if not null); returns
// how many were there.
uint64_t take(std::vector<iovec>& iov, uint64_t n, uint8_t* out) {
  uint64_t done = 0;
  size_t i = 0;
  for (; i < iov.size() && done < n; ++i) {
    const uint64_t k = std::min<uint64_t>(iov[i].iov_len, n - done);
    if (out != nullptr) std::memcpy(out + done, iov[i].iov_base, k);
    done += k;
    if (k < iov[i].iov_len) {
      iov[i].iov_base = static_cast<uint8_t*>(iov[i].iov_base) + k;
      iov[i].iov_len -= k;
      break;
    }
  }
  iov.erase(iov.begin(), iov.begin() + static_cast<std::ptrdiff_t>(i));
  return done;
}

// Writes `bytes` into the first bytes of `iov`.
void scatter(std::span<const iovec> iov, std::span<const uint8_t> bytes) {
  size_t done = 0;
  for (const iovec& v : iov) {
    if (done == bytes.size()) break;
    const size_t k = std::min(v.iov_len, bytes.size() - done);
    std::memcpy(v.iov_base, bytes.data() + done, k);
    done += k;
  }
}

}  // namespace

Result<std::unique_ptr<ScsiDevice>> ScsiDevice::create(std::vector<ScsiLun> luns,
                                                       unsigned request_queues,
                                                       const GuestMemory& memory,
                                                       DeviceSignals& signals) {
  if (request_queues == 0 || request_queues > kMaxQueues - 2)
    return Error(ErrorKind::kInvalidArgument, "virtio-scsi: request queues must be 1..62");
  std::unique_ptr<ScsiDevice> device(new ScsiDevice(memory, signals));
  for (ScsiLun& l : luns) {
    if (l.disk == nullptr || l.target > kScsiMaxTarget || l.lun > kScsiMaxLun)
      return Error(ErrorKind::kInvalidArgument, "virtio-scsi: target 0..255, lun 0..16383");
    if (!device->luns_.emplace(std::make_pair(l.target, l.lun), std::move(l.disk)).second)
      return Error(ErrorKind::kInvalidArgument, "virtio-scsi: target " + std::to_string(l.target) +
                                                    " lun " + std::to_string(l.lun) +
                                                    " is used twice");
  }
  for (unsigned i = 0; i < request_queues + 2; ++i) {
    auto q = std::make_unique<Queue>();
    AMBER_TRY_ASSIGN(q->thread, IoThread::create("scsi-q" + std::to_string(i)));
    q->chain.segments.reserve(kMaxQueueSize);
    device->queues_.push_back(std::move(q));
  }
  return device;
}

ScsiDevice::~ScsiDevice() {
  reset();
}

void ScsiDevice::kick(unsigned queue) {
  if (queue < queues_.size()) queues_[queue]->thread->kick();
}

ScsiDisk* ScsiDevice::find(unsigned target, unsigned lun) const {
  auto it = luns_.find({target, lun});
  return it == luns_.end() ? nullptr : it->second.get();
}

bool ScsiDevice::find_target(unsigned target) const {
  auto it = luns_.lower_bound({target, 0});
  return it != luns_.end() && it->first.first == target;
}

void ScsiDevice::read_config(uint64_t offset, std::span<uint8_t> data) const {
  uint8_t config[kScsiConfigSize] = {};
  put_le(config + 0, queues_.size() - 2, 4);   // num_queues (request queues)
  put_le(config + 4, kMaxQueueSize - 2, 4);    // seg_max
  put_le(config + 8, 0xFFFF, 4);               // max_sectors
  put_le(config + 12, 128, 4);                 // cmd_per_lun
  put_le(config + 16, 16, 4);                  // event_info_size
  put_le(config + 20, sense_size_.load(), 4);  // sense_size
  put_le(config + 24, cdb_size_.load(), 4);    // cdb_size
  put_le(config + 28, 0, 2);                   // max_channel
  put_le(config + 30, kScsiMaxTarget, 2);      // max_target
  put_le(config + 32, kScsiMaxLun, 4);         // max_lun
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = offset + i < kScsiConfigSize ? config[offset + i] : 0;
}

void ScsiDevice::write_config(uint64_t offset, std::span<const uint8_t> data) {
  // sense_size and cdb_size are driver-writable (spec 5.6.4); a write
  // covers the whole field or is ignored; values are clamped.
  if (data.size() != 4) return;
  uint32_t value;
  std::memcpy(&value, data.data(), 4);
  if (offset == 20) sense_size_.store(std::min(value, kScsiMaxSenseSize));
  if (offset == 24) cdb_size_.store(std::clamp<uint32_t>(value, 6, kScsiMaxCdbSize));
}

Result<void> ScsiDevice::activate(uint64_t features, std::span<const QueueLayout> layouts) {
  for (auto& q : queues_) {
    q->thread->stop();
    q->ring.reset();
    q->poll.reset();
    q->idle_since_ns = 0;
    // A chain held from an earlier activation points into rings that are gone.
    q->holding = false;
    q->retry.store(false, std::memory_order_relaxed);
  }
  held_requests_.store(0, std::memory_order_release);
  const RingFeatures ring{(features & feature_bit(kFeatureEventIdx)) != 0,
                          (features & feature_bit(kFeatureIndirectDesc)) != 0};
  for (size_t i = 0; i < queues_.size() && i < layouts.size(); ++i) {
    if (layouts[i].size == 0) continue;
    if (auto r = queues_[i]->ring.activate(memory_, layouts[i], ring); !r.ok()) {
      for (auto& q : queues_) q->ring.reset();
      return std::move(r).error().with_context("queue " + std::to_string(i));
    }
  }
  active_ = true;
  for (unsigned i = 0; i < queues_.size(); ++i) {
    // The event queue's buffers are never used: no thread reads it.
    if (i == 1 || !queues_[i]->ring.active()) continue;
    AMBER_TRY(queues_[i]->thread->start([this, i] { return serve(i); }));
  }
  return ok();
}

void ScsiDevice::retry_held() {
  for (size_t i = 2; i < queues_.size(); ++i) {
    queues_[i]->retry.store(true, std::memory_order_release);
    queues_[i]->thread->kick();
  }
}

void ScsiDevice::reset() {
  size_t dropped = 0;
  for (auto& q : queues_) {
    q->thread->stop();
    q->ring.reset();
    q->poll.reset();
    q->idle_since_ns = 0;
    dropped += q->holding ? 1 : 0;
    q->holding = false;
    q->retry.store(false, std::memory_order_relaxed);
  }
  held_requests_.store(0, std::memory_order_release);
  if (dropped != 0)
    std::fprintf(stderr, "amber-vmm: virtio-scsi: %zu held requests dropped by a device reset\n",
                 dropped);
  sense_size_.store(kScsiDefaultSenseSize);
  cdb_size_.store(kScsiDefaultCdbSize);
  active_ = false;
  // The HBA's reset resets its bus: every LUN reports it once (as QEMU).
  for (auto& [key, disk] : luns_) disk->raise_unit_attention();
}

bool ScsiDevice::serve_held(unsigned index) {
  Queue& q = *queues_[index];
  Result<uint32_t> used = serve_request(q.held);
  if (used.ok() && *used == kHeld) return false;
  q.holding = false;
  held_requests_.fetch_sub(1, std::memory_order_acq_rel);
  if (!used.ok()) {
    q.ring.reset();
    signals_.needs_reset(used.error());
    return false;
  }
  q.ring.push_used(q.held.head, *used);
  if (q.ring.should_notify()) signals_.notify_queue(index);
  return true;
}

IoWork ScsiDevice::serve(unsigned index) {
  Queue& q = *queues_[index];
  if (!q.ring.active()) return IoWork::kIdle;
  // A retry asked for while nothing was held means nothing to a later hold.
  const bool retry_asked = q.retry.exchange(false, std::memory_order_acq_rel);
  // Holding: nothing new is popped until the VM resumes and the held
  // request is answered.
  if (q.holding && (!retry_asked || !serve_held(index))) return IoWork::kIdle;
  // Woken by a kick after sleeping on an empty ring: that gap counts too.
  if (q.idle_since_ns != 0) {
    q.poll.record_idle(monotonic_ns() - q.idle_since_ns);
    q.idle_since_ns = 0;
  }
  // While this thread is awake it looks at the ring anyway: no kicks (each
  // costs the guest a VM exit), and one notification per few completions.
  q.ring.disable_notifications();
  unsigned unnotified = 0;
  auto notify = [&] {
    if (unnotified != 0 && q.ring.should_notify()) signals_.notify_queue(index);
    unnotified = 0;
  };
  for (unsigned budget = 1024;; --budget) {
    if (budget == 0 || q.thread->stop_requested()) {
      notify();
      return IoWork::kMore;  // notifications stay off: the thread comes straight back
    }
    Result<bool> popped = q.ring.pop(q.chain);
    if (!popped.ok()) {
      notify();
      signals_.needs_reset(popped.error());
      return IoWork::kIdle;
    }
    if (!*popped) {
      notify();
      const uint64_t idle_since = monotonic_ns();
      if (poll_for_work(q, idle_since)) continue;
      if (!q.ring.prepare_to_sleep()) {
        q.idle_since_ns = idle_since;
        return IoWork::kIdle;
      }
      // A buffer slipped in while kicks were being re-enabled.
      q.ring.disable_notifications();
      continue;
    }
    Result<uint32_t> used = index == 0 ? serve_control(q.chain) : serve_request(q.chain);
    if (!used.ok()) {
      notify();
      q.ring.reset();
      signals_.needs_reset(used.error());
      return IoWork::kIdle;
    }
    if (*used == kHeld) {
      notify();
      q.held = q.chain;
      q.holding = true;
      held_requests_.fetch_add(1, std::memory_order_acq_rel);
      return IoWork::kIdle;
    }
    q.ring.push_used(q.chain.head, *used);
    if (++unnotified >= kNotifyBatch) notify();
  }
}

bool ScsiDevice::poll_for_work(Queue& q, uint64_t idle_since_ns) {
  return q.poll.spin(idle_since_ns, [&q] { return q.ring.has_available(); });
}

Result<uint32_t> ScsiDevice::serve_request(const DescriptorChain& chain) {
  Split s = split(chain);
  if (s.writable_bytes < kRespFixed)
    return Error(ErrorKind::kCorrupt, "virtio-scsi: request without room for a response");
  const uint32_t sense_size = sense_size_.load();
  const uint32_t cdb_size = cdb_size_.load();
  const uint64_t resp_size = std::min<uint64_t>(kRespFixed + sense_size, s.writable_bytes);
  std::vector<iovec> resp_iov = s.writable;
  std::vector<iovec> data_in = s.writable;
  take(data_in, resp_size, nullptr);
  std::vector<uint8_t> resp(resp_size, 0);

  std::vector<uint8_t> header(kCmdHeaderFixed + cdb_size, 0);
  std::vector<iovec> data_out = s.readable;
  const uint64_t got = take(data_out, header.size(), header.data());
  auto finish = [&](uint32_t used_data) -> uint32_t {
    scatter(resp_iov, resp);
    return static_cast<uint32_t>(resp_size + used_data);
  };
  if (got < header.size()) {
    resp[11] = kScsiRespFailure;
    return finish(0);
  }
  const uint64_t data_out_bytes = s.readable_bytes - header.size();
  const uint64_t data_in_bytes = s.writable_bytes - resp_size;
  if (header[0] != 1 || find_target(header[1]) == false) {
    resp[11] = kScsiRespBadTarget;
    return finish(0);
  }
  const unsigned target = header[1];
  const unsigned lun = ((header[2] << 8) | header[3]) & 0x3FFF;
  ScsiCommand command;
  command.cdb = std::span<const uint8_t>(header).subspan(kCmdHeaderFixed);
  command.data_out = data_out;
  command.data_in = data_in;
  command.data_out_bytes = data_out_bytes;
  command.data_in_bytes = data_in_bytes;
  // REPORT LUNS is the target's command, whichever LUN it is sent to.
  ScsiDisk* disk = header[kCmdHeaderFixed] == 0xA0 ? nullptr : find(target, lun);
  const ScsiResult result =
      disk != nullptr ? disk->execute(command) : target_command(target, lun, command);
  if (result.outcome == ScsiOutcome::kHeld) return kHeld;
  if (result.outcome == ScsiOutcome::kOverrun) {
    resp[11] = kScsiRespOverrun;
    put_le(&resp[4],
           static_cast<uint32_t>(std::min<uint64_t>(data_in_bytes + data_out_bytes, UINT32_MAX)),
           4);
    return finish(0);
  }
  const uint32_t sense_len =
      static_cast<uint32_t>(std::min<uint64_t>(result.sense_length, resp_size - kRespFixed));
  put_le(&resp[0], sense_len, 4);
  const uint64_t resid = data_in_bytes != 0
                             ? data_in_bytes - result.data_in
                             : data_out_bytes - std::min(data_out_bytes, result.data_out);
  put_le(&resp[4], static_cast<uint32_t>(std::min<uint64_t>(resid, UINT32_MAX)), 4);
  resp[10] = result.status;
  resp[11] = kScsiRespOk;
  std::memcpy(&resp[kRespFixed], result.sense.data(), sense_len);
  return finish(static_cast<uint32_t>(std::min<uint64_t>(result.data_in, UINT32_MAX - resp_size)));
}

Result<uint32_t> ScsiDevice::serve_control(const DescriptorChain& chain) {
  Split s = split(chain);
  uint8_t request[24] = {};
  std::vector<iovec> readable = s.readable;
  const uint64_t got = take(readable, sizeof request, request);
  uint32_t type;
  std::memcpy(&type, request, 4);
  if (got < 4 || s.writable_bytes < 1)
    return Error(ErrorKind::kCorrupt, "virtio-scsi: control request too short");
  if (type == 0) {  // TMF: nothing is ever in flight
    uint8_t response = got < 24 ? kScsiRespFailure : kScsiRespFunctionComplete;
    if (got >= 24 && (request[8] != 1 || !find_target(request[9]))) response = kScsiRespBadTarget;
    if (response == kScsiRespFunctionComplete) {
      uint32_t subtype;
      std::memcpy(&subtype, request + 4, 4);
      const unsigned target = request[9];
      const unsigned lun = ((request[10] << 8) | request[11]) & 0x3FFF;
      // A reset of the nexus or of one LUN leaves UNIT ATTENTION behind.
      for (auto& [key, disk] : luns_) {
        if (key.first != target) continue;
        if (subtype == kTmfItNexusReset || (subtype == kTmfLogicalUnitReset && key.second == lun))
          disk->raise_unit_attention();
      }
    }
    scatter(s.writable, std::span<const uint8_t>(&response, 1));
    return 1;
  }
  if (type == 1 || type == 2) {  // AN query / subscribe: no events supported
    uint8_t response[5] = {0, 0, 0, 0, kScsiRespOk};
    if (s.writable_bytes < sizeof response)
      return Error(ErrorKind::kCorrupt, "virtio-scsi: AN response too short");
    scatter(s.writable, response);
    return sizeof response;
  }
  const uint8_t response = kScsiRespFunctionRejected;
  scatter(s.writable, std::span<const uint8_t>(&response, 1));
  return 1;
}

}  // namespace amber::hv::virtio
