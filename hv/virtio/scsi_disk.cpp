// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/virtio/scsi_disk.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

namespace amber::hv::virtio {
namespace {

constexpr uint32_t kBlockSize = 512;

// Additional sense codes (asc << 8 | ascq).
constexpr uint16_t kAscInvalidOpcode = 0x2000;
constexpr uint16_t kAscLbaOutOfRange = 0x2100;
constexpr uint16_t kAscInvalidField = 0x2400;
constexpr uint16_t kAscInvalidParameterList = 0x2600;
constexpr uint16_t kAscParameterListLength = 0x1A00;
constexpr uint16_t kAscWriteProtected = 0x2700;
constexpr uint16_t kAscSpaceAllocationFailed = 0x2707;
constexpr uint16_t kAscSavingNotSupported = 0x3900;
constexpr uint16_t kAscUnrecoveredRead = 0x1100;
constexpr uint16_t kAscWriteError = 0x0C00;

ScsiResult illegal(uint16_t asc) {
  return check_condition(kSenseIllegalRequest, static_cast<uint8_t>(asc >> 8),
                         static_cast<uint8_t>(asc));
}

uint16_t be16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
uint32_t be32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}
uint64_t be64(const uint8_t* p) {
  return static_cast<uint64_t>(be32(p)) << 32 | be32(p + 4);
}
void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) {
  put16(p, static_cast<uint16_t>(v >> 16));
  put16(p + 2, static_cast<uint16_t>(v));
}
void put64(uint8_t* p, uint64_t v) {
  put32(p, static_cast<uint32_t>(v >> 32));
  put32(p + 4, static_cast<uint32_t>(v));
}
void put_text(uint8_t* p, size_t width, const std::string& text) {
  std::memset(p, ' ', width);
  std::memcpy(p, text.data(), std::min(width, text.size()));
}

// The first `out.size()` bytes of the data-out buffers (caller checked).
void copy_from_iov(std::span<const iovec> iov, std::span<uint8_t> out) {
  size_t done = 0;
  for (const iovec& v : iov) {
    if (done == out.size()) break;
    const size_t n = std::min(v.iov_len, out.size() - done);
    std::memcpy(out.data() + done, v.iov_base, n);
    done += n;
  }
}

// iov truncated to `bytes` (which the caller checked it holds).
std::vector<iovec> prefix(std::span<const iovec> iov, uint64_t bytes) {
  std::vector<iovec> out;
  for (const iovec& v : iov) {
    if (bytes == 0) break;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(v.iov_len, bytes));
    out.push_back({v.iov_base, n});
    bytes -= n;
  }
  return out;
}

// Length of the CDB for its group code (SAM: opcode bits 7..5).
size_t cdb_length(uint8_t opcode) {
  switch (opcode >> 5) {
    case 0:
      return 6;
    case 1:
    case 2:
      return 10;
    case 4:
      return 16;
    case 5:
      return 12;
    default:
      return 0;
  }
}

}  // namespace

ScsiResult check_condition(uint8_t key, uint8_t asc, uint8_t ascq) {
  ScsiResult r;
  r.status = kScsiStatusCheckCondition;
  r.sense[0] = 0x70;  // current error, fixed format
  r.sense[2] = key;
  r.sense[7] = kScsiSenseLength - 8;
  r.sense[12] = asc;
  r.sense[13] = ascq;
  r.sense_length = kScsiSenseLength;
  return r;
}

uint64_t copy_to_iov(std::span<const iovec> iov, std::span<const uint8_t> bytes, uint64_t limit) {
  const uint64_t total = std::min<uint64_t>(bytes.size(), limit);
  uint64_t done = 0;
  for (const iovec& v : iov) {
    if (done == total) break;
    const uint64_t n = std::min<uint64_t>(v.iov_len, total - done);
    std::memcpy(v.iov_base, bytes.data() + done, n);
    done += n;
  }
  return done;
}

ScsiDisk::ScsiDisk(std::shared_ptr<block::Image> image, ScsiDiskOptions options)
    : image_(std::move(image)),
      options_(std::move(options)),
      blocks_(image_->size() / kBlockSize),
      counters_(options_.label, options_.write_error, options_.read_error) {}

bool ScsiDisk::writes_allowed() const {
  return options_.access == DiskAccess::kReadWrite && !image_->read_only();
}

bool ScsiDisk::unmap_enabled() const {
  return writes_allowed() && options_.discard == block::DiscardMode::kUnmap;
}

ScsiResult ScsiDisk::execute(const ScsiCommand& c) {
  if (c.cdb.empty()) return illegal(kAscInvalidOpcode);
  const uint8_t op = c.cdb[0];
  const size_t need = cdb_length(op);
  if (need == 0 || need > c.cdb.size()) return illegal(kAscInvalidOpcode);
  const uint8_t* cdb = c.cdb.data();
  // INQUIRY neither gets nor clears a pending UNIT ATTENTION (SPC-4 5.14);
  // REPORT LUNS never reaches a disk (ScsiDevice answers it).
  if (op != 0x12 && unit_attention_.exchange(false, std::memory_order_relaxed))
    return check_condition(kSenseUnitAttention, 0x29, 0x00);
  switch (op) {
    case 0x00:  // TEST UNIT READY
    case 0x1B:  // START STOP UNIT
    case 0x1E:  // PREVENT ALLOW MEDIUM REMOVAL
      return {};
    case 0x03: {  // REQUEST SENSE: no pending sense (autosense)
      ScsiResult r;
      uint8_t sense[kScsiSenseLength] = {0x70, 0, kSenseNoSense, 0, 0, 0, 0, kScsiSenseLength - 8};
      r.data_in = copy_to_iov(c.data_in, sense, std::min<uint64_t>(cdb[4], c.data_in_bytes));
      return r;
    }
    case 0x12:
      return inquiry(c);
    case 0x25:
      return read_capacity_10(c);
    case 0x9E:  // SERVICE ACTION IN (16)
      if ((cdb[1] & 0x1F) == 0x10) return read_capacity_16(c);
      return illegal(kAscInvalidField);
    case 0x08:  // READ 6 / WRITE 6: 21-bit LBA, 0 blocks means 256
    case 0x0A: {
      const uint64_t lba = static_cast<uint64_t>(cdb[1] & 0x1F) << 16 | be16(cdb + 2);
      const uint64_t count = cdb[4] == 0 ? 256 : cdb[4];
      return read_write(c, op == 0x0A, lba, count);
    }
    case 0x28:
    case 0x2A:
      return read_write(c, op == 0x2A, be32(cdb + 2), be16(cdb + 7));
    case 0xA8:
    case 0xAA:
      return read_write(c, op == 0xAA, be32(cdb + 2), be32(cdb + 6));
    case 0x88:
    case 0x8A:
      return read_write(c, op == 0x8A, be64(cdb + 2), be32(cdb + 10));
    case 0x2F:  // VERIFY 10 / 16 (BYTCHK 0): a range check
    case 0x8F: {
      if (cdb[1] & 0x06) return illegal(kAscInvalidField);  // BYTCHK: data to compare
      const bool ten = op == 0x2F;
      const uint64_t lba = ten ? be32(cdb + 2) : be64(cdb + 2);
      const uint64_t count = ten ? be16(cdb + 7) : be32(cdb + 10);
      if (!range_ok(lba, count)) return illegal(kAscLbaOutOfRange);
      return {};
    }
    case 0x35:
      return synchronize_cache(be32(cdb + 2), be16(cdb + 7));
    case 0x91:
      return synchronize_cache(be64(cdb + 2), be32(cdb + 10));
    case 0x42:
      return unmap(c);
    case 0x41:
      return write_same(c, be32(cdb + 2), be16(cdb + 7));
    case 0x93:
      return write_same(c, be64(cdb + 2), be32(cdb + 10));
    case 0x1A:
      return mode_sense(c, false);
    case 0x5A:
      return mode_sense(c, true);
    case 0x15:
      return mode_select(c, false);
    case 0x55:
      return mode_select(c, true);
    default:
      return illegal(kAscInvalidOpcode);
  }
}

ScsiResult ScsiDisk::inquiry(const ScsiCommand& c) {
  const uint64_t limit = std::min<uint64_t>(be16(c.cdb.data() + 3), c.data_in_bytes);
  if (c.cdb[1] & 0x01) return vpd_page(c, c.cdb[2], limit);
  if (c.cdb[2] != 0) return illegal(kAscInvalidField);
  uint8_t out[36] = {};
  out[0] = 0x00;         // connected direct-access block device
  out[2] = 5;            // SPC-3
  out[3] = 0x02 | 0x10;  // response data format 2, HISUP
  out[4] = sizeof out - 5;
  out[7] = 0x10 | 0x02;  // WBUS16 (as QEMU), CMDQUE
  put_text(out + 8, 8, "QEMU");
  put_text(out + 16, 16, "QEMU HARDDISK");
  put_text(out + 32, 4, "2.5+");
  ScsiResult r;
  r.data_in = copy_to_iov(c.data_in, out, limit);
  return r;
}

ScsiResult ScsiDisk::vpd_page(const ScsiCommand& c, uint8_t page, uint64_t limit) {
  std::vector<uint8_t> out(4, 0);
  out[1] = page;
  switch (page) {
    case 0x00:  // supported pages
      out.push_back(0x00);
      if (!options_.serial.empty()) out.push_back(0x80);
      for (uint8_t p : {0x83, 0xB0, 0xB1, 0xB2}) out.push_back(p);
      break;
    case 0x80: {  // unit serial number
      if (options_.serial.empty()) return illegal(kAscInvalidField);
      out.insert(out.end(), options_.serial.begin(), options_.serial.end());
      break;
    }
    case 0x83: {  // device identification: one vendor-specific ASCII designator
      const std::string& id = options_.serial.empty() ? options_.label : options_.serial;
      const size_t n = std::min<size_t>(id.size(), 255 - 8);
      out.push_back(0x02);  // code set ASCII
      out.push_back(0x00);  // association LUN, designator type vendor-specific
      out.push_back(0x00);
      out.push_back(static_cast<uint8_t>(n));
      out.insert(out.end(), id.begin(), id.begin() + static_cast<std::ptrdiff_t>(n));
      break;
    }
    case 0xB0: {  // block limits
      out.resize(64, 0);
      out[4] = 0x01;  // WSNZ: WRITE SAME with 0 blocks is refused
      put32(&out[8], kScsiMaxTransferBlocks);
      if (unmap_enabled()) {
        put32(&out[20], kScsiMaxUnmapBlocks);
        put32(&out[24], kScsiMaxUnmapDescriptors);
        put32(&out[28], 1);  // optimal unmap granularity: one block
      }
      put64(&out[36], kScsiMaxWriteSameBlocks);
      break;
    }
    case 0xB1:  // block device characteristics: rotation rate not reported
      out.resize(64, 0);
      break;
    case 0xB2: {  // logical block provisioning
      out.resize(8, 0);
      if (unmap_enabled()) {
        out[5] = 0x80 | 0x40 | 0x20;  // LBPU, LBPWS, LBPWS10
        out[6] = 0x02;                // thin provisioned
      }
      break;
    }
    default:
      return illegal(kAscInvalidField);
  }
  put16(&out[2], static_cast<uint16_t>(out.size() - 4));
  ScsiResult r;
  r.data_in = copy_to_iov(c.data_in, out, limit);
  return r;
}

ScsiResult ScsiDisk::read_capacity_10(const ScsiCommand& c) {
  uint8_t out[8];
  const uint64_t last = blocks_ == 0 ? 0 : blocks_ - 1;
  put32(out, static_cast<uint32_t>(std::min<uint64_t>(last, 0xFFFFFFFF)));
  put32(out + 4, kBlockSize);
  ScsiResult r;
  r.data_in = copy_to_iov(c.data_in, out, c.data_in_bytes);
  return r;
}

ScsiResult ScsiDisk::read_capacity_16(const ScsiCommand& c) {
  uint8_t out[32] = {};
  put64(out, blocks_ == 0 ? 0 : blocks_ - 1);
  put32(out + 8, kBlockSize);
  if (unmap_enabled()) out[14] = 0x80;  // LBPME
  ScsiResult r;
  r.data_in =
      copy_to_iov(c.data_in, out, std::min<uint64_t>(be32(c.cdb.data() + 10), c.data_in_bytes));
  return r;
}

ScsiResult ScsiDisk::read_write(const ScsiCommand& c, bool write, uint64_t lba, uint64_t count) {
  if (count > kScsiMaxTransferBlocks) return illegal(kAscInvalidField);
  const uint64_t bytes = count * kBlockSize;
  // The transfer must fit the buffers of its direction (QEMU: OVERRUN).
  if (bytes > (write ? c.data_out_bytes : c.data_in_bytes) ||
      (bytes != 0 && (write ? c.data_in_bytes : c.data_out_bytes) != 0)) {
    ScsiResult r;
    r.outcome = ScsiOutcome::kOverrun;
    return r;
  }
  if (!range_ok(lba, count)) return illegal(kAscLbaOutOfRange);
  if (write && !writes_allowed())
    return check_condition(kSenseDataProtect, kAscWriteProtected >> 8, 0);
  if (count == 0) return {};
  const std::vector<iovec> iov = prefix(write ? c.data_out : c.data_in, bytes);
  const uint64_t offset = lba * kBlockSize;
  const uint64_t start_ns = disk_clock_ns();
  Result<void> done = write ? image_->writev(offset, iov) : image_->readv(offset, iov);
  if (done.ok() && write && !write_cache()) done = image_->flush();
  ScsiResult r;
  (write ? r.data_out : r.data_in) = bytes;
  return finish_io(write ? BlkOperation::kWrite : BlkOperation::kRead, bytes, start_ns, done, r);
}

ScsiResult ScsiDisk::synchronize_cache(uint64_t lba, uint64_t count) {
  if (!range_ok(lba, count)) return illegal(kAscLbaOutOfRange);
  const uint64_t start_ns = disk_clock_ns();
  return finish_io(BlkOperation::kFlush, 0, start_ns, image_->flush(), ScsiResult{});
}

ScsiResult ScsiDisk::unmap(const ScsiCommand& c) {
  if (c.cdb[1] & 0x01) return illegal(kAscInvalidField);  // ANCHOR
  const uint64_t length = be16(c.cdb.data() + 7);
  if (length == 0) return {};
  if (length > c.data_out_bytes) {
    ScsiResult r;
    r.outcome = ScsiOutcome::kOverrun;
    return r;
  }
  if (!writes_allowed()) return check_condition(kSenseDataProtect, kAscWriteProtected >> 8, 0);
  if (length < 8) return illegal(kAscParameterListLength);
  std::vector<uint8_t> list(length);
  copy_from_iov(c.data_out, list);
  const uint64_t descriptors_bytes = std::min<uint64_t>(be16(&list[2]), length - 8);
  const uint64_t descriptors = descriptors_bytes / 16;
  if (descriptors > kScsiMaxUnmapDescriptors) return illegal(kAscInvalidParameterList);
  // Check every descriptor before touching the disk.
  for (uint64_t i = 0; i < descriptors; ++i) {
    const uint8_t* d = &list[8 + 16 * i];
    const uint64_t lba = be64(d);
    const uint64_t count = be32(d + 8);
    if (count > kScsiMaxUnmapBlocks) return illegal(kAscInvalidParameterList);
    if (!range_ok(lba, count)) return illegal(kAscLbaOutOfRange);
  }
  ScsiResult r;
  r.data_out = length;
  if (!unmap_enabled()) return r;  // discard=ignore: a successful no-op
  const uint64_t start_ns = disk_clock_ns();
  uint64_t bytes = 0;
  for (uint64_t i = 0; i < descriptors; ++i) {
    const uint8_t* d = &list[8 + 16 * i];
    const uint64_t count = be32(d + 8);
    if (count == 0) continue;
    // A held UNMAP runs again whole: unmapping a range twice leaves it as once.
    if (auto done = image_->discard(be64(d) * kBlockSize, count * kBlockSize); !done.ok())
      return finish_io(BlkOperation::kDiscard, bytes, start_ns, done, r);
    unmapped_blocks_.fetch_add(count, std::memory_order_relaxed);
    bytes += count * kBlockSize;
  }
  return finish_io(BlkOperation::kDiscard, bytes, start_ns, ok(), r);
}

ScsiResult ScsiDisk::write_same(const ScsiCommand& c, uint64_t lba, uint64_t count) {
  const uint8_t flags = c.cdb[1];
  if (flags & 0x01) return illegal(kAscInvalidField);  // NDOB (not offered)
  if (count == 0 || count > kScsiMaxWriteSameBlocks) return illegal(kAscInvalidField);
  if (kBlockSize > c.data_out_bytes || c.data_in_bytes != 0) {
    ScsiResult r;
    r.outcome = ScsiOutcome::kOverrun;
    return r;
  }
  if (!range_ok(lba, count)) return illegal(kAscLbaOutOfRange);
  if (!writes_allowed()) return check_condition(kSenseDataProtect, kAscWriteProtected >> 8, 0);
  std::vector<uint8_t> block(kBlockSize);
  copy_from_iov(c.data_out, block);
  const bool zero = std::all_of(block.begin(), block.end(), [](uint8_t b) { return b == 0; });
  const uint64_t offset = lba * kBlockSize;
  const uint64_t bytes = count * kBlockSize;
  const uint64_t start_ns = disk_clock_ns();
  Result<void> done = ok();
  BlkOperation operation = BlkOperation::kWriteZeroes;
  if (zero) {
    const bool unmap = (flags & 0x08) != 0 && unmap_enabled();
    done = image_->write_zeroes(offset, bytes,
                                unmap ? block::ZeroMode::kMayUnmap : block::ZeroMode::kAllocate);
    if (done.ok() && unmap) unmapped_blocks_.fetch_add(count, std::memory_order_relaxed);
  } else {
    operation = BlkOperation::kWrite;
    // The pattern repeated, up to 1 MiB per host call.
    constexpr uint64_t kChunkBlocks = 2048;
    std::vector<uint8_t> chunk(std::min(count, kChunkBlocks) * kBlockSize);
    for (size_t i = 0; i < chunk.size(); i += kBlockSize)
      std::memcpy(&chunk[i], block.data(), kBlockSize);
    for (uint64_t done_bytes = 0; done.ok() && done_bytes < bytes;) {
      const uint64_t n = std::min<uint64_t>(chunk.size(), bytes - done_bytes);
      const iovec v{chunk.data(), static_cast<size_t>(n)};
      done = image_->writev(offset + done_bytes, std::span<const iovec>(&v, 1));
      done_bytes += n;
    }
  }
  if (done.ok() && !write_cache()) done = image_->flush();
  ScsiResult r;
  r.data_out = kBlockSize;
  return finish_io(operation, bytes, start_ns, done, r);
}

ScsiResult ScsiDisk::mode_sense(const ScsiCommand& c, bool ten) {
  const uint8_t* cdb = c.cdb.data();
  const bool dbd = (cdb[1] & 0x08) != 0;
  const uint8_t control = cdb[2] >> 6;  // 0 current, 1 changeable, 2 default, 3 saved
  const uint8_t page = cdb[2] & 0x3F;
  if (control == 3) return illegal(kAscSavingNotSupported);
  if (page != 0x08 && page != 0x0A && page != 0x3F) return illegal(kAscInvalidField);
  if (cdb[3] != 0 && !(page == 0x3F && cdb[3] == 0xFF)) return illegal(kAscInvalidField);
  const uint64_t limit = std::min<uint64_t>(ten ? be16(cdb + 7) : cdb[4], c.data_in_bytes);

  std::vector<uint8_t> out(ten ? 8 : 4, 0);
  const uint8_t device_specific = static_cast<uint8_t>((writes_allowed() ? 0 : 0x80) | 0x10);
  out[ten ? 3 : 2] = device_specific;  // WP, DPOFUA
  if (!dbd) {
    uint8_t descriptor[8] = {};
    const uint64_t n = blocks_ > 0xFFFFFF ? 0 : blocks_;  // 0: larger than the field
    descriptor[1] = static_cast<uint8_t>(n >> 16);
    descriptor[2] = static_cast<uint8_t>(n >> 8);
    descriptor[3] = static_cast<uint8_t>(n);
    descriptor[6] = kBlockSize >> 8;
    out.insert(out.end(), descriptor, descriptor + 8);
    out[ten ? 7 : 3] = 8;  // block descriptor length
  }
  if (page == 0x08 || page == 0x3F) {
    uint8_t caching[20] = {0x08, 0x12};
    if (control == 1)
      caching[2] = 0x04;  // WCE is changeable
    else if (control == 0 ? write_cache() : true)
      caching[2] = 0x04;  // WCE
    out.insert(out.end(), caching, caching + sizeof caching);
  }
  if (page == 0x0A || page == 0x3F) {
    uint8_t ctl[12] = {0x0A, 0x0A};
    if (control != 1) ctl[5] = 0x40;  // TAS (as QEMU); the rest zero
    out.insert(out.end(), ctl, ctl + sizeof ctl);
  }
  if (ten)
    put16(&out[0], static_cast<uint16_t>(out.size() - 2));
  else
    out[0] = static_cast<uint8_t>(out.size() - 1);
  ScsiResult r;
  r.data_in = copy_to_iov(c.data_in, out, limit);
  return r;
}

ScsiResult ScsiDisk::mode_select(const ScsiCommand& c, bool ten) {
  const uint64_t length = ten ? be16(c.cdb.data() + 7) : c.cdb[4];
  if (c.cdb[1] & 0x01) return illegal(kAscInvalidField);  // SP: saving not supported
  if (length > c.data_out_bytes) {
    ScsiResult r;
    r.outcome = ScsiOutcome::kOverrun;
    return r;
  }
  std::vector<uint8_t> list(length);
  copy_from_iov(c.data_out, list);
  const size_t header = ten ? 8 : 4;
  ScsiResult r;
  r.data_out = length;
  if (length < header) return length == 0 ? r : illegal(kAscParameterListLength);
  size_t pos = header + (ten ? be16(&list[6]) : list[3]);
  // Pages: apply the caching page's WCE; accept the rest as they are.
  while (pos + 2 <= list.size()) {
    const uint8_t page = list[pos] & 0x3F;
    const size_t page_length = list[pos + 1];
    if (pos + 2 + page_length > list.size()) return illegal(kAscInvalidParameterList);
    if (page == 0x08 && page_length >= 1) set_write_cache((list[pos + 2] & 0x04) != 0);
    pos += 2 + page_length;
  }
  return r;
}

ScsiResult ScsiDisk::finish_io(BlkOperation operation, uint64_t bytes, uint64_t start_ns,
                               const Result<void>& done, ScsiResult success) {
  const DiskCounter counter = operation == BlkOperation::kRead    ? DiskCounter::kRead
                              : operation == BlkOperation::kWrite ? DiskCounter::kWrite
                              : operation == BlkOperation::kFlush ? DiskCounter::kFlush
                                                                  : DiskCounter::kDiscard;
  if (done.ok()) {
    counters_.record(counter, bytes, start_ns, true);
    return success;
  }
  const Error& error = done.error();
  host_errors_.fetch_add(1, std::memory_order_relaxed);
  switch (counters_.host_error(operation, error)) {
    case BlkErrorAction::kStop: {
      ScsiResult held;
      held.outcome = ScsiOutcome::kHeld;
      return held;
    }
    case BlkErrorAction::kIgnore:
      counters_.record(counter, 0, start_ns, true);
      return success;
    case BlkErrorAction::kReport:
      break;
  }
  counters_.record(counter, 0, start_ns, false);
  if (classify(error) == IoErrorClass::kEnospc)
    return check_condition(kSenseDataProtect, kAscSpaceAllocationFailed >> 8,
                           kAscSpaceAllocationFailed & 0xFF);
  if (operation == BlkOperation::kRead)
    return check_condition(kSenseMediumError, kAscUnrecoveredRead >> 8, 0);
  return check_condition(kSenseMediumError, kAscWriteError >> 8, 0);
}

}  // namespace amber::hv::virtio
