// SPDX-License-Identifier: GPL-2.0-or-later
// ScsiDevice::target_command: what a target answers for a LUN it does not
// have, and REPORT LUNS, as QEMU 7.2's SCSI bus does (scsi-bus.c
// reqops_target_command), so a guest's LUN scan sees what it sees there:
//  - on a LUN other than 0 only INQUIRY and REQUEST SENSE are served;
//    anything else (REPORT LUNS and TEST UNIT READY included) is CHECK
//    CONDITION, LOGICAL UNIT NOT SUPPORTED (5/25/00);
//  - INQUIRY: peripheral 0x7F (no LUN) and zeros on LUN != 0; 0x3F (not
//    present, capable) with QEMU's "QEMU TARGET" identity on a missing
//    LUN 0; EVPD offers page 0 only (QEMU's header: 00 00 01 00); CmdDt,
//    another page, a page code without EVPD or a VPD buffer under 4 bytes
//    is INVALID FIELD IN CDB (5/24/00);
//  - REQUEST SENSE: LOGICAL UNIT NOT SUPPORTED as data (GOOD status) on
//    LUN != 0, no sense on LUN 0, fixed or descriptor format as asked;
//  - TEST UNIT READY on a missing LUN 0: GOOD; another opcode there:
//    INVALID COMMAND OPERATION CODE (5/20/00);
//  - REPORT LUNS (on LUN 0): LUN 0 and every other LUN of the target, the
//    transfer rounded down to whole 8-byte entries; an allocation under 16
//    bytes or SELECT REPORT above 2 is INVALID FIELD IN CDB.
#include <algorithm>
#include <cstring>

#include "hv/virtio/scsi_device.h"

namespace amber::hv::virtio {
namespace {

constexpr uint8_t kOpTestUnitReady = 0x00;
constexpr uint8_t kOpRequestSense = 0x03;
constexpr uint8_t kOpInquiry = 0x12;
constexpr uint8_t kOpReportLuns = 0xA0;
constexpr size_t kInquiryLength = 36;
constexpr size_t kFixedSenseLength = 18;
constexpr size_t kDescriptorSenseLength = 8;

ScsiResult invalid_field() {
  return check_condition(kSenseIllegalRequest, 0x24, 0x00);
}

ScsiResult data_in(const ScsiCommand& c, std::span<const uint8_t> bytes, uint64_t limit) {
  ScsiResult r;
  r.data_in = copy_to_iov(c.data_in, bytes, std::min(limit, c.data_in_bytes));
  return r;
}

ScsiResult inquiry(const ScsiCommand& c, unsigned lun) {
  if (c.cdb.size() < 6) return invalid_field();
  const uint64_t alloc = static_cast<uint64_t>(c.cdb[3] << 8 | c.cdb[4]);
  if (c.cdb[1] & 0x2) return invalid_field();  // CmdDt: not implemented (as QEMU)
  if (c.cdb[1] & 0x1) {                        // EVPD
    if (alloc < 4 || c.cdb[2] != 0x00) return invalid_field();
    const uint8_t page[4] = {0x00, 0x00, 0x01, 0x00};  // QEMU's bytes, page 0 listing itself
    return data_in(c, page, alloc);
  }
  if (c.cdb[2] != 0) return invalid_field();
  uint8_t out[kInquiryLength] = {};
  if (lun != 0) {
    out[0] = 0x7F;  // qualifier 3, type 1F: no logical unit here
  } else {
    out[0] = 0x3F;  // qualifier 1, type 1F: LUN 0 not present but capable
    out[2] = 5;     // SPC-3
    out[3] = 0x12;  // HiSup, response data format 2
    out[4] = static_cast<uint8_t>(std::min<uint64_t>(alloc, kInquiryLength) - 5);
    out[7] = 0x12;  // Sync, CmdQue (virtio-scsi queues commands)
    std::memcpy(out + 8, "QEMU    QEMU TARGET     2.5", 27);  // NUL-ended version, as QEMU
    if (alloc < 5) out[4] = 0;
  }
  return data_in(c, out, alloc);
}

ScsiResult request_sense(const ScsiCommand& c, unsigned lun) {
  if (c.cdb.size() < 6) return invalid_field();
  const uint64_t alloc = c.cdb[4];
  const bool descriptor = (c.cdb[1] & 1) != 0;
  const uint8_t key = lun != 0 ? kSenseIllegalRequest : kSenseNoSense;
  const uint8_t asc = lun != 0 ? 0x25 : 0x00;
  uint8_t out[kFixedSenseLength] = {};
  size_t length = 0;
  if (descriptor) {
    out[0] = 0x72;
    out[1] = key;
    out[2] = asc;
    length = kDescriptorSenseLength;
  } else {
    out[0] = 0x70;
    out[2] = key;
    out[7] = kFixedSenseLength - 8;
    out[12] = asc;
    length = kFixedSenseLength;
  }
  return data_in(c, std::span<const uint8_t>(out, length), alloc);
}

}  // namespace

ScsiResult ScsiDevice::target_command(unsigned target, unsigned lun, const ScsiCommand& c) const {
  const uint8_t op = c.cdb.empty() ? 0xFF : c.cdb[0];
  if (op == kOpInquiry) return inquiry(c, lun);
  if (op == kOpRequestSense) return request_sense(c, lun);
  if (lun != 0) return check_condition(kSenseIllegalRequest, 0x25, 0x00);
  if (op == kOpTestUnitReady) return ScsiResult{};
  if (op != kOpReportLuns) return check_condition(kSenseIllegalRequest, 0x20, 0x00);
  if (c.cdb.size() < 12) return invalid_field();
  const uint64_t alloc =
      uint64_t{c.cdb[6]} << 24 | uint64_t{c.cdb[7]} << 16 | uint64_t{c.cdb[8]} << 8 | c.cdb[9];
  if (alloc < 16 || c.cdb[2] > 2) return invalid_field();
  // LUN 0 is always listed (SPC-4: it must answer INQUIRY), as QEMU does.
  std::vector<uint8_t> out(16, 0);
  for (const auto& [key, disk] : luns_) {
    if (key.first != target || key.second == 0) continue;
    uint8_t entry[8] = {};
    if (key.second < 256) {
      entry[1] = static_cast<uint8_t>(key.second);
    } else {
      entry[0] = static_cast<uint8_t>(0x40 | key.second >> 8);  // flat addressing
      entry[1] = static_cast<uint8_t>(key.second);
    }
    out.insert(out.end(), entry, entry + 8);
  }
  const uint32_t length = static_cast<uint32_t>(out.size() - 8);
  out[0] = static_cast<uint8_t>(length >> 24);
  out[1] = static_cast<uint8_t>(length >> 16);
  out[2] = static_cast<uint8_t>(length >> 8);
  out[3] = static_cast<uint8_t>(length);
  return data_in(c, out, alloc & ~uint64_t{7});
}

}  // namespace amber::hv::virtio
