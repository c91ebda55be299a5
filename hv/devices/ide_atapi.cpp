// SPDX-License-Identifier: GPL-2.0-or-later
// IdeBus: the ATAPI CD-ROM (IDENTIFY PACKET DEVICE and the MMC packet
// commands SeaBIOS and Windows use), with QEMU's answers (hw/ide/atapi.c).
#include <sys/uio.h>

#include <algorithm>
#include <cstring>

#include "hv/devices/ide_bus.h"

namespace amber::hv::devices {
namespace {

using ide_detail::put16;
using ide_detail::put_string;

// Sense keys / additional sense codes.
constexpr uint8_t kNotReady = 0x02, kIllegalRequest = 0x05, kUnitAttention = 0x06;
constexpr uint8_t kAscInvalidOpcode = 0x20, kAscLbaOutOfRange = 0x21, kAscInvalidField = 0x24,
                  kAscSavingNotSupported = 0x39, kAscNoMedium = 0x3A, kAscRemovalPrevented = 0x53,
                  kAscMediumMayHaveChanged = 0x28;
// Error register: MEDIA CHANGED, beside the sense key (QEMU's MC_ERR).
constexpr uint8_t kErrorMediaChanged = 0x20;
// A CD holds at most this many 2048-byte blocks; larger media are DVDs
// (GET CONFIGURATION's current profile, as QEMU).
constexpr uint64_t kCdMaxBlocks = 1433600;

uint32_t be16(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 8 | p[1];
}
uint32_t be32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}
void put_be16(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void put_be32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}
// An address as the TOC gives it: LBA, or (with MSF) 0, minutes, seconds, frames.
void put_address(uint8_t* p, uint64_t lba, bool msf) {
  if (!msf) {
    put_be32(p, static_cast<uint32_t>(lba));
    return;
  }
  lba += 150;
  p[0] = 0;
  p[1] = static_cast<uint8_t>(lba / (75 * 60));
  p[2] = static_cast<uint8_t>((lba / 75) % 60);
  p[3] = static_cast<uint8_t>(lba % 75);
}

}  // namespace

void IdeBus::identify_packet(Drive& d) {
  uint8_t* p = buffer_.data();
  std::memset(p, 0, 512);
  // Removable CD-ROM (type 5), 12-byte packets, DRQ within 50 us.
  put16(p, 0, (2u << 14) | (5u << 8) | (1u << 7) | (2u << 5));
  put_string(p, 10, d.config.serial, 20);
  put16(p, 20, 3);
  put16(p, 21, 512);
  put16(p, 22, 4);
  put_string(p, 23, "2.5+", 8);
  put_string(p, 27, "QEMU DVD-ROM", 40);
  put16(p, 48, 1);
  put16(p, 49, (1u << 9) | (1u << 8));  // LBA, DMA
  put16(p, 53, 7);
  put16(p, 62, d.word62);
  put16(p, 63, d.word63);
  put16(p, 64, 3);
  put16(p, 65, 0xB4);
  put16(p, 66, 0xB4);
  put16(p, 67, 0x12C);
  put16(p, 68, 0xB4);
  put16(p, 71, 30);
  put16(p, 72, 30);
  put16(p, 80, 0x1E);  // ATAPI-4
  put16(p, 88, d.word88);
}

void IdeBus::atapi_done(Drive& d) {
  d.status = kAtaDrdy | kAtaDsc;
  d.error = 0;
  task_.count = 0x03;  // I/O, CoD: status phase
  transfer_ = Transfer::kNone;
  dma_pending_ = false;
  set_irq();
}

void IdeBus::atapi_error(Drive& d, uint8_t key, uint8_t asc, uint8_t ascq) {
  d.sense_key = key;
  d.asc = asc;
  d.ascq = ascq;
  d.status = kAtaDrdy | kAtaErr;
  d.error = static_cast<uint8_t>(key << 4);
  task_.count = 0x03;
  transfer_ = Transfer::kNone;
  dma_pending_ = false;
  set_irq();
}

// A unit attention is pending: CHECK CONDITION without a new sense.
void IdeBus::atapi_check_status(Drive& d) {
  d.status = kAtaDrdy | kAtaErr;
  d.error = static_cast<uint8_t>(kErrorMediaChanged | (d.sense_key << 4));
  task_.count = 0x03;
  transfer_ = Transfer::kNone;
  dma_pending_ = false;
  set_irq();
}

bool IdeBus::atapi_media_ready(Drive& d) {
  if (d.config.image && !d.tray_open) return true;
  atapi_error(d, kNotReady, kAscNoMedium);
  return false;
}

uint32_t IdeBus::atapi_chunk_limit() const {
  uint32_t limit = byte_limit_;
  if (limit == 0 || limit == 0xFFFF) limit = 0xFFFE;
  return limit & ~1u;
}

void IdeBus::atapi_reply(Drive& d, uint32_t length, uint32_t allocation) {
  length = std::min(length, allocation);
  if (length == 0) {
    atapi_done(d);
    return;
  }
  if (atapi_dma_) {
    dma_buffer_len_ = length;
    start_dma(Transfer::kBufferIn);
    return;
  }
  // Replies are at most a few hundred bytes: one DRQ block.
  task_.lba_mid = static_cast<uint8_t>(length);
  task_.lba_high = static_cast<uint8_t>(length >> 8);
  task_.count = 0x02;  // I/O: to the host
  transfer_ = Transfer::kBufferIn;
  start_pio_in(length, true);
}

void IdeBus::atapi_load_read_chunk(Drive& d) {
  const uint64_t per_chunk =
      std::clamp<uint64_t>(atapi_chunk_limit() / 2048, 1, buffer_.size() / 2048);
  const uint64_t n = std::min(remaining_, per_chunk);
  // The medium was changed or ejected under a PIO read.
  if (!d.config.image || d.tray_open || next_lba_ > d.sectors || n > d.sectors - next_lba_) {
    atapi_error(d, kNotReady, kAscNoMedium);
    return;
  }
  const iovec iov{buffer_.data(), static_cast<size_t>(n * 2048)};
  const uint64_t start_ns = virtio::disk_clock_ns();
  auto done = d.config.image->readv(next_lba_ * 2048, std::span(&iov, 1));
  if (io_failed(d, virtio::BlkOperation::kRead, done.ok() ? nullptr : &done.error(), iov.iov_len,
                start_ns, Held::kNone))
    return;
  next_lba_ += n;
  remaining_ -= n;
  const auto bytes = static_cast<uint32_t>(n * 2048);
  task_.lba_mid = static_cast<uint8_t>(bytes);
  task_.lba_high = static_cast<uint8_t>(bytes >> 8);
  task_.count = 0x02;
  transfer_ = Transfer::kAtapiRead;
  start_pio_in(bytes, true);
}

void IdeBus::atapi_start_read(Drive& d, uint64_t lba, uint64_t blocks) {
  if (!atapi_media_ready(d)) return;
  if (lba > d.sectors || blocks > d.sectors - lba) {
    atapi_error(d, kIllegalRequest, kAscLbaOutOfRange);
    return;
  }
  if (blocks == 0) {
    atapi_done(d);
    return;
  }
  if (atapi_dma_) {
    dma_lba_ = lba;
    dma_count_ = blocks;
    start_dma(Transfer::kAtapiRead);
    return;
  }
  next_lba_ = lba;
  remaining_ = blocks;
  atapi_load_read_chunk(d);
}

uint32_t IdeBus::atapi_read_toc(Drive& d, const uint8_t* cdb) {
  uint8_t* buf = buffer_.data();
  std::memset(buf, 0, 64);
  const bool msf = (cdb[1] & 0x02) != 0;
  const unsigned format = (cdb[2] & 0x0F) != 0 ? cdb[2] & 0x0F : cdb[9] >> 6;
  const unsigned start_track = cdb[6];
  if (format == 0) {
    if (start_track > 1 && start_track != 0xAA) return 0;
    buf[2] = 1;
    buf[3] = 1;
    uint8_t* q = buf + 4;
    if (start_track <= 1) {
      q[1] = 0x14;  // data track, digital copy permitted
      q[2] = 1;
      put_address(q + 4, 0, msf);
      q += 8;
    }
    q[1] = 0x16;
    q[2] = 0xAA;  // lead-out
    put_address(q + 4, d.sectors, msf);
    q += 8;
    const auto length = static_cast<uint32_t>(q - buf);
    put_be16(buf, length - 2);
    return length;
  }
  if (format == 1) {  // multi-session: one session, starting at track 1
    put_be16(buf, 0x0A);
    buf[2] = 1;
    buf[3] = 1;
    buf[5] = 0x14;
    buf[6] = 1;
    put_address(buf + 8, 0, msf);
    return 12;
  }
  return 0;
}

uint32_t IdeBus::atapi_mode_sense(Drive& d, const uint8_t* cdb, bool& failed) {
  failed = false;
  const unsigned control = cdb[2] >> 6, page = cdb[2] & 0x3F;
  if (control == 3) {
    atapi_error(d, kIllegalRequest, kAscSavingNotSupported);
    failed = true;
    return 0;
  }
  uint8_t* buf = buffer_.data();
  std::memset(buf, 0, 64);
  buf[2] = 0x70;
  uint32_t length = 8;
  if (page == 0x01 || page == 0x3F) {
    uint8_t* q = buf + length;
    q[0] = 0x01;  // read/write error recovery
    q[1] = 0x06;
    q[3] = 0x05;  // retry count
    length += 8;
  }
  if (page == 0x2A || page == 0x3F) {
    uint8_t* q = buf + length;
    q[0] = 0x2A;  // capabilities and mechanical status
    q[1] = 0x14;
    q[2] = 0x3B;
    q[4] = 0x71;
    q[5] = 3 << 5;
    q[6] = static_cast<uint8_t>((1 << 0) | (1 << 3) | (1 << 5) | (d.locked ? 1 << 1 : 0));
    put_be16(q + 8, 704);
    q[11] = 2;
    put_be16(q + 12, 512);
    put_be16(q + 14, 704);
    length += 22;
  }
  if (length == 8) {
    atapi_error(d, kIllegalRequest, kAscInvalidField);
    failed = true;
    return 0;
  }
  put_be16(buf, length - 2);
  return length;
}

uint32_t IdeBus::atapi_event_status(Drive& d, const uint8_t* cdb, bool& failed) {
  failed = false;
  if ((cdb[1] & 0x01) == 0) {  // only polled operation
    atapi_error(d, kIllegalRequest, kAscInvalidField);
    failed = true;
    return 0;
  }
  uint8_t* buf = buffer_.data();
  std::memset(buf, 0, 8);
  buf[3] = 0x10;  // supported: media class
  if ((cdb[4] & 0x10) == 0) {
    buf[2] = 0x80;  // no event available
    return 4;
  }
  buf[2] = 0x04;
  put_be16(buf, 4);
  if (d.media_event) {
    buf[4] = d.media_event_code;
    d.media_event = false;
  }
  buf[5] =
      static_cast<uint8_t>((d.tray_open ? 0x01 : 0) | (d.config.image && !d.tray_open ? 0x02 : 0));
  return 8;
}

uint32_t IdeBus::atapi_configuration(Drive& d) {
  uint8_t* buf = buffer_.data();
  std::memset(buf, 0, 64);
  const bool media = d.config.image && !d.tray_open;
  const uint16_t current = !media ? 0 : d.sectors > kCdMaxBlocks ? 0x0010 : 0x0008;
  put_be16(buf + 6, current);
  uint8_t* q = buf + 8;
  // Feature 0: profile list (DVD-ROM, CD-ROM).
  q[2] = 0x03;
  q[3] = 8;
  put_be16(q + 4, 0x0010);
  q[6] = current == 0x0010 ? 1 : 0;
  put_be16(q + 8, 0x0008);
  q[10] = current == 0x0008 ? 1 : 0;
  q += 12;
  // Feature 1: core (ATAPI interface).
  put_be16(q, 0x0001);
  q[2] = 0x0B;
  q[3] = 8;
  put_be32(q + 4, 2);
  q += 12;
  // Feature 3: removable medium (tray, eject, lock).
  put_be16(q, 0x0003);
  q[2] = 0x03;
  q[3] = 4;
  q[4] = 0x29;
  q += 8;
  const auto length = static_cast<uint32_t>(q - buf);
  put_be32(buf, length - 4);
  return length;
}

void IdeBus::atapi_start_stop(Drive& d, const uint8_t* cdb) {
  const bool start = (cdb[4] & 0x01) != 0, load_eject = (cdb[4] & 0x02) != 0;
  if (load_eject) {
    if (!start && !d.tray_open && d.locked) {
      atapi_error(d, kNotReady, kAscRemovalPrevented, 0x02);
      return;
    }
    if (d.tray_open == start) {
      d.tray_open = !start;
      d.media_event = true;
      d.media_event_code = start ? 0x02 : 0x03;  // new media / media removal
    }
  }
  atapi_done(d);
}

void IdeBus::execute_packet(Drive& d) {
  const uint8_t* cdb = packet_.data();
  const uint8_t opcode = cdb[0];
  // INQUIRY, REQUEST SENSE, GET CONFIGURATION and GESN run whatever
  // attention is pending (QEMU's ALLOW_UA).
  const bool allow_ua = opcode == 0x03 || opcode == 0x12 || opcode == 0x46 || opcode == 0x4A;
  if (!allow_ua && d.sense_key == kUnitAttention) {
    atapi_check_status(d);
    return;
  }
  // After a host media change: one NOT READY, then UNIT ATTENTION, so a
  // guest that does not poll GESN sees the tray open and close.
  if (!allow_ua && d.media_changed != 0 && d.config.image && !d.tray_open) {
    if (d.media_changed == 1) {
      d.media_changed = 2;
      atapi_error(d, kNotReady, kAscNoMedium);
    } else {
      d.media_changed = 0;
      atapi_error(d, kUnitAttention, kAscMediumMayHaveChanged);
    }
    return;
  }
  if (opcode != 0x03) d.sense_key = d.asc = d.ascq = 0;
  bool failed = false;
  switch (opcode) {
    case 0x00:  // TEST UNIT READY
      if (atapi_media_ready(d)) atapi_done(d);
      return;
    case 0x03: {  // REQUEST SENSE
      uint8_t* buf = buffer_.data();
      std::memset(buf, 0, 18);
      buf[0] = 0xF0;
      buf[2] = d.sense_key;
      buf[7] = 10;
      buf[12] = d.asc;
      buf[13] = d.ascq;
      d.sense_key = d.asc = d.ascq = 0;
      atapi_reply(d, 18, cdb[4]);
      return;
    }
    case 0x12: {  // INQUIRY
      uint8_t* buf = buffer_.data();
      std::memset(buf, 0, 36);
      buf[0] = 0x05;
      buf[1] = 0x80;
      buf[3] = 0x21;
      buf[4] = 31;
      std::memcpy(buf + 8, "QEMU    ", 8);
      std::memcpy(buf + 16, "QEMU DVD-ROM    ", 16);
      std::memcpy(buf + 32, "2.5+", 4);
      atapi_reply(d, 36, be16(cdb + 3));
      return;
    }
    case 0x25: {  // READ CAPACITY
      if (!atapi_media_ready(d)) return;
      put_be32(buffer_.data(),
               static_cast<uint32_t>(std::min<uint64_t>(d.sectors, 1ull << 32) - 1));
      put_be32(buffer_.data() + 4, 2048);
      atapi_reply(d, 8, 8);
      return;
    }
    case 0x28:  // READ(10)
      atapi_start_read(d, be32(cdb + 2), be16(cdb + 7));
      return;
    case 0xA8:  // READ(12)
      atapi_start_read(d, be32(cdb + 2), be32(cdb + 6));
      return;
    case 0xBE: {  // READ CD: user data or nothing
      const uint32_t blocks = cdb[6] << 16 | cdb[7] << 8 | cdb[8];
      const unsigned request = cdb[9] & 0xF8;
      if (request == 0x00) {
        if (atapi_media_ready(d)) atapi_done(d);
      } else if (request == 0x10) {
        atapi_start_read(d, be32(cdb + 2), blocks);
      } else {
        atapi_error(d, kIllegalRequest, kAscInvalidField);
      }
      return;
    }
    case 0x2B:  // SEEK(10)
      if (!atapi_media_ready(d)) return;
      if (be32(cdb + 2) >= d.sectors) {
        atapi_error(d, kIllegalRequest, kAscLbaOutOfRange);
        return;
      }
      atapi_done(d);
      return;
    case 0x43: {  // READ TOC
      if (!atapi_media_ready(d)) return;
      const uint32_t length = atapi_read_toc(d, cdb);
      if (length == 0) {
        atapi_error(d, kIllegalRequest, kAscInvalidField);
        return;
      }
      atapi_reply(d, length, be16(cdb + 7));
      return;
    }
    case 0x46: {  // GET CONFIGURATION
      if ((cdb[1] & 0x03) == 0x03) {
        atapi_error(d, kIllegalRequest, kAscInvalidField);
        return;
      }
      atapi_reply(d, atapi_configuration(d), be16(cdb + 7));
      return;
    }
    case 0x4A: {  // GET EVENT STATUS NOTIFICATION
      const uint32_t length = atapi_event_status(d, cdb, failed);
      if (!failed) atapi_reply(d, length, be16(cdb + 7));
      return;
    }
    case 0x5A: {  // MODE SENSE(10)
      const uint32_t length = atapi_mode_sense(d, cdb, failed);
      if (!failed) atapi_reply(d, length, be16(cdb + 7));
      return;
    }
    case 0x1B:  // START STOP UNIT
      atapi_start_stop(d, cdb);
      return;
    case 0x1E:  // PREVENT ALLOW MEDIUM REMOVAL
      d.locked = (cdb[4] & 0x01) != 0;
      atapi_done(d);
      return;
    case 0xBB:  // SET CD SPEED
      atapi_done(d);
      return;
    default:
      atapi_error(d, kIllegalRequest, kAscInvalidOpcode);
      return;
  }
}

}  // namespace amber::hv::devices
