// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/devices/floppy.h"

#include <algorithm>

namespace amber::hv::devices {
namespace {

// Register offsets from 0x3F0.
constexpr unsigned kSra = 0, kSrb = 1, kDor = 2, kTdr = 3, kMsr = 4, kFifo = 5, kDir = 7;
constexpr uint8_t kDorReset = 0x04, kDorDma = 0x08;  // nRESET, DMA enable
constexpr uint8_t kMsrRqm = 0x80, kMsrDio = 0x40, kMsrBusy = 0x10;
constexpr uint8_t kDsrReset = 0x80, kDsrPowerDown = 0x40;
constexpr uint8_t kSraIntPending = 0x80, kSraNoDrive2 = 0x40;
constexpr uint8_t kSt0Invalid = 0x80, kSt0Abnormal = 0x40, kSt0Seek = 0x20, kSt0ReadyChange = 0xC0;
constexpr uint8_t kSt1EndOfCylinder = 0x80;
constexpr unsigned kResetSenseCount = 4;  // one ready change per drive select
// What fd_init gives a drive: the disk-change line is active.
constexpr uint8_t kDirDiskChange = 0x80;
// QEMU's defaults: implied seeks, FIFO and polling off (CONFIGURE 0x60).
constexpr uint8_t kDefaultConfig = 0x60;

enum class Kind {
  kTransfer,  // READ, WRITE, VERIFY, SCAN...: ends at once, no medium
  kFormat,
  kReadId,
  kSeek,
  kRecalibrate,
  kRelativeSeek,
  kSenseInterrupt,
  kSenseDrive,
  kSpecify,
  kConfigure,
  kDumpreg,
  kVersion,
  kLock,
  kPartId,
  kPerpendicular,
  kPowerdown,
  kOption,
  kSave,
  kRestore,
  kInvalid,
};

struct Command {
  uint8_t value, mask;
  unsigned parameters;
  Kind kind;
};

// QEMU's command table, in its order of precedence (the first match wins).
constexpr Command kCommands[] = {
    {0x06, 0x1F, 8, Kind::kTransfer},        // READ
    {0x05, 0x3F, 8, Kind::kTransfer},        // WRITE
    {0x0F, 0xFF, 2, Kind::kSeek},            // SEEK
    {0x08, 0xFF, 0, Kind::kSenseInterrupt},  // SENSE INTERRUPT STATUS
    {0x07, 0xFF, 1, Kind::kRecalibrate},     // RECALIBRATE
    {0x0D, 0xBF, 5, Kind::kFormat},          // FORMAT TRACK
    {0x02, 0xBF, 8, Kind::kTransfer},        // READ TRACK
    {0x4E, 0xFF, 17, Kind::kRestore},        // RESTORE
    {0x2E, 0xFF, 0, Kind::kSave},            // SAVE
    {0x0C, 0x1F, 8, Kind::kTransfer},        // READ DELETED DATA
    {0x11, 0x1F, 8, Kind::kTransfer},        // SCAN EQUAL
    {0x16, 0x1F, 8, Kind::kTransfer},        // VERIFY
    {0x19, 0x1F, 8, Kind::kTransfer},        // SCAN LOW OR EQUAL
    {0x1D, 0x1F, 8, Kind::kTransfer},        // SCAN HIGH OR EQUAL
    {0x09, 0x3F, 8, Kind::kTransfer},        // WRITE DELETED DATA
    {0x0A, 0xBF, 1, Kind::kReadId},          // READ ID
    {0x03, 0xFF, 2, Kind::kSpecify},         // SPECIFY
    {0x04, 0xFF, 1, Kind::kSenseDrive},      // SENSE DRIVE STATUS
    {0x12, 0xFF, 1, Kind::kPerpendicular},   // PERPENDICULAR MODE
    {0x13, 0xFF, 3, Kind::kConfigure},       // CONFIGURE
    {0x17, 0xFF, 2, Kind::kPowerdown},       // POWERDOWN MODE
    {0x33, 0xFF, 1, Kind::kOption},          // OPTION
    {0x8F, 0xFF, 2, Kind::kRelativeSeek},    // RELATIVE SEEK OUT
    {0xCD, 0xFF, 10, Kind::kInvalid},        // FORMAT AND WRITE (unimplemented there)
    {0xCF, 0xFF, 2, Kind::kRelativeSeek},    // RELATIVE SEEK IN
    {0x14, 0x7F, 0, Kind::kLock},            // LOCK
    {0x0E, 0xFF, 0, Kind::kDumpreg},         // DUMPREG
    {0x10, 0xFF, 0, Kind::kVersion},         // VERSION
    {0x18, 0xFF, 0, Kind::kPartId},          // PART ID
    {0x05, 0x1F, 8, Kind::kTransfer},        // WRITE (as BeOS sends it)
};

const Command& lookup(uint8_t byte) {
  static constexpr Command kUnknown{0, 0, 0, Kind::kInvalid};
  for (const Command& c : kCommands)
    if ((byte & c.mask) == c.value) return c;
  return kUnknown;
}

}  // namespace

FloppyController::FloppyController(IrqSink irq) : irq_(std::move(irq)), config_(kDefaultConfig) {
  std::lock_guard lock(mutex_);
  reset(false);
}

void FloppyController::reset_state() {
  std::lock_guard lock(mutex_);
  reset(false);
}

void FloppyController::io_read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = read_register(static_cast<unsigned>((offset + i) & 7));
}

void FloppyController::io_write(uint64_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < data.size(); ++i)
    write_register(static_cast<unsigned>((offset + i) & 7), data[i]);
}

uint8_t FloppyController::read_register(unsigned offset) {
  switch (offset) {
    case kSra:
      return sra_;
    case kSrb:
      return srb_;
    case kDor:
      return static_cast<uint8_t>(dor_ | current_drive_);
    case kTdr:
      return tdr_;
    case kMsr:
      // As QEMU: reading MSR wakes the chip and leaves the reset state.
      dsr_ &= static_cast<uint8_t>(~kDsrPowerDown);
      dor_ |= kDorReset;
      return msr_;
    case kFifo:
      return read_fifo();
    case kDir:
      return kDirDiskChange;
    default:
      return 0xFF;
  }
}

void FloppyController::write_register(unsigned offset, uint8_t value) {
  switch (offset) {
    case kDor: {
      srb_ = static_cast<uint8_t>((srb_ & ~0x23) | ((value & 0x10) ? 0x01 : 0) |
                                  ((value & 0x20) ? 0x02 : 0) | ((value & 0x01) ? 0x20 : 0));
      const bool leaving_reset = (value & kDorReset) && !(dor_ & kDorReset);
      if (leaving_reset) {
        reset(true);
        dsr_ &= static_cast<uint8_t>(~kDsrPowerDown);
      }
      current_drive_ = value & 1u;
      dor_ = value;
      return;
    }
    case kTdr:
      if (dor_ & kDorReset) tdr_ = value & 0x04;
      return;
    case kMsr:  // DSR
      if (!(dor_ & kDorReset)) return;
      if (value & kDsrReset) {
        dor_ &= static_cast<uint8_t>(~kDorReset);
        reset(true);
        dor_ |= kDorReset;
      }
      if (value & kDsrPowerDown) reset(true);
      dsr_ = value;
      return;
    case kFifo:
      write_fifo(value);
      return;
    case kDir:  // CCR: the data rate, kept in DSR
      if (dor_ & kDorReset) dsr_ = static_cast<uint8_t>((dsr_ & ~0x03) | (value & 0x03));
      return;
    default:
      return;
  }
}

void FloppyController::raise_irq() {
  if (!(sra_ & kSraIntPending)) {
    sra_ |= kSraIntPending;
    if (irq_) irq_(true);
  }
  reset_sense_ = 0;
}

void FloppyController::lower_irq() {
  status0_ = 0;
  if (!(sra_ & kSraIntPending)) return;
  sra_ &= static_cast<uint8_t>(~kSraIntPending);
  if (irq_) irq_(false);
}

void FloppyController::reset(bool interrupt) {
  lower_irq();
  sra_ = kSraNoDrive2;
  srb_ = 0xC0;
  current_drive_ = 0;
  dor_ = kDorReset | kDorDma;
  msr_ = kMsrRqm;
  reset_sense_ = 0;
  command_phase();
  if (interrupt) {
    status0_ |= kSt0ReadyChange;
    raise_irq();
    reset_sense_ = kResetSenseCount;
  }
}

void FloppyController::command_phase() {
  phase_ = Phase::kCommand;
  fifo_pos_ = 0;
  fifo_len_ = 1;
  msr_ = static_cast<uint8_t>((msr_ & ~(kMsrBusy | kMsrDio)) | kMsrRqm);
}

void FloppyController::result(std::initializer_list<uint8_t> bytes) {
  std::copy(bytes.begin(), bytes.end(), fifo_.begin());
  phase_ = Phase::kResult;
  fifo_pos_ = 0;
  fifo_len_ = static_cast<unsigned>(bytes.size());
  msr_ |= kMsrBusy | kMsrRqm | kMsrDio;
}

uint8_t FloppyController::read_fifo() {
  if (!(msr_ & kMsrRqm) || !(msr_ & kMsrDio)) return 0;
  const uint8_t value = fifo_[fifo_pos_ % fifo_.size()];
  if (++fifo_pos_ >= fifo_len_) {
    command_phase();
    lower_irq();
  }
  return value;
}

void FloppyController::write_fifo(uint8_t value) {
  if (!(dor_ & kDorReset)) return;
  if (!(msr_ & kMsrRqm) || (msr_ & kMsrDio)) return;
  dsr_ &= static_cast<uint8_t>(~kDsrPowerDown);
  if (fifo_pos_ == 0) {
    fifo_len_ = lookup(value).parameters + 1;
    msr_ |= kMsrBusy;
  }
  fifo_[fifo_pos_++] = value;  // fifo_len_ <= 18 == fifo_.size()
  if (fifo_pos_ == fifo_len_) execute();
}

void FloppyController::stop_transfer(uint8_t st0, uint8_t st1, uint8_t c, uint8_t h, uint8_t r) {
  status0_ = static_cast<uint8_t>((status0_ & ~0x07) | current_drive_ | st0);
  result({status0_, st1, 0x00, c, h, r, 0x02});
  raise_irq();
}

void FloppyController::execute() {
  const uint8_t* f = fifo_.data();
  switch (lookup(f[0]).kind) {
    case Kind::kTransfer: {
      // No medium: QEMU's seek refuses the track (another cylinder or
      // head: ST1 0) or the sector (cylinder 0, head 0: END OF CYLINDER).
      select(f[1]);
      const uint8_t c = f[2], h = f[3], r = f[4];
      const uint8_t st1 = (c == 0 && h == 0 && r != 0) ? kSt1EndOfCylinder : 0;
      stop_transfer(kSt0Abnormal, st1, c, h, r);
      return;
    }
    case Kind::kFormat:
      select(f[1]);
      last_sector_[current_drive_] = f[3];
      stop_transfer(0, 0, track_[current_drive_], 0, 1);
      return;
    case Kind::kReadId:
      select(f[1]);
      stop_transfer(static_cast<uint8_t>((f[1] & 0x04) ? 0x04 : 0), 0, track_[current_drive_],
                    static_cast<uint8_t>((f[1] >> 2) & 1), 1);
      return;
    case Kind::kSeek:
    case Kind::kRecalibrate:
    case Kind::kRelativeSeek:
      select(f[1]);
      command_phase();
      status0_ |= kSt0Seek;
      raise_irq();
      return;
    case Kind::kSenseInterrupt: {
      uint8_t st0;
      if (reset_sense_ > 0) {
        st0 = static_cast<uint8_t>(kSt0ReadyChange + kResetSenseCount - reset_sense_);
        --reset_sense_;
      } else if (!(sra_ & kSraIntPending)) {
        result({kSt0Invalid});
        return;
      } else {
        st0 = static_cast<uint8_t>((status0_ & ~0x07) | current_drive_);
      }
      result({st0, track_[current_drive_]});
      lower_irq();
      status0_ = kSt0ReadyChange;
      return;
    }
    case Kind::kSenseDrive:
      select(f[1]);
      // Read-only (no medium), track 0 when there, the head, the select.
      result({static_cast<uint8_t>(0x40 | (track_[current_drive_] == 0 ? 0x10 : 0) | (f[1] & 0x04) |
                                   current_drive_ | 0x28)});
      return;
    case Kind::kSpecify:
      timer0_ = static_cast<uint8_t>((f[1] >> 4) & 0xF);
      timer1_ = static_cast<uint8_t>(f[2] >> 1);
      if (f[2] & 1)
        dor_ &= static_cast<uint8_t>(~kDorDma);
      else
        dor_ |= kDorDma;
      command_phase();
      return;
    case Kind::kConfigure:
      config_ = f[2];
      precomp_ = f[3];
      command_phase();
      return;
    case Kind::kDumpreg:
      result({track_[0], track_[1], 0, 0, timer0_,
              static_cast<uint8_t>((timer1_ << 1) | ((dor_ & kDorDma) ? 1 : 0)),
              last_sector_[current_drive_],
              static_cast<uint8_t>((lock_ << 7) | (perpendicular_[current_drive_] << 2)), config_,
              precomp_});
      return;
    case Kind::kVersion:
      result({0x90});  // Intel 82078
      return;
    case Kind::kLock:
      lock_ = (f[0] & 0x80) ? 1 : 0;
      result({static_cast<uint8_t>(lock_ << 4)});
      return;
    case Kind::kPartId:
      result({0x41});  // stepping 1
      return;
    case Kind::kPerpendicular:
      if (f[1] & 0x80) perpendicular_[current_drive_] = f[1] & 0x7;
      command_phase();
      return;
    case Kind::kPowerdown:
      powerdown_ = f[1];
      result({f[1]});
      return;
    case Kind::kOption:
      command_phase();
      return;
    case Kind::kSave:
      result({0, 0, track_[0], track_[1], 0, 0, timer0_, timer1_, last_sector_[current_drive_],
              static_cast<uint8_t>((lock_ << 7) | (perpendicular_[current_drive_] << 2)), config_,
              precomp_, powerdown_, 0, 0});
      return;
    case Kind::kRestore:
      track_[0] = f[3];
      track_[1] = f[4];
      timer0_ = f[7];
      timer1_ = f[8];
      last_sector_[current_drive_] = f[9];
      lock_ = f[10] >> 7;
      perpendicular_[current_drive_] = (f[10] >> 2) & 0xF;
      config_ = f[11];
      precomp_ = f[12];
      powerdown_ = f[13];
      command_phase();
      return;
    case Kind::kInvalid:
      result({kSt0Invalid});
      return;
  }
}

}  // namespace amber::hv::devices
