#include "hv/virtio/blk.h"

#include <sys/uio.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "hv/virtio/virtio_spec.h"

namespace amber::hv::virtio {
namespace {

// preadv/pwritev accept at most IOV_MAX (1024) vectors per call.
constexpr size_t kMaxIovecs = 1024;

uint64_t now_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

uint32_t le32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t le64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

}  // namespace

// The data part of a request: the bytes between header and status byte.
struct BlkEngine::Payload {
  std::vector<iovec> iov;
  uint64_t bytes = 0;
  bool any_readable = false;  // some byte is device-readable
  bool any_writable = false;  // some byte is device-writable
  void clear() {
    iov.clear();
    bytes = 0;
    any_readable = any_writable = false;
  }
  void add(uint8_t* host, uint64_t length, bool writable) {
    if (length == 0) return;
    iov.push_back({host, length});
    bytes += length;
    (writable ? any_writable : any_readable) = true;
  }
  // Copies the first out.size() bytes (caller checked bytes >= size).
  void copy_out(std::span<uint8_t> out) const {
    size_t done = 0;
    for (const auto& v : iov) {
      if (done == out.size()) break;
      const size_t n = std::min(v.iov_len, out.size() - done);
      std::memcpy(out.data() + done, v.iov_base, n);
      done += n;
    }
  }
};

BlkEngine::BlkEngine(std::shared_ptr<block::Image> image, const BlkOptions& options)
    : image_(std::move(image)),
      options_(options),
      capacity_sectors_(image_->size() / block::kSectorSize) {}

uint64_t BlkEngine::offered_features() const {
  uint64_t f = feature_bit(kBlkFeatureSizeMax) | feature_bit(kBlkFeatureSegMax) |
               feature_bit(kBlkFeatureBlkSize) | feature_bit(kBlkFeatureFlush) |
               feature_bit(kBlkFeatureTopology) | feature_bit(kBlkFeatureConfigWce);
  if (options_.queues > 1) f |= feature_bit(kBlkFeatureMq);
  if (!writes_allowed()) {
    f |= feature_bit(kBlkFeatureRo);
  } else if (options_.discard == block::DiscardMode::kUnmap) {
    f |= feature_bit(kBlkFeatureDiscard) | feature_bit(kBlkFeatureWriteZeroes);
  }
  return f;
}

bool BlkEngine::writes_allowed() const {
  return options_.access == DiskAccess::kReadWrite && !image_->read_only();
}

bool BlkEngine::range_ok(uint64_t sector, uint64_t sectors) const {
  // Written so that no guest value can overflow: sector is checked first.
  return sector <= capacity_sectors_ && sectors <= capacity_sectors_ - sector;
}

void BlkEngine::record(Op op, uint64_t bytes, uint64_t start_ns, bool ok) {
  Counters& c = counters_[op];
  c.ops.fetch_add(1, std::memory_order_relaxed);
  if (ok) {
    c.bytes.fetch_add(bytes, std::memory_order_relaxed);
  } else {
    c.failed.fetch_add(1, std::memory_order_relaxed);
  }
  c.total_ns.fetch_add(now_ns() - start_ns, std::memory_order_relaxed);
}

BlkStats BlkEngine::stats() const {
  auto get = [this](Op op) {
    const Counters& c = counters_[op];
    return OpStats{c.ops.load(std::memory_order_relaxed), c.bytes.load(std::memory_order_relaxed),
                   c.total_ns.load(std::memory_order_relaxed),
                   c.failed.load(std::memory_order_relaxed)};
  };
  BlkStats s;
  s.read = get(kRead);
  s.write = get(kWrite);
  s.flush = get(kFlush);
  s.discard = get(kDiscard);
  s.unsupported = unsupported_.load(std::memory_order_relaxed);
  return s;
}

Result<uint32_t> BlkEngine::execute(const DescriptorChain& chain) {
  const uint64_t start = now_ns();
  // The status byte is the last byte of the chain and must be writable;
  // without it we cannot answer at all.
  if (chain.segments.empty() || !chain.segments.back().device_writable)
    return Error(ErrorKind::kCorrupt, "virtio-blk: request without a writable status byte");
  const ChainSegment& last = chain.segments.back();
  uint8_t* status = last.host + (last.length - 1);  // length >= 1: empty segments are dropped

  // Header: the first 16 bytes, which must all be device-readable.
  uint8_t header[kBlkRequestHeaderSize];
  uint64_t have = 0;
  size_t seg = 0;
  uint64_t seg_offset = 0;
  bool header_ok = true;
  while (have < sizeof header && seg < chain.segments.size()) {
    const ChainSegment& s = chain.segments[seg];
    // The status byte is not part of the header/data area.
    const uint64_t usable = (seg + 1 == chain.segments.size()) ? s.length - 1 : s.length;
    const uint64_t n = std::min<uint64_t>(usable, sizeof header - have);
    if (n > 0 && s.device_writable) header_ok = false;
    std::memcpy(header + have, s.host, n);
    have += n;
    seg_offset = n;
    if (n == usable) {
      ++seg;
      seg_offset = 0;
    }
  }
  if (have < sizeof header || !header_ok) {
    *status = kBlkStatusIoErr;
    return 1;
  }
  const uint32_t type = le32(header);
  const uint64_t sector = le64(header + 8);

  // One payload per iothread, reused: no allocation per request once warm.
  thread_local Payload data;
  data.clear();
  for (; seg < chain.segments.size(); ++seg, seg_offset = 0) {
    const ChainSegment& s = chain.segments[seg];
    const uint64_t usable = (seg + 1 == chain.segments.size()) ? s.length - 1 : s.length;
    data.add(s.host + seg_offset, usable - seg_offset, s.device_writable);
  }

  uint32_t written = 0;
  uint8_t result = kBlkStatusUnsupp;
  switch (type) {
    case kBlkTypeIn:
    case kBlkTypeOut:
      result = do_read_write(type, sector, data, start);
      if (type == kBlkTypeIn && result == kBlkStatusOk) written = static_cast<uint32_t>(data.bytes);
      break;
    case kBlkTypeFlush: result = do_flush(start); break;
    case kBlkTypeGetId: result = do_get_id(data, written); break;
    case kBlkTypeDiscard:
    case kBlkTypeWriteZeroes: result = do_discard(type, data, start); break;
    default: break;
  }
  if (result == kBlkStatusUnsupp) unsupported_.fetch_add(1, std::memory_order_relaxed);
  *status = result;
  return written + 1;
}

uint8_t BlkEngine::do_read_write(uint32_t type, uint64_t sector, const Payload& data,
                                 uint64_t start_ns) {
  const bool is_read = type == kBlkTypeIn;
  const Op op = is_read ? kRead : kWrite;
  auto fail = [&] {
    record(op, 0, start_ns, false);
    return kBlkStatusIoErr;
  };
  // Direction: a read fills device-writable buffers, a write reads
  // device-readable ones; mixed chains are refused before any I/O.
  if (is_read ? data.any_readable : data.any_writable) return fail();
  if (data.bytes % block::kSectorSize != 0 || data.bytes > kBlkMaxRequestBytes ||
      data.iov.size() > kMaxIovecs)
    return fail();
  if (!range_ok(sector, data.bytes / block::kSectorSize)) return fail();
  if (!is_read && !writes_allowed()) return fail();  // RO: no write reaches the image
  if (data.bytes == 0) {
    record(op, 0, start_ns, true);
    return kBlkStatusOk;
  }
  // sector * 512 cannot overflow: range_ok bounded sector by the capacity.
  const uint64_t offset = sector * block::kSectorSize;
  Result<void> r = is_read ? image_->readv(offset, data.iov) : image_->writev(offset, data.iov);
  if (r.ok() && !is_read && write_cache() == WriteCache::kWritethrough) r = image_->flush();
  if (!r.ok()) return fail();
  record(op, data.bytes, start_ns, true);
  return kBlkStatusOk;
}

uint8_t BlkEngine::do_flush(uint64_t start_ns) {
  const bool ok = image_->flush().ok();
  record(kFlush, 0, start_ns, ok);
  return ok ? kBlkStatusOk : kBlkStatusIoErr;
}

uint8_t BlkEngine::do_get_id(const Payload& data, uint32_t& written) {
  if (data.any_readable) return kBlkStatusIoErr;
  uint8_t id[kBlkIdBytes] = {};
  std::memcpy(id, options_.serial.data(), std::min<size_t>(options_.serial.size(), sizeof id));
  // Fill at most 20 bytes of the guest's buffers (shorter buffers get a
  // truncated id, as QEMU does).
  size_t done = 0;
  for (const auto& v : data.iov) {
    if (done == sizeof id) break;
    const size_t n = std::min(v.iov_len, sizeof id - done);
    std::memcpy(v.iov_base, id + done, n);
    done += n;
  }
  written = static_cast<uint32_t>(done);
  return kBlkStatusOk;
}

uint8_t BlkEngine::do_discard(uint32_t type, const Payload& data, uint64_t start_ns) {
  const bool zeroes = type == kBlkTypeWriteZeroes;
  const unsigned feature = zeroes ? kBlkFeatureWriteZeroes : kBlkFeatureDiscard;
  if ((negotiated_ & feature_bit(feature)) == 0) return kBlkStatusUnsupp;
  auto fail = [&] {
    record(kDiscard, 0, start_ns, false);
    return kBlkStatusIoErr;
  };
  if (!writes_allowed() || data.any_writable) return fail();
  const uint64_t count = data.bytes / kBlkDiscardSegmentSize;
  if (data.bytes % kBlkDiscardSegmentSize != 0 || count == 0 || count > kBlkMaxDiscardSegments)
    return fail();
  // Copy the segments out first: the guest may change them under us.
  uint8_t raw[kBlkMaxDiscardSegments * kBlkDiscardSegmentSize];
  data.copy_out(std::span(raw, count * kBlkDiscardSegmentSize));
  for (uint64_t i = 0; i < count; ++i) {
    const uint8_t* s = raw + i * kBlkDiscardSegmentSize;
    const uint32_t flags = le32(s + 12);
    // Unknown flags, or UNMAP on a discard, are "unsupported" (spec 5.2.6.2).
    if ((flags & ~kBlkDiscardFlagUnmap) != 0 || (!zeroes && flags != 0)) return kBlkStatusUnsupp;
    if (le32(s + 8) > kBlkMaxDiscardSectors || !range_ok(le64(s), le32(s + 8))) return fail();
  }
  uint64_t bytes = 0;
  for (uint64_t i = 0; i < count; ++i) {
    const uint8_t* s = raw + i * kBlkDiscardSegmentSize;
    // Both values were range-checked above, so the products fit.
    const uint64_t offset = le64(s) * block::kSectorSize;
    const uint64_t length = uint64_t{le32(s + 8)} * block::kSectorSize;
    if (length == 0) continue;
    const auto mode = (le32(s + 12) & kBlkDiscardFlagUnmap) ? block::ZeroMode::kMayUnmap
                                                            : block::ZeroMode::kAllocate;
    Result<void> r = zeroes ? image_->write_zeroes(offset, length, mode)
                            : image_->discard(offset, length);
    if (!r.ok()) return fail();
    bytes += length;
  }
  record(kDiscard, bytes, start_ns, true);
  return kBlkStatusOk;
}

}  // namespace amber::hv::virtio
