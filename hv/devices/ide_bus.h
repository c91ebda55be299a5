// SPDX-License-Identifier: GPL-2.0-or-later
// IdeBus: one IDE channel (primary or secondary) of the PIIX3 IDE
// function: the shared task-file registers, up to two drives (an ATA disk
// or an ATAPI CD-ROM each) and the channel's bus-master DMA registers.
//
// What the guest sees is what QEMU's `pc` machine shows: IDENTIFY (PACKET)
// DEVICE data with "QEMU HARDDISK" / "QEMU DVD-ROM", firmware "2.5+",
// serial "QM0000N", LBA28 + LBA48, MWDMA0-2 / UDMA0-5, the same reset
// signatures and status values. ATA commands are in ide_ata.cpp, the ATAPI
// (SCSI MMC) packet commands in ide_atapi.cpp, the register file, PIO
// engine and bus-master DMA (PRD tables) here in ide_bus.cpp.
//
// The guest is hostile: every transfer is bounded by the media size and
// the command's own count, PRD tables are walked at most kMaxPrdEntries
// entries (one 64 KiB table) and every PRD buffer goes through
// GuestMemory::translate; a bad table ends the command with ERR/ABRT and
// the bus-master error bit, never an access outside guest RAM.
//
// I/O is synchronous on the calling vCPU thread (the image is thread-safe;
// SeaBIOS and Windows' pciide issue one command per channel at a time).
// Every image call is counted per drive (stats(): query-block's counters,
// as virtio-blk's). Host I/O errors are counted, logged (rate-limited)
// and handed to the error sink (virtio::DiskCounters), and an ATA disk's
// werror= / rerror= policy picks the action, as QEMU's ide_handle_rw_error:
// report (ERR with UNC for reads, ABRT otherwise), ignore (the command
// goes on as if the call had succeeded) or stop: the command is held with
// BSY set (a DMA keeps the bus master active), the sink's stop event stops
// the VM, and retry_held() (the VM resumed) runs the failed step again:
// the PIO block, the whole DMA transfer or the flush. A reset drops it.
// CD-ROM reads always report (QEMU applies no policy to ATAPI).
//
// Removable media (ide_media.cpp): the host may eject a CD-ROM's medium
// and insert another while the guest runs (QEMU's `eject` and
// `blockdev-change-medium`). As QEMU's ide_cd_change_cb, a change makes the
// next packet command that is not INQUIRY, REQUEST SENSE, GET CONFIGURATION
// or GET EVENT STATUS NOTIFICATION fail with NOT READY 02/3A/00, the one
// after it with UNIT ATTENTION 06/28/00 (which stays until REQUEST SENSE),
// and GESN reports the event. A transfer in flight on the old medium ends
// with NOT READY instead of reading the new one.
//
// Thread-safety: every public method takes the bus's mutex; the IRQ sink
// is called with it held (it must not call back into the bus). The media
// calls come from the control thread; an image they replace is released
// after the mutex (no vCPU I/O can be using it: I/O runs under the mutex).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "block/image.h"
#include "hv/memory/guest_memory.h"
#include "hv/virtio/blk_io_error.h"
#include "hv/virtio/blk_stats.h"
#include "hv/virtio/disk_counters.h"

namespace amber::hv::devices {

enum class IdeMediaKind { kDisk, kCdrom };

struct IdeDriveConfig {
  IdeMediaKind kind = IdeMediaKind::kDisk;
  // The open image; may be null for a CD-ROM without media.
  std::shared_ptr<block::Image> image;
  bool read_only = false;
  // Write cache enabled at power-on (cache=writeback/none/unsafe: IDENTIFY
  // word 85 bit 5, as QEMU); SET FEATURES 0x02/0x82 changes it.
  bool write_cache = true;
  std::string serial;  // empty: "QM0000N"
  std::string label;   // "ide0-0" (logs, events)
  // QEMU's werror= / rerror= defaults (ATA disks only).
  virtio::BlkErrorPolicy write_error = virtio::BlkErrorPolicy::kEnospc;
  virtio::BlkErrorPolicy read_error = virtio::BlkErrorPolicy::kReport;
};

// ATA status / error bits.
inline constexpr uint8_t kAtaBsy = 0x80, kAtaDrdy = 0x40, kAtaDf = 0x20, kAtaDsc = 0x10,
                         kAtaDrq = 0x08, kAtaErr = 0x01;
inline constexpr uint8_t kAtaAbrt = 0x04, kAtaIdnf = 0x10, kAtaUnc = 0x40;
// Bus-master registers.
inline constexpr uint8_t kBmCommandStart = 0x01, kBmCommandToMemory = 0x08;
inline constexpr uint8_t kBmStatusActive = 0x01, kBmStatusError = 0x02, kBmStatusInterrupt = 0x04;
// One PRD table: at most 64 KiB of 8-byte entries.
inline constexpr unsigned kMaxPrdEntries = 8192;
// Sectors per DRQ block READ/WRITE MULTIPLE may use (IDENTIFY word 47).
inline constexpr unsigned kMaxMultipleSectors = 16;

namespace ide_detail {
// IDENTIFY data: little-endian words; strings space padded with the two
// bytes of each word swapped.
inline void put16(uint8_t* words, unsigned index, uint16_t value) {
  words[2 * index] = static_cast<uint8_t>(value);
  words[2 * index + 1] = static_cast<uint8_t>(value >> 8);
}
inline void put_string(uint8_t* words, unsigned index, const std::string& text, unsigned chars) {
  for (unsigned i = 0; i < chars; ++i)
    words[2 * index + (i ^ 1)] = static_cast<uint8_t>(i < text.size() ? text[i] : ' ');
}
}  // namespace ide_detail

class IdeBus {
 public:
  using IrqSink = std::function<void(bool level)>;

  // `index` 0 = primary, 1 = secondary (serial numbers, labels).
  IdeBus(unsigned index, const GuestMemory& memory, IrqSink irq);

  void attach(unsigned unit, IdeDriveConfig config);
  bool has_drive(unsigned unit) const { return drives_[unit & 1].present; }
  // The error sink of the drive at `unit` (after attach(), before the VM runs).
  void set_io_error_sink(unsigned unit, virtio::BlkIoErrorSink sink);
  // The drive's query-block counters (zeros for an absent drive).
  virtio::BlkStats stats(unsigned unit) const;
  // Runs a command a stop policy held again (the VM resumed).
  void retry_held();
  bool holding() const;

  // Command block: offset 0..7 from 0x1F0 / 0x170. Offset 0 (data) takes
  // 1, 2 or 4 bytes; the others 1.
  uint32_t read_command_block(unsigned offset, unsigned size);
  void write_command_block(unsigned offset, unsigned size, uint32_t value);
  // Control block: alternate status (read) / device control (write).
  uint8_t read_alt_status();
  void write_device_control(uint8_t value);
  // Bus-master registers of this channel: offset 0..7 of its half of BAR4.
  uint32_t read_bus_master(unsigned offset, unsigned size);
  void write_bus_master(unsigned offset, unsigned size, uint32_t value);

  void reset();  // power-on / system reset

  // --- removable media (ide_media.cpp; any thread) ---
  struct MediumState {
    bool cdrom = false;
    bool tray_open = false;
    bool locked = false;  // PREVENT ALLOW MEDIUM REMOVAL
    bool inserted = false;
  };
  // No value when `unit` has no drive.
  std::optional<MediumState> medium(unsigned unit) const;
  // Opens the tray and removes the medium (QEMU's eject). A tray the guest
  // locked stays shut unless `force` (the guest then sees an eject request
  // in GESN): kLocked. kUnsupported for a disk or an absent drive.
  Result<void> eject_medium(unsigned unit, bool force);
  // Opens the tray (refused, kLocked, when the guest locked it), puts
  // `image` in and closes it. `image` must be open read-only.
  Result<void> insert_medium(unsigned unit, std::shared_ptr<block::Image> image);

  // Host I/O errors so far (tests).
  uint64_t io_errors() const { return io_errors_.load(std::memory_order_relaxed); }

 private:
  // What the PIO / DMA data phase of the current command moves.
  enum class Transfer {
    kNone,
    kBufferIn,   // buffer_ to the guest, then done (IDENTIFY, ATAPI replies)
    kAtaRead,    // sectors from the image, block by block
    kAtaWrite,   // sectors to the image, block by block
    kPacket,     // the 12-byte ATAPI command packet from the guest
    kAtapiRead,  // 2048-byte blocks from the CD image
  };
  // What a stop policy held: the step retry_held() runs again.
  enum class Held { kNone, kPioRead, kPioWrite, kDma, kFlush };
  struct Drive {
    bool present = false;
    IdeDriveConfig config;
    std::shared_ptr<virtio::DiskCounters> counters;  // set by attach()
    uint64_t sectors = 0;  // 512-byte sectors (disk) or 2048-byte blocks (CD)
    uint16_t cylinders = 0, heads = 16, sectors_per_track = 63;
    uint8_t status = 0;
    uint8_t error = 0;
    // The reset signature shows in the count/LBA registers while this drive
    // is selected, until a register write or a command (each drive has its
    // own after SRST: a slave CD behind a master disk reads 0x14/0xEB).
    bool signature = false;
    unsigned multiple = kMaxMultipleSectors;  // 0: READ/WRITE MULTIPLE refused
    bool write_cache = true;
    // IDENTIFY words 62, 63 and 88: supported and selected DMA modes.
    uint16_t word62 = 0x07, word63 = 0x07, word88 = 0x3F | (1u << 13);
    // ATAPI.
    uint8_t sense_key = 0, asc = 0, ascq = 0;
    bool tray_open = false, locked = false;
    bool media_event = false;  // an eject/load not yet reported by GESN
    uint8_t media_event_code = 0;
    // Host media change (QEMU's cdrom_changed): 1 = report NOT READY on
    // the next command, 2 = then UNIT ATTENTION, 0 = nothing pending.
    uint8_t media_changed = 0;
  };
  struct TaskFile {
    uint8_t feature = 0, count = 0, lba_low = 0, lba_mid = 0, lba_high = 0;
    uint8_t hob_feature = 0, hob_count = 0, hob_lba_low = 0, hob_lba_mid = 0, hob_lba_high = 0;
    uint8_t device = 0xA0;
    uint8_t control = 0;
  };

  Drive& selected() { return drives_[(task_.device >> 4) & 1]; }
  Drive& active() { return drives_[active_]; }
  void set_irq();
  void clear_irq();
  void update_line();
  bool interrupts_enabled() const { return (task_.control & 0x02) == 0; }

  // ide_bus.cpp: PIO and DMA engines.
  uint32_t read_data(unsigned size);
  void write_data(unsigned size, uint32_t value);
  // Starts a PIO data-in block of buffer_[0, length).
  void start_pio_in(uint32_t length, bool interrupt);
  void start_pio_out(uint32_t length, bool interrupt);
  void pio_block_done();
  // A DMA command is ready: it runs once the bus master is started.
  void start_dma(Transfer transfer);
  void run_dma();
  // Moves `length` bytes between the image at `offset` (or buffer_ when
  // image is null) and the guest buffers of the PRD table. False (and
  // bm_status_ error) on a bad or short table; `io_failed` on a host error.
  bool dma_transfer(block::Image* image, uint64_t offset, uint64_t length, bool to_guest,
                    bool& io_failed, Error& io_error);
  void reset_drive(Drive& drive, bool soft);
  void set_signature(Drive& drive);
  void command_done(Drive& drive);
  void command_abort(Drive& drive, uint8_t error = kAtaAbrt);
  // Accounts one image call of `bytes` that started at `start_ns`; with
  // `error` (null: it worked) applies the policy. False: carry on (it
  // worked, or failed under ignore); true: the command ended with an
  // error, or is held as `retry` (stop).
  bool io_failed(Drive& drive, virtio::BlkOperation op, const Error* error, uint64_t bytes,
                 uint64_t start_ns, Held retry);
  void flush_cache(Drive& drive);

  // ide_ata.cpp.
  void execute(uint8_t command);
  void identify(Drive& drive);
  uint64_t command_lba(bool lba48) const;
  uint32_t command_count(bool lba48) const;
  void start_read_write(Drive& drive, uint8_t command, bool lba48, bool write, bool dma,
                        unsigned block_sectors);
  void load_read_block(Drive& drive);
  void set_features(Drive& drive);
  void set_lba_registers(uint64_t lba, bool lba48);

  // ide_atapi.cpp.
  void identify_packet(Drive& drive);
  void execute_packet(Drive& drive);
  void atapi_reply(Drive& drive, uint32_t length, uint32_t allocation);
  void atapi_error(Drive& drive, uint8_t key, uint8_t asc, uint8_t ascq = 0);
  void atapi_done(Drive& drive);
  void atapi_check_status(Drive& drive);
  bool atapi_media_ready(Drive& drive);
  void atapi_start_read(Drive& drive, uint64_t lba, uint64_t blocks);
  uint32_t atapi_chunk_limit() const;
  void atapi_load_read_chunk(Drive& drive);
  uint32_t atapi_read_toc(Drive& drive, const uint8_t* cdb);
  uint32_t atapi_mode_sense(Drive& drive, const uint8_t* cdb, bool& failed);
  uint32_t atapi_event_status(Drive& drive, const uint8_t* cdb, bool& failed);
  uint32_t atapi_configuration(Drive& drive);
  void atapi_start_stop(Drive& drive, const uint8_t* cdb);

  const unsigned index_;
  const GuestMemory& memory_;
  IrqSink irq_;
  mutable std::mutex mutex_;
  std::array<Drive, 2> drives_{};
  TaskFile task_;
  bool irq_pending_ = false;
  bool line_ = false;
  bool in_reset_ = false;
  unsigned active_ = 0;  // the drive running the current command

  // Data phase.
  Transfer transfer_ = Transfer::kNone;
  bool transfer_out_ = false;
  std::vector<uint8_t> buffer_;  // the current DRQ block (or DMA bounce buffer)
  uint32_t pos_ = 0, block_len_ = 0;
  uint64_t next_lba_ = 0;       // ATA: next sector; ATAPI: next block
  uint64_t remaining_ = 0;      // sectors (ATA) / blocks (ATAPI) after this block
  unsigned block_sectors_ = 1;  // ATA PIO sectors per DRQ block
  bool lba48_ = false;
  std::array<uint8_t, 12> packet_{};
  bool atapi_dma_ = false;   // PACKET with features bit 0: data over DMA
  uint32_t byte_limit_ = 0;  // PACKET's byte count limit (cylinder registers)
  bool dma_pending_ = false;
  Transfer dma_transfer_ = Transfer::kNone;
  uint64_t dma_lba_ = 0, dma_count_ = 0;  // ATA sectors / ATAPI blocks
  uint32_t dma_buffer_len_ = 0;           // kBufferIn over DMA

  // Bus master.
  uint8_t bm_command_ = 0;
  uint8_t bm_status_ = 0;
  uint32_t bm_prd_ = 0;

  Held held_ = Held::kNone;

  std::atomic<uint64_t> io_errors_{0};
};

}  // namespace amber::hv::devices
