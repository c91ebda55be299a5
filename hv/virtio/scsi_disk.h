// SPDX-License-Identifier: GPL-2.0-or-later
// ScsiDisk: one SCSI logical unit (a direct-access block device, SBC-3)
// over a block::Image, as virtio-scsi serves it: executes one CDB against
// the guest's data buffers and returns the SCSI status, sense data and
// the number of bytes moved.
//
// Commands: TEST UNIT READY, REQUEST SENSE, INQUIRY (standard; VPD 0x00,
// 0x80, 0x83, 0xB0, 0xB1, 0xB2), READ CAPACITY 10/16, READ/WRITE 6/10/12/16,
// VERIFY 10/16, SYNCHRONIZE CACHE 10/16, UNMAP, WRITE SAME 10/16 (UNMAP
// bit), MODE SENSE 6/10 (caching and control pages), MODE SELECT 6/10
// (accepted; the caching page's WCE is applied), START STOP UNIT and
// PREVENT ALLOW MEDIUM REMOVAL (no-ops). Anything else is CHECK CONDITION,
// ILLEGAL REQUEST / INVALID COMMAND OPERATION CODE; LBAs or lengths past
// the disk are ILLEGAL REQUEST / LBA OUT OF RANGE; writes to a read-only
// disk are DATA PROTECT / WRITE PROTECTED. Identity strings are QEMU's
// scsi-hd ones ("QEMU", "QEMU HARDDISK", "2.5+"), which guests' INFs and
// udev rules know.
//
// Every CDB byte and every buffer length is guest-controlled. A READ or
// WRITE whose transfer length does not fit the buffers of its direction
// is refused with kOverrun before any I/O (what QEMU's virtio-scsi does:
// VIRTIO_SCSI_S_OVERRUN); data-in commands with an allocation length write
// at most that many bytes and at most what the buffers hold.
//
// Host I/O errors are counted, logged (rate-limited) and handed to the
// error sink (DiskCounters), and the disk's werror= / rerror= policy picks
// what the guest gets, as QEMU's scsi-disk: report (MEDIUM ERROR for
// reads and writes, DATA PROTECT / SPACE ALLOCATION FAILED for ENOSPC),
// ignore (GOOD, as if it had succeeded) or stop (ScsiOutcome::kHeld: no
// answer; the device keeps the request and executes it again when the VM
// resumes). stats(): the query-block counters, as virtio-blk's.
//
// Thread-safety: execute() may run on several iothreads at once: the
// Image is thread-safe, the write-cache flag and counters are atomics, and
// there is no per-LUN sense state (sense is returned with the command:
// autosense, as virtio-scsi always does). set_io_error_sink() before the
// device starts.
#pragma once

#include <sys/uio.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "block/image.h"
#include "hv/virtio/blk_io_error.h"
#include "hv/virtio/blk_settings.h"
#include "hv/virtio/blk_stats.h"
#include "hv/virtio/disk_counters.h"

namespace amber::hv::virtio {

inline constexpr uint8_t kScsiStatusGood = 0x00;
inline constexpr uint8_t kScsiStatusCheckCondition = 0x02;

// Sense keys used here.
inline constexpr uint8_t kSenseNoSense = 0x0;
inline constexpr uint8_t kSenseMediumError = 0x3;
inline constexpr uint8_t kSenseIllegalRequest = 0x5;
inline constexpr uint8_t kSenseUnitAttention = 0x6;
inline constexpr uint8_t kSenseDataProtect = 0x7;

// Fixed-format sense data is 18 bytes (SPC-4 4.5.3).
inline constexpr size_t kScsiSenseLength = 18;

// Limits advertised in the Block Limits VPD page and enforced.
inline constexpr uint32_t kScsiMaxTransferBlocks = 1u << 21;  // 1 GiB per command
inline constexpr uint32_t kScsiMaxUnmapBlocks = 1u << 22;     // per descriptor
inline constexpr uint32_t kScsiMaxUnmapDescriptors = 32;
inline constexpr uint32_t kScsiMaxWriteSameBlocks = 1u << 22;

// How the command ended, before the SCSI status.
enum class ScsiOutcome {
  kDone,     // status + sense are valid
  kOverrun,  // the CDB's transfer does not fit the buffers (no I/O done)
  kHeld,     // a host error under a stop policy: not answered, run again on resume
};

struct ScsiResult {
  ScsiOutcome outcome = ScsiOutcome::kDone;
  uint8_t status = kScsiStatusGood;
  std::array<uint8_t, kScsiSenseLength> sense{};
  uint32_t sense_length = 0;  // 0 or kScsiSenseLength
  uint64_t data_in = 0;       // bytes written into the data-in buffers
  uint64_t data_out = 0;      // bytes consumed from the data-out buffers
};

// One command: the CDB (cdb_size bytes, normally 32) and the request's
// data buffers, already translated host memory.
struct ScsiCommand {
  std::span<const uint8_t> cdb;
  std::span<const iovec> data_out;  // device-readable
  std::span<const iovec> data_in;   // device-writable
  uint64_t data_out_bytes = 0;
  uint64_t data_in_bytes = 0;
};

// Fixed-format sense data with `key`, `asc`, `ascq`.
ScsiResult check_condition(uint8_t key, uint8_t asc, uint8_t ascq);

// Copies `bytes` into the data-in buffers, at most `limit` bytes; returns
// how many were copied.
uint64_t copy_to_iov(std::span<const iovec> iov, std::span<const uint8_t> bytes, uint64_t limit);

struct ScsiDiskOptions {
  block::DiscardMode discard = block::DiscardMode::kIgnore;
  DiskAccess access = DiskAccess::kReadWrite;
  std::string serial;  // VPD 0x80 (absent when empty) and the 0x83 designator
  std::string label;   // log lines and the 0x83 designator when no serial
  // QEMU's werror= / rerror= defaults for scsi-hd.
  BlkErrorPolicy write_error = BlkErrorPolicy::kEnospc;
  BlkErrorPolicy read_error = BlkErrorPolicy::kReport;
};

class ScsiDisk {
 public:
  ScsiDisk(std::shared_ptr<block::Image> image, ScsiDiskOptions options);

  ScsiResult execute(const ScsiCommand& command);

  uint64_t blocks() const { return blocks_; }
  bool writes_allowed() const;
  bool unmap_enabled() const;
  bool write_cache() const { return write_cache_.load(std::memory_order_relaxed); }
  void set_write_cache(bool on) { write_cache_.store(on, std::memory_order_relaxed); }
  uint64_t host_errors() const { return host_errors_.load(std::memory_order_relaxed); }
  uint64_t unmapped_blocks() const { return unmapped_blocks_.load(std::memory_order_relaxed); }
  block::Image& image() { return *image_; }

  void set_io_error_sink(BlkIoErrorSink sink) { counters_.set_sink(std::move(sink)); }
  BlkStats stats() const { return counters_.stats(); }
  const std::string& label() const { return options_.label; }

  // UNIT ATTENTION, POWER ON, RESET, OR BUS DEVICE RESET OCCURRED (6/29/00),
  // as QEMU's SCSI devices hold one from every reset (power-on included):
  // the next command other than INQUIRY and REPORT LUNS gets it as CHECK
  // CONDITION, which clears it. raise_unit_attention(): a reset (virtio
  // reset, LOGICAL UNIT RESET, I_T NEXUS RESET).
  void raise_unit_attention() { unit_attention_.store(true, std::memory_order_relaxed); }
  bool unit_attention_pending() const { return unit_attention_.load(std::memory_order_relaxed); }

 private:
  ScsiResult inquiry(const ScsiCommand& c);
  ScsiResult vpd_page(const ScsiCommand& c, uint8_t page, uint64_t limit);
  ScsiResult read_capacity_10(const ScsiCommand& c);
  ScsiResult read_capacity_16(const ScsiCommand& c);
  ScsiResult read_write(const ScsiCommand& c, bool write, uint64_t lba, uint64_t count);
  ScsiResult synchronize_cache(uint64_t lba, uint64_t count);
  ScsiResult unmap(const ScsiCommand& c);
  ScsiResult write_same(const ScsiCommand& c, uint64_t lba, uint64_t count);
  ScsiResult mode_sense(const ScsiCommand& c, bool ten);
  ScsiResult mode_select(const ScsiCommand& c, bool ten);
  // Accounts one host call and answers it: `success` when it worked (or
  // failed under an ignore policy), the error's sense or kHeld otherwise.
  ScsiResult finish_io(BlkOperation operation, uint64_t bytes, uint64_t start_ns,
                       const Result<void>& done, ScsiResult success);
  bool range_ok(uint64_t lba, uint64_t count) const {
    return lba <= blocks_ && count <= blocks_ - lba;
  }

  std::shared_ptr<block::Image> image_;
  ScsiDiskOptions options_;
  uint64_t blocks_ = 0;
  std::atomic<bool> write_cache_{true};
  std::atomic<bool> unit_attention_{true};
  std::atomic<uint64_t> host_errors_{0};
  std::atomic<uint64_t> unmapped_blocks_{0};
  DiskCounters counters_;
};

}  // namespace amber::hv::virtio
