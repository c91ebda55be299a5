// SPDX-License-Identifier: GPL-2.0-or-later
// IdeBus: task-file registers, PIO data phase, bus-master DMA, resets.
#include "hv/devices/ide_bus.h"

#include <sys/uio.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace amber::hv::devices {
namespace {
constexpr size_t kMaxIovPerCall = 1024;  // IOV_MAX
}  // namespace

IdeBus::IdeBus(unsigned index, const GuestMemory& memory, IrqSink irq)
    : index_(index), memory_(memory), irq_(std::move(irq)) {
  buffer_.resize(64 * 1024);
}

void IdeBus::attach(unsigned unit, IdeDriveConfig config) {
  std::lock_guard lock(mutex_);
  Drive& d = drives_[unit & 1];
  d = Drive{};
  d.present = true;
  d.config = std::move(config);
  d.counters = std::make_shared<virtio::DiskCounters>(d.config.label, d.config.write_error,
                                                      d.config.read_error);
  if (d.config.serial.empty()) {
    char serial[16];
    std::snprintf(serial, sizeof(serial), "QM%05u", index_ * 2 + (unit & 1) + 1);
    d.config.serial = serial;
  }
  if (d.config.kind == IdeMediaKind::kDisk) {
    d.sectors = d.config.image ? d.config.image->size() / 512 : 0;
    // QEMU's guess for a blank disk: 16 heads, 63 sectors, at most 16383
    // cylinders (and at least 2).
    uint64_t cylinders = d.sectors / (16 * 63);
    cylinders = std::clamp<uint64_t>(cylinders, 2, 16383);
    d.cylinders = static_cast<uint16_t>(cylinders);
  } else {
    d.sectors = d.config.image ? d.config.image->size() / 2048 : 0;
  }
  reset_drive(d, false);
}

void IdeBus::set_io_error_sink(unsigned unit, virtio::BlkIoErrorSink sink) {
  std::lock_guard lock(mutex_);
  Drive& d = drives_[unit & 1];
  if (d.counters) d.counters->set_sink(std::move(sink));
}

virtio::BlkStats IdeBus::stats(unsigned unit) const {
  // The pointer is set by attach() before the VM runs; the counters are atomics.
  const Drive& d = drives_[unit & 1];
  return d.counters ? d.counters->stats() : virtio::BlkStats{};
}

bool IdeBus::holding() const {
  std::lock_guard lock(mutex_);
  return held_ != Held::kNone;
}

void IdeBus::retry_held() {
  std::lock_guard lock(mutex_);
  const Held what = held_;
  held_ = Held::kNone;
  Drive& d = active();
  switch (what) {
    case Held::kNone:
      return;
    case Held::kPioRead:
      load_read_block(d);
      return;
    case Held::kPioWrite:
      pio_block_done();
      return;
    case Held::kDma:
      run_dma();
      return;
    case Held::kFlush:
      flush_cache(d);
      return;
  }
}

// --- interrupts ---

void IdeBus::set_irq() {
  irq_pending_ = true;
  // As QEMU: the bus-master interrupt bit follows the IDE line, which nIEN masks.
  if (interrupts_enabled()) bm_status_ |= kBmStatusInterrupt;
  update_line();
}

void IdeBus::clear_irq() {
  irq_pending_ = false;
  update_line();
}

void IdeBus::update_line() {
  const bool level = irq_pending_ && interrupts_enabled();
  if (level == line_) return;
  line_ = level;
  if (irq_) irq_(level);
}

// --- registers ---

uint32_t IdeBus::read_command_block(unsigned offset, unsigned size) {
  std::lock_guard lock(mutex_);
  if (offset == 0) return read_data(size);
  const bool any = drives_[0].present || drives_[1].present;
  const bool hob = (task_.control & 0x80) != 0;
  Drive& d = selected();
  if (d.signature && !hob && offset >= 2 && offset <= 5) {
    const bool cd = d.config.kind == IdeMediaKind::kCdrom;
    static constexpr uint8_t kAta[] = {1, 1, 0x00, 0x00}, kAtapi[] = {1, 1, 0x14, 0xEB};
    return (cd ? kAtapi : kAta)[offset - 2];
  }
  switch (offset) {
    case 1:
      if (!any) return 0;
      return hob ? task_.hob_feature : d.error;
    case 2:
      if (!any) return 0;
      return hob ? task_.hob_count : task_.count;
    case 3:
      if (!any) return 0;
      return hob ? task_.hob_lba_low : task_.lba_low;
    case 4:
      if (!any) return 0;
      return hob ? task_.hob_lba_mid : task_.lba_mid;
    case 5:
      if (!any) return 0;
      return hob ? task_.hob_lba_high : task_.lba_high;
    case 6:
      if (!any) return 0;
      return task_.device;
    default: {
      const uint8_t status = d.present ? d.status : 0;
      clear_irq();
      return status;
    }
  }
}

void IdeBus::write_command_block(unsigned offset, unsigned size, uint32_t value) {
  std::lock_guard lock(mutex_);
  if (offset == 0) {
    write_data(size, value);
    return;
  }
  const auto v = static_cast<uint8_t>(value);
  task_.control &= 0x7F;  // any register write clears HOB
  if (offset >= 2 && offset <= 5)
    for (Drive& d : drives_) d.signature = false;
  switch (offset) {
    case 1:
      task_.hob_feature = task_.feature;
      task_.feature = v;
      break;
    case 2:
      task_.hob_count = task_.count;
      task_.count = v;
      break;
    case 3:
      task_.hob_lba_low = task_.lba_low;
      task_.lba_low = v;
      break;
    case 4:
      task_.hob_lba_mid = task_.lba_mid;
      task_.lba_mid = v;
      break;
    case 5:
      task_.hob_lba_high = task_.lba_high;
      task_.lba_high = v;
      break;
    case 6:
      task_.device = v | 0xA0;
      break;
    default:
      execute(v);
      break;
  }
}

uint8_t IdeBus::read_alt_status() {
  std::lock_guard lock(mutex_);
  Drive& d = selected();
  return d.present ? d.status : 0;
}

void IdeBus::write_device_control(uint8_t value) {
  std::lock_guard lock(mutex_);
  const bool srst = (value & 0x04) != 0;
  const bool was = (task_.control & 0x04) != 0;
  task_.control = value;
  if (srst && !was) {
    // Reset asserted: both drives busy, any transfer dropped.
    for (Drive& d : drives_)
      if (d.present) d.status = kAtaBsy | kAtaDsc;
    transfer_ = Transfer::kNone;
    dma_pending_ = false;
    in_reset_ = true;
  } else if (!srst && was) {
    for (Drive& d : drives_)
      if (d.present) reset_drive(d, true);
    in_reset_ = false;
  }
  update_line();
}

// --- resets ---

void IdeBus::set_signature(Drive& drive) {
  drive.signature = drive.present;
  task_.count = 1;
  task_.lba_low = 1;
  if (drive.config.kind == IdeMediaKind::kCdrom) {
    task_.lba_mid = 0x14;
    task_.lba_high = 0xEB;
  } else if (drive.present) {
    task_.lba_mid = 0;
    task_.lba_high = 0;
  } else {
    task_.lba_mid = 0xFF;
    task_.lba_high = 0xFF;
  }
}

void IdeBus::reset_drive(Drive& d, bool soft) {
  d.multiple = kMaxMultipleSectors;
  d.write_cache = d.config.write_cache;
  d.sense_key = d.asc = d.ascq = 0;
  d.error = soft ? 0x01 : 0x00;
  // After SRST / DEVICE RESET a packet device does not set DRDY (ATAPI);
  // at power-on QEMU shows DRDY|DSC for both kinds.
  d.status = soft && d.config.kind == IdeMediaKind::kCdrom ? 0 : kAtaDrdy | kAtaDsc;
  d.word62 = 0x07;
  d.word63 = 0x07;
  d.word88 = 0x3F | (1u << 13);
  if (!soft) {
    d.locked = false;
    d.tray_open = false;
    d.media_event = false;
  }
  if (&d == &drives_[0] || !drives_[0].present) {
    task_.device = 0xA0;
    set_signature(d);
  }
  d.signature = d.present;
  transfer_ = Transfer::kNone;
  dma_pending_ = false;
  held_ = Held::kNone;
}

void IdeBus::reset() {
  std::lock_guard lock(mutex_);
  task_ = TaskFile{};
  bm_command_ = 0;
  bm_status_ = 0;
  bm_prd_ = 0;
  for (Drive& d : drives_)
    if (d.present) reset_drive(d, false);
  set_signature(drives_[0]);
  task_.device = 0xA0;
  in_reset_ = false;
  irq_pending_ = false;
  update_line();
}

// --- command completion ---

void IdeBus::command_done(Drive& drive) {
  drive.status = kAtaDrdy | kAtaDsc;
  transfer_ = Transfer::kNone;
  set_irq();
}

void IdeBus::command_abort(Drive& drive, uint8_t error) {
  drive.status = kAtaDrdy | kAtaErr;
  drive.error = error;
  transfer_ = Transfer::kNone;
  dma_pending_ = false;
  set_irq();
}

bool IdeBus::io_failed(Drive& drive, virtio::BlkOperation op, const Error* error, uint64_t bytes,
                       uint64_t start_ns, Held retry) {
  using virtio::BlkErrorAction;
  using virtio::DiskCounter;
  const DiskCounter counter = op == virtio::BlkOperation::kRead    ? DiskCounter::kRead
                              : op == virtio::BlkOperation::kWrite ? DiskCounter::kWrite
                                                                   : DiskCounter::kFlush;
  if (error == nullptr) {
    drive.counters->record(counter, bytes, start_ns, true);
    return false;
  }
  io_errors_.fetch_add(1, std::memory_order_relaxed);
  const bool cdrom = drive.config.kind == IdeMediaKind::kCdrom;
  const BlkErrorAction action = cdrom ? drive.counters->host_error_report(op, *error)
                                      : drive.counters->host_error(op, *error);
  switch (action) {
    case BlkErrorAction::kIgnore:
      drive.counters->record(counter, 0, start_ns, true);
      return false;
    case BlkErrorAction::kStop:
      held_ = retry;
      drive.status = kAtaBsy | kAtaDrdy;
      return true;
    case BlkErrorAction::kReport:
      break;
  }
  drive.counters->record(counter, 0, start_ns, false);
  if (cdrom)
    atapi_error(drive, 0x03, 0x11);  // MEDIUM ERROR, unrecovered read error
  else
    command_abort(drive, op == virtio::BlkOperation::kRead ? kAtaUnc : kAtaAbrt);
  return true;
}

void IdeBus::flush_cache(Drive& d) {
  const uint64_t start_ns = virtio::disk_clock_ns();
  const Result<void> flushed = d.config.image->flush();
  if (io_failed(d, virtio::BlkOperation::kFlush, flushed.ok() ? nullptr : &flushed.error(), 0,
                start_ns, Held::kFlush))
    return;
  command_done(d);
}

// --- PIO ---

void IdeBus::start_pio_in(uint32_t length, bool interrupt) {
  transfer_out_ = false;
  pos_ = 0;
  block_len_ = length;
  active().status = kAtaDrdy | kAtaDsc | kAtaDrq;
  if (interrupt) set_irq();
}

void IdeBus::start_pio_out(uint32_t length, bool interrupt) {
  transfer_out_ = true;
  pos_ = 0;
  block_len_ = length;
  active().status = kAtaDrdy | kAtaDsc | kAtaDrq;
  if (interrupt) set_irq();
}

uint32_t IdeBus::read_data(unsigned size) {
  if (transfer_ == Transfer::kNone || transfer_out_ || pos_ >= block_len_)
    return size == 4 ? 0xFFFFFFFFu : size == 2 ? 0xFFFFu : 0xFFu;
  uint32_t value = 0;
  const unsigned n = std::min<unsigned>(size, block_len_ - pos_);
  for (unsigned i = 0; i < n; ++i) value |= static_cast<uint32_t>(buffer_[pos_ + i]) << (8 * i);
  pos_ += n;
  if (pos_ >= block_len_) pio_block_done();
  return value;
}

void IdeBus::write_data(unsigned size, uint32_t value) {
  if (transfer_ == Transfer::kNone || !transfer_out_ || pos_ >= block_len_) return;
  const unsigned n = std::min<unsigned>(size, block_len_ - pos_);
  for (unsigned i = 0; i < n; ++i) buffer_[pos_ + i] = static_cast<uint8_t>(value >> (8 * i));
  pos_ += n;
  if (pos_ >= block_len_) pio_block_done();
}

void IdeBus::pio_block_done() {
  Drive& d = active();
  switch (transfer_) {
    case Transfer::kBufferIn:
      if (d.config.kind == IdeMediaKind::kCdrom) {
        atapi_done(d);
      } else {
        d.status = kAtaDrdy | kAtaDsc;
        transfer_ = Transfer::kNone;
      }
      return;
    case Transfer::kAtaRead:
      if (remaining_ > 0) {
        load_read_block(d);
      } else {
        d.status = kAtaDrdy | kAtaDsc;
        transfer_ = Transfer::kNone;
      }
      return;
    case Transfer::kAtaWrite: {
      const uint32_t sectors = block_len_ / 512;
      const iovec iov{buffer_.data(), block_len_};
      const uint64_t start_ns = virtio::disk_clock_ns();
      auto written = d.config.image->writev(next_lba_ * 512, std::span(&iov, 1));
      if (written.ok() && !d.write_cache) written = d.config.image->flush();
      if (io_failed(d, virtio::BlkOperation::kWrite, written.ok() ? nullptr : &written.error(),
                    block_len_, start_ns, Held::kPioWrite))
        return;
      next_lba_ += sectors;
      remaining_ -= sectors;
      set_lba_registers(next_lba_ - 1, lba48_);
      if (remaining_ == 0) {
        command_done(d);
        return;
      }
      start_pio_out(static_cast<uint32_t>(std::min<uint64_t>(remaining_, block_sectors_)) * 512,
                    true);
      return;
    }
    case Transfer::kPacket:
      std::memcpy(packet_.data(), buffer_.data(), packet_.size());
      execute_packet(d);
      return;
    case Transfer::kAtapiRead:
      if (remaining_ > 0)
        atapi_load_read_chunk(d);
      else
        atapi_done(d);
      return;
    case Transfer::kNone:
      return;
  }
}

// --- bus-master DMA ---

uint32_t IdeBus::read_bus_master(unsigned offset, unsigned size) {
  std::lock_guard lock(mutex_);
  uint32_t value = 0;
  for (unsigned i = 0; i < size; ++i) {
    const unsigned at = offset + i;
    uint8_t byte = 0;
    if (at == 0)
      byte = bm_command_;
    else if (at == 2)
      byte = bm_status_;
    else if (at >= 4 && at < 8)
      byte = static_cast<uint8_t>(bm_prd_ >> (8 * (at - 4)));
    value |= static_cast<uint32_t>(byte) << (8 * i);
  }
  return value;
}

void IdeBus::write_bus_master(unsigned offset, unsigned size, uint32_t value) {
  std::lock_guard lock(mutex_);
  for (unsigned i = 0; i < size; ++i) {
    const unsigned at = offset + i;
    const auto byte = static_cast<uint8_t>(value >> (8 * i));
    if (at == 0) {
      const bool start = (byte & kBmCommandStart) != 0;
      const bool was = (bm_command_ & kBmCommandStart) != 0;
      bm_command_ = byte & (kBmCommandStart | kBmCommandToMemory);
      if (start && !was) {
        bm_status_ |= kBmStatusActive;
        if (dma_pending_) run_dma();
      } else if (!start && was) {
        bm_status_ &= static_cast<uint8_t>(~kBmStatusActive);
      }
    } else if (at == 2) {
      // Bits 5/6 (drive DMA capable) are plain storage; 1/2 write-1-to-clear.
      bm_status_ =
          static_cast<uint8_t>((bm_status_ & kBmStatusActive) | (byte & 0x60) |
                               (bm_status_ & ~byte & (kBmStatusError | kBmStatusInterrupt)));
    } else if (at >= 4 && at < 8) {
      const unsigned shift = 8 * (at - 4);
      bm_prd_ = (bm_prd_ & ~(0xFFu << shift)) | (static_cast<uint32_t>(byte) << shift);
      bm_prd_ &= ~3u;
    }
  }
}

void IdeBus::start_dma(Transfer transfer) {
  dma_transfer_ = transfer;
  dma_pending_ = true;
  transfer_ = Transfer::kNone;
  active().status = kAtaDrdy | kAtaDsc | kAtaDrq;
  if (bm_command_ & kBmCommandStart) run_dma();
}

bool IdeBus::dma_transfer(block::Image* image, uint64_t offset, uint64_t length, bool to_guest,
                          bool& io_failed, Error& io_error) {
  io_failed = false;
  std::vector<iovec> iov;
  uint64_t left = length;
  uint32_t entry = bm_prd_;
  for (unsigned i = 0; i < kMaxPrdEntries && left > 0; ++i) {
    uint8_t raw[8];
    if (!memory_.read(entry, raw, sizeof(raw))) return false;
    const uint32_t base =
        (raw[0] | raw[1] << 8 | raw[2] << 16 | static_cast<uint32_t>(raw[3]) << 24) & ~1u;
    uint32_t count = (raw[4] | raw[5] << 8) & 0xFFFE;
    if (count == 0) count = 0x10000;
    const bool end = (raw[7] & 0x80) != 0;
    const uint64_t take = std::min<uint64_t>(count, left);
    uint8_t* host = memory_.translate(base, take);
    if (host == nullptr) return false;
    iov.push_back({host, static_cast<size_t>(take)});
    left -= take;
    if (end) break;
    entry += 8;
    if ((entry & 0xFFFF) == 0) break;  // a table never crosses 64 KiB
  }
  if (left > 0) return false;  // the table describes fewer bytes than the command moves
  uint64_t at = offset;
  for (size_t first = 0; first < iov.size(); first += kMaxIovPerCall) {
    const size_t n = std::min(kMaxIovPerCall, iov.size() - first);
    const std::span<const iovec> part(iov.data() + first, n);
    uint64_t bytes = 0;
    for (const iovec& v : part) bytes += v.iov_len;
    if (image == nullptr) {
      for (const iovec& v : part) {
        std::memcpy(v.iov_base, buffer_.data() + (at - offset), v.iov_len);
        at += v.iov_len;
      }
      continue;
    }
    auto done = to_guest ? image->readv(at, part) : image->writev(at, part);
    if (!done.ok()) {
      io_failed = true;
      io_error = std::move(done).error();
      return true;
    }
    at += bytes;
  }
  return true;
}

void IdeBus::run_dma() {
  dma_pending_ = false;
  Drive& d = active();
  bool io_failed_call = false;
  Error io_error(ErrorKind::kIo, "");
  bool table_ok = false;
  virtio::BlkOperation op = virtio::BlkOperation::kRead;
  if (dma_transfer_ == Transfer::kAtapiRead &&
      (!d.config.image || d.tray_open || dma_lba_ > d.sectors ||
       dma_count_ > d.sectors - dma_lba_)) {
    // The medium was changed or ejected between the packet and the start.
    bm_status_ &= static_cast<uint8_t>(~kBmStatusActive);
    atapi_error(d, 0x02, 0x3A);  // NOT READY, medium not present
    return;
  }
  if ((dma_transfer_ == Transfer::kAtaRead || dma_transfer_ == Transfer::kAtaWrite) &&
      !d.config.image) {
    bm_status_ &= static_cast<uint8_t>(~kBmStatusActive);
    command_abort(d);
    return;
  }
  const uint64_t start_ns = virtio::disk_clock_ns();
  switch (dma_transfer_) {
    case Transfer::kAtaRead:
      table_ok = dma_transfer(d.config.image.get(), dma_lba_ * 512, dma_count_ * 512, true,
                              io_failed_call, io_error);
      break;
    case Transfer::kAtaWrite:
      op = virtio::BlkOperation::kWrite;
      table_ok = dma_transfer(d.config.image.get(), dma_lba_ * 512, dma_count_ * 512, false,
                              io_failed_call, io_error);
      if (table_ok && !io_failed_call && !d.write_cache) {
        auto flushed = d.config.image->flush();
        if (!flushed.ok()) {
          io_failed_call = true;
          io_error = std::move(flushed).error();
        }
      }
      break;
    case Transfer::kAtapiRead:
      table_ok = dma_transfer(d.config.image.get(), dma_lba_ * 2048, dma_count_ * 2048, true,
                              io_failed_call, io_error);
      break;
    case Transfer::kBufferIn:
      table_ok = dma_transfer(nullptr, 0, dma_buffer_len_, true, io_failed_call, io_error);
      break;
    default:
      return;
  }
  if (table_ok && dma_transfer_ != Transfer::kBufferIn) {
    const uint64_t unit = dma_transfer_ == Transfer::kAtapiRead ? 2048 : 512;
    if (io_failed(d, op, io_failed_call ? &io_error : nullptr, dma_count_ * unit, start_ns,
                  Held::kDma)) {
      // Held: the bus master stays active until the retry ends the transfer.
      if (held_ == Held::kNone) bm_status_ &= static_cast<uint8_t>(~kBmStatusActive);
      return;
    }
  }
  bm_status_ &= static_cast<uint8_t>(~kBmStatusActive);
  if (!table_ok) {
    bm_status_ |= kBmStatusError;
    if (d.config.kind == IdeMediaKind::kCdrom)
      atapi_error(d, 0x05, 0x24);  // ILLEGAL REQUEST, invalid field
    else
      command_abort(d);
    return;
  }
  if (d.config.kind == IdeMediaKind::kCdrom) {
    atapi_done(d);
  } else {
    set_lba_registers(dma_lba_ + dma_count_ - 1, lba48_);
    command_done(d);
  }
}

}  // namespace amber::hv::devices
