// SPDX-License-Identifier: GPL-2.0-or-later
// IdeBus: ATA command set (IDENTIFY, READ/WRITE SECTORS/MULTIPLE/DMA in
// LBA28, LBA48 and CHS, FLUSH CACHE, SET FEATURES, ...) as QEMU's
// hw/ide/core.c answers it.
#include <sys/uio.h>

#include <algorithm>
#include <cstring>

#include "hv/devices/ide_bus.h"

namespace amber::hv::devices {
using ide_detail::put16;
using ide_detail::put_string;

void IdeBus::identify(Drive& d) {
  uint8_t* p = buffer_.data();
  std::memset(p, 0, 512);
  const uint64_t lba28 = std::min<uint64_t>(d.sectors, 0x0FFFFFFF);
  const uint32_t chs = static_cast<uint32_t>(d.cylinders) * d.heads * d.sectors_per_track;
  put16(p, 0, 0x0040);
  put16(p, 1, d.cylinders);
  put16(p, 3, d.heads);
  put16(p, 4, static_cast<uint16_t>(512 * d.sectors_per_track));
  put16(p, 5, 512);
  put16(p, 6, d.sectors_per_track);
  put_string(p, 10, d.config.serial, 20);
  put16(p, 20, 3);
  put16(p, 21, 512);
  put16(p, 22, 4);
  put_string(p, 23, "2.5+", 8);
  put_string(p, 27, "QEMU HARDDISK", 40);
  put16(p, 47, 0x8000 | kMaxMultipleSectors);
  put16(p, 48, 1);
  put16(p, 49, (1u << 11) | (1u << 9) | (1u << 8));
  put16(p, 51, 0x200);
  put16(p, 52, 0x200);
  put16(p, 53, 1 | (1u << 1) | (1u << 2));
  put16(p, 54, d.cylinders);
  put16(p, 55, d.heads);
  put16(p, 56, d.sectors_per_track);
  put16(p, 57, static_cast<uint16_t>(chs));
  put16(p, 58, static_cast<uint16_t>(chs >> 16));
  if (d.multiple != 0) put16(p, 59, static_cast<uint16_t>(0x100 | d.multiple));
  put16(p, 60, static_cast<uint16_t>(lba28));
  put16(p, 61, static_cast<uint16_t>(lba28 >> 16));
  put16(p, 62, d.word62);
  put16(p, 63, d.word63);
  put16(p, 64, 0x03);
  put16(p, 65, 120);
  put16(p, 66, 120);
  put16(p, 67, 120);
  put16(p, 68, 120);
  put16(p, 80, 0xF0);  // ATA-4 .. ATA-7
  put16(p, 81, 0x16);
  put16(p, 82, (1u << 14) | (1u << 5) | 1);                         // NOP, write cache, SMART
  put16(p, 83, (1u << 14) | (1u << 13) | (1u << 12) | (1u << 10));  // FLUSH EXT, FLUSH, LBA48
  put16(p, 84, 1u << 14);
  put16(p, 85, static_cast<uint16_t>((1u << 14) | (d.write_cache ? 1u << 5 : 0) | 1));
  put16(p, 86, (1u << 13) | (1u << 12) | (1u << 10));
  put16(p, 87, 1u << 14);
  put16(p, 88, d.word88);
  put16(p, 93, 1 | (1u << 14) | 0x2000);
  for (unsigned i = 0; i < 4; ++i) put16(p, 100 + i, static_cast<uint16_t>(d.sectors >> (16 * i)));
  put16(p, 106, 0x6000);
}

uint64_t IdeBus::command_lba(bool lba48) const {
  if (lba48)
    return static_cast<uint64_t>(task_.lba_low) | static_cast<uint64_t>(task_.lba_mid) << 8 |
           static_cast<uint64_t>(task_.lba_high) << 16 |
           static_cast<uint64_t>(task_.hob_lba_low) << 24 |
           static_cast<uint64_t>(task_.hob_lba_mid) << 32 |
           static_cast<uint64_t>(task_.hob_lba_high) << 40;
  if (task_.device & 0x40)
    return static_cast<uint64_t>(task_.lba_low) | static_cast<uint64_t>(task_.lba_mid) << 8 |
           static_cast<uint64_t>(task_.lba_high) << 16 |
           static_cast<uint64_t>(task_.device & 0x0F) << 24;
  // CHS with the current translation.
  const Drive& d = drives_[active_];
  const unsigned cylinder = task_.lba_mid | task_.lba_high << 8;
  const unsigned head = task_.device & 0x0F;
  const unsigned sector = task_.lba_low;
  if (sector == 0 || sector > d.sectors_per_track || head >= d.heads) return UINT64_MAX;
  return (static_cast<uint64_t>(cylinder) * d.heads + head) * d.sectors_per_track + sector - 1;
}

uint32_t IdeBus::command_count(bool lba48) const {
  if (lba48) {
    const uint32_t n = task_.count | task_.hob_count << 8;
    return n == 0 ? 65536 : n;
  }
  return task_.count == 0 ? 256 : task_.count;
}

void IdeBus::set_lba_registers(uint64_t lba, bool lba48) {
  if (lba48) {
    task_.lba_low = static_cast<uint8_t>(lba);
    task_.lba_mid = static_cast<uint8_t>(lba >> 8);
    task_.lba_high = static_cast<uint8_t>(lba >> 16);
    task_.hob_lba_low = static_cast<uint8_t>(lba >> 24);
    task_.hob_lba_mid = static_cast<uint8_t>(lba >> 32);
    task_.hob_lba_high = static_cast<uint8_t>(lba >> 40);
  } else if (task_.device & 0x40) {
    task_.lba_low = static_cast<uint8_t>(lba);
    task_.lba_mid = static_cast<uint8_t>(lba >> 8);
    task_.lba_high = static_cast<uint8_t>(lba >> 16);
    task_.device = static_cast<uint8_t>((task_.device & 0xF0) | ((lba >> 24) & 0x0F));
  }
}

void IdeBus::load_read_block(Drive& d) {
  const uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(remaining_, block_sectors_));
  const iovec iov{buffer_.data(), static_cast<size_t>(n) * 512};
  const uint64_t start_ns = virtio::disk_clock_ns();
  auto done = d.config.image->readv(next_lba_ * 512, std::span(&iov, 1));
  if (io_failed(d, virtio::BlkOperation::kRead, done.ok() ? nullptr : &done.error(), iov.iov_len,
                start_ns, Held::kPioRead))
    return;
  next_lba_ += n;
  remaining_ -= n;
  set_lba_registers(next_lba_ - 1, lba48_);
  transfer_ = Transfer::kAtaRead;
  start_pio_in(n * 512, true);
}

void IdeBus::start_read_write(Drive& d, uint8_t /*command*/, bool lba48, bool write, bool dma,
                              unsigned block_sectors) {
  const uint64_t lba = command_lba(lba48);
  const uint32_t count = command_count(lba48);
  if (lba == UINT64_MAX || lba > d.sectors || count > d.sectors - lba) {
    command_abort(d);  // ABRT only, as QEMU's ide_rw_error
    return;
  }
  if (write && (d.config.read_only || d.config.image->read_only())) {
    command_abort(d);
    return;
  }
  lba48_ = lba48;
  if (dma) {
    dma_lba_ = lba;
    dma_count_ = count;
    start_dma(write ? Transfer::kAtaWrite : Transfer::kAtaRead);
    return;
  }
  next_lba_ = lba;
  remaining_ = count;
  block_sectors_ = block_sectors;
  if (write) {
    transfer_ = Transfer::kAtaWrite;
    start_pio_out(std::min<uint32_t>(count, block_sectors) * 512, false);
  } else {
    load_read_block(d);
  }
}

void IdeBus::set_features(Drive& d) {
  switch (task_.feature) {
    case 0x02:
      d.write_cache = true;
      break;
    case 0x82:
      d.write_cache = false;
      break;
    case 0x03: {
      const unsigned mode = task_.count & 0x07;
      switch (task_.count >> 3) {
        case 0x00:
        case 0x01:
          d.word62 = 0x07;
          d.word63 = 0x07;
          d.word88 = 0x3F;
          break;
        case 0x02:
          d.word62 = static_cast<uint16_t>(0x07 | (1u << (mode + 8)));
          d.word63 = 0x07;
          d.word88 = 0x3F;
          break;
        case 0x04:
          d.word62 = 0x07;
          d.word63 = static_cast<uint16_t>(0x07 | (1u << (mode + 8)));
          d.word88 = 0x3F;
          break;
        case 0x08:
          d.word62 = 0x07;
          d.word63 = 0x07;
          d.word88 = static_cast<uint16_t>(0x3F | (1u << (mode + 8)));
          break;
        default:
          command_abort(d);
          return;
      }
      break;
    }
    // Look-ahead, reverting to defaults, APM, AAM, ...: accepted, as QEMU.
    case 0xAA:
    case 0x55:
    case 0x05:
    case 0x85:
    case 0x69:
    case 0x67:
    case 0x96:
    case 0x9A:
    case 0x42:
    case 0xC2:
    case 0xCC:
    case 0x66:
      break;
    default:
      command_abort(d);
      return;
  }
  command_done(d);
}

void IdeBus::execute(uint8_t command) {
  Drive& d = selected();
  if (!d.present || in_reset_) return;  // QEMU ignores commands to a missing drive
  // Only DEVICE RESET (to a packet device) is taken while BSY or DRQ is set.
  if ((d.status & (kAtaBsy | kAtaDrq)) != 0 &&
      !(command == 0x08 && d.config.kind == IdeMediaKind::kCdrom))
    return;
  active_ = (task_.device >> 4) & 1;
  d.signature = false;
  clear_irq();
  transfer_ = Transfer::kNone;
  dma_pending_ = false;
  const bool cd = d.config.kind == IdeMediaKind::kCdrom;
  // Commands both kinds take.
  switch (command) {
    case 0x90:  // EXECUTE DEVICE DIAGNOSTIC
      set_signature(d);
      d.status = cd ? 0 : kAtaDrdy | kAtaDsc;
      d.error = 0x01;
      set_irq();
      return;
    case 0xEF:
      set_features(d);
      return;
    case 0xE0:  // STANDBY IMMEDIATE, IDLE IMMEDIATE, STANDBY, IDLE, SLEEP...
    case 0xE1:
    case 0xE2:
    case 0xE3:
    case 0x94:
    case 0x95:
    case 0x96:
    case 0x97:
    case 0x00:  // NOP is aborted by definition
      if (command == 0x00) {
        command_abort(d);
        return;
      }
      command_done(d);
      return;
    case 0xE5:  // CHECK POWER MODE: active/idle
    case 0x98:
      task_.count = 0xFF;
      command_done(d);
      return;
    default:
      break;
  }
  if (cd) {
    switch (command) {
      case 0xA1:  // IDENTIFY PACKET DEVICE
        identify_packet(d);
        transfer_ = Transfer::kBufferIn;
        start_pio_in(512, true);
        return;
      case 0xA0:                     // PACKET
        if (task_.feature & 0x02) {  // overlapped: not supported
          command_abort(d);
          return;
        }
        atapi_dma_ = (task_.feature & 0x01) != 0;
        byte_limit_ = task_.lba_mid | task_.lba_high << 8;
        transfer_ = Transfer::kPacket;
        task_.count = 0x01;  // CoD, to the device
        start_pio_out(12, false);
        return;
      case 0x08:  // DEVICE RESET
        reset_drive(d, true);
        set_signature(d);
        d.error = 0x01;
        return;
      case 0xEC:  // IDENTIFY DEVICE: abort, with the packet signature
        set_signature(d);
        command_abort(d);
        return;
      default:
        command_abort(d);
        return;
    }
  }
  switch (command) {
    case 0xEC:
      identify(d);
      transfer_ = Transfer::kBufferIn;
      start_pio_in(512, true);
      return;
    case 0x20:
    case 0x21:
      start_read_write(d, command, false, false, false, 1);
      return;
    case 0x24:
      start_read_write(d, command, true, false, false, 1);
      return;
    case 0x30:
    case 0x31:
      start_read_write(d, command, false, true, false, 1);
      return;
    case 0x34:
      start_read_write(d, command, true, true, false, 1);
      return;
    case 0xC4:
    case 0x29:
    case 0xC5:
    case 0x39:
      if (d.multiple == 0) {
        command_abort(d);
        return;
      }
      start_read_write(d, command, command == 0x29 || command == 0x39,
                       command == 0xC5 || command == 0x39, false, d.multiple);
      return;
    case 0xC8:
    case 0xC9:
      start_read_write(d, command, false, false, true, 0);
      return;
    case 0x25:
      start_read_write(d, command, true, false, true, 0);
      return;
    case 0xCA:
    case 0xCB:
      start_read_write(d, command, false, true, true, 0);
      return;
    case 0x35:
      start_read_write(d, command, true, true, true, 0);
      return;
    case 0xC6:  // SET MULTIPLE MODE: 0 disables, else a power of two <= 16
      if (task_.count > kMaxMultipleSectors || (task_.count & (task_.count - 1)) != 0) {
        command_abort(d);
        return;
      }
      d.multiple = task_.count;
      command_done(d);
      return;
    case 0xE7:
    case 0xEA:
      flush_cache(d);
      return;
    case 0x40:
    case 0x41:
    case 0x42: {  // READ VERIFY (EXT): only the range is checked
      const bool lba48 = command == 0x42;
      const uint64_t lba = command_lba(lba48);
      const uint32_t count = command_count(lba48);
      if (lba == UINT64_MAX || lba > d.sectors || count > d.sectors - lba) {
        command_abort(d);  // ABRT only, as QEMU's ide_rw_error
        return;
      }
      set_lba_registers(lba + count - 1, lba48);
      command_done(d);
      return;
    }
    case 0x91:  // INITIALIZE DEVICE PARAMETERS: the CHS translation
      d.heads = static_cast<uint16_t>((task_.device & 0x0F) + 1);
      d.sectors_per_track = task_.count;
      if (d.sectors_per_track == 0) {
        d.sectors_per_track = 63;
        d.heads = 16;
        command_abort(d);
        return;
      }
      command_done(d);
      return;
    case 0xF8:  // READ NATIVE MAX ADDRESS
    case 0x27:  // READ NATIVE MAX ADDRESS EXT
      lba48_ = command == 0x27;
      set_lba_registers(
          d.sectors == 0 ? 0 : std::min<uint64_t>(d.sectors - 1, lba48_ ? UINT64_MAX : 0x0FFFFFFF),
          lba48_ || (task_.device & 0x40));
      command_done(d);
      return;
    case 0x70:  // SEEK
    case 0x10:  // RECALIBRATE (0x10..0x1F)
    case 0x11:
    case 0x12:
    case 0x13:
    case 0x14:
    case 0x15:
    case 0x16:
    case 0x17:
    case 0x18:
    case 0x19:
    case 0x1A:
    case 0x1B:
    case 0x1C:
    case 0x1D:
    case 0x1E:
    case 0x1F:
      command_done(d);
      return;
    default:
      command_abort(d);
      return;
  }
}

}  // namespace amber::hv::devices
