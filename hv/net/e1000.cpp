// SPDX-License-Identifier: GPL-2.0-or-later
// E1000: PCI identity, register dispatch, EEPROM, PHY and interrupts.
#include "hv/net/e1000.h"

#include <cstring>

namespace amber::hv::net {

using namespace e1000;

namespace {

// PCI identity of QEMU 7.2's -device e1000.
constexpr pci::PciIdentity kIdentity = {
    .vendor = 0x8086,
    .device = 0x100e,
    .revision = 0x03,
    .class_code = 0x020000,
    .subsystem_vendor = 0x1af4,
    .subsystem = 0x1100,
    .header_type = 0,
};
constexpr unsigned kCacheLineSize = 0x0c;
constexpr uint64_t kIoBarSize = 0x40;
constexpr uint16_t kPhyId2Value = 0x0c20;  // 8254x default (SDM p. 250)

// The EEPROM as QEMU's e1000_eeprom_template (SDM tables 5-2, 5-3); words
// 0-2 (MAC), 11 and 13 (device id) and 63 (checksum) are filled in.
constexpr std::array<uint16_t, kEepromWords> kEepromTemplate = {
    0x0000, 0x0000, 0x0000, 0x0000, 0xffff, 0x0000, 0x0000, 0x0000,  //
    0x3000, 0x1000, 0x6403, 0x0000, 0x8086, 0x0000, 0x8086, 0x3040,  //
    0x0008, 0x2000, 0x7e14, 0x0048, 0x1000, 0x00d8, 0x0000, 0x2700,  //
    0x6cc9, 0x3150, 0x0722, 0x040b, 0x0984, 0x0000, 0xc000, 0x0706,  //
    0x1008, 0x0000, 0x0f04, 0x7fff, 0x4d01, 0xffff, 0xffff, 0xffff,  //
    0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,  //
    0x0100, 0x4000, 0x121c, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,  //
    0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0x0000,
};

// PHY registers after reset: 1000 Mb/s full duplex with autonegotiation,
// the link up and negotiated.
constexpr uint16_t kBmcrInit = 0x1140;  // speed 1000, full duplex, autoneg enable
constexpr uint16_t kBmsrInit = 0x794d | kBmsrAnComplete;
constexpr uint16_t kAnarInit = 0x0de1;
constexpr uint16_t kAnlparInit = 0x01e0 | kAnlparAck;
constexpr uint16_t kCtrl1000Init = 0x0e00;
constexpr uint16_t kStat1000Init = 0x3c00;

enum PhyAccess : uint8_t { kPhyNone = 0, kPhyRead = 1, kPhyWrite = 2, kPhyReadWrite = 3 };
constexpr std::array<uint8_t, kPhyRegisters> phy_access() {
  std::array<uint8_t, kPhyRegisters> a{};
  for (unsigned r : {kPhyBmsr, kPhyId1, kPhyId2, kPhyAnlpar, kPhyAner, kPhyStat1000, kPhySpecStatus,
                     kPhyRxErrors})
    a[r] = kPhyRead;
  for (unsigned r : {kPhyBmcr, kPhyAnar, kPhyCtrl1000, kPhySpecCtrl, kPhyExtSpecCtrl})
    a[r] = kPhyReadWrite;
  return a;
}
constexpr std::array<uint8_t, kPhyRegisters> kPhyAccess = phy_access();

bool is_low_half(uint32_t offset) {
  return offset == kGorcl || offset == kGotcl || offset == kTorl || offset == kTotl;
}
bool is_high_half(uint32_t offset) {
  return offset == kGorch || offset == kGotch || offset == kTorh || offset == kToth;
}

}  // namespace

E1000::E1000(const E1000Config& config, const GuestMemory& memory, InterruptController& interrupts,
             std::unique_ptr<NetBackend> backend)
    : pci::PciConfigSpace(kIdentity),
      memory_(memory),
      interrupts_(interrupts),
      slot_(config.pci_slot),
      mac_(config.mac),
      rom_(config.rom),
      backend_(std::move(backend)),
      regs_(kRegisterSpace / 4, 0) {
  (void)set_bar(0, pci::BarKind::kMemory32, kRegisterSpace);
  (void)set_bar(1, pci::BarKind::kIo, kIoBarSize);
  if (!rom_.empty()) {
    uint64_t size = 2048;
    while (size < rom_.size()) size <<= 1;
    (void)set_rom(size);
  }
  set_interrupt_pin(1);
  store(0x0c, 1, kCacheLineSize);  // QEMU sets the cache line size
  snapshot_reset_state();

  eeprom_ = kEepromTemplate;
  for (unsigned i = 0; i < 3; ++i)
    eeprom_[i] = static_cast<uint16_t>(mac_[2 * i] | mac_[2 * i + 1] << 8);
  eeprom_[11] = eeprom_[13] = kIdentity.device;
  uint16_t sum = 0;
  for (unsigned i = 0; i < kEepromChecksumWord; ++i) sum = static_cast<uint16_t>(sum + eeprom_[i]);
  eeprom_[kEepromChecksumWord] = static_cast<uint16_t>(kEepromSum - sum);
  tx_.data.resize(kMaxFrameSize);
  std::lock_guard lock(mutex_);
  reset_registers();
}

E1000::~E1000() {
  if (backend_) backend_->stop();
}

Result<void> E1000::start() {
  if (!backend_) return ok();
  return backend_->start(*this);
}

void E1000::reset_registers() {
  std::fill(regs_.begin(), regs_.end(), 0);
  reg(kPba) = 0x00100030;
  reg(kLedctl) = 0x602;
  reg(kCtrl) = kCtrlSwdpin2 | kCtrlSwdpin0 | kCtrlSpeed1000 | kCtrlSlu;
  reg(kStatus) = 0x80000000u | kStatusGioMaster | kStatusAsdv | kStatusMtxckok | kStatusSpeed1000 |
                 kStatusFd | kStatusLu;
  reg(kManc) = 0x00222300;  // EN_MNG2HOST | RCV_TCO_EN | ARP_EN | 0298_EN | RMCP_EN
  // RAL0/RAH0: our MAC, valid.
  reg(kRa) = static_cast<uint32_t>(mac_[0] | mac_[1] << 8 | mac_[2] << 16) |
             static_cast<uint32_t>(mac_[3]) << 24;
  reg(kRa + 4) = static_cast<uint32_t>(mac_[4] | mac_[5] << 8) | kRahAv;
  phy_.fill(0);
  phy_[kPhyBmcr] = kBmcrInit;
  phy_[kPhyBmsr] = kBmsrInit;
  phy_[kPhyId1] = 0x0141;
  phy_[kPhyId2] = kPhyId2Value;
  phy_[kPhyAnar] = kAnarInit;
  phy_[kPhyAnlpar] = kAnlparInit;
  phy_[kPhyCtrl1000] = kCtrl1000Init;
  phy_[kPhyStat1000] = kStat1000Init;
  phy_[kPhySpecCtrl] = 0x0360;
  phy_[kPhySpecStatus] = 0xac00;
  phy_[kPhyExtSpecCtrl] = 0x0d60;
  microwire_ = {};
  io_address_ = 0;
  tx_context_ = {};
  tso_context_ = {};
  tx_.size = 0;
  tx_.popts = 0;
  tx_.tso = false;
  tx_.tso_frames = 0;
  tx_.truncated = false;
  held_.clear();
  irq_level_ = false;
  drive_line();
}

void E1000::reset() {
  PciConfigSpace::reset();
  std::lock_guard lock(mutex_);
  bus_master_ = false;
  intx_disabled_ = false;
  reset_registers();
}

void E1000::command_written(uint16_t old, uint16_t now) {
  std::lock_guard lock(mutex_);
  bus_master_ = (now & pci::kCommandBusMaster) != 0;
  intx_disabled_ = (now & pci::kCommandIntxDisable) != 0;
  drive_line();
  if (bus_master_ && !(old & pci::kCommandBusMaster)) {
    drain_held();
    if (backend_) backend_->wake();
  }
}

// --- BARs ---

void E1000::bar_read(unsigned index, uint64_t offset, std::span<uint8_t> data) {
  std::memset(data.data(), 0, data.size());
  if (index == pci::kRomBarIndex) {
    for (size_t i = 0; i < data.size(); ++i)
      if (offset + i < rom_.size()) data[i] = rom_[offset + i];
    return;
  }
  std::lock_guard lock(mutex_);
  for (size_t done = 0; done < data.size();) {
    const uint64_t at = offset + done;
    const uint32_t aligned = static_cast<uint32_t>(at & ~uint64_t{3});
    uint32_t value = 0;
    if (index == 0 && at < kRegisterSpace) {
      value = read_locked(aligned);
    } else if (index == 1 && aligned == 0) {
      value = io_address_;
    } else if (index == 1 && aligned == 4) {
      value = io_address_ < kRegisterSpace ? read_locked(io_address_ & ~3u) : 0;
    }
    const unsigned shift = static_cast<unsigned>(at & 3);
    const size_t n = std::min<size_t>(4 - shift, data.size() - done);
    for (size_t i = 0; i < n; ++i)
      data[done + i] = static_cast<uint8_t>(value >> (8 * (shift + i)));
    done += n;
  }
}

void E1000::bar_write(unsigned index, uint64_t offset, std::span<const uint8_t> data) {
  if (index != 0 && index != 1) return;
  std::lock_guard lock(mutex_);
  for (size_t done = 0; done < data.size();) {
    const uint64_t at = offset + done;
    const uint32_t aligned = static_cast<uint32_t>(at & ~uint64_t{3});
    const unsigned shift = static_cast<unsigned>(at & 3);
    const size_t n = std::min<size_t>(4 - shift, data.size() - done);
    // A narrower write lands as a dword with the other bytes zero (as
    // QEMU's 4-byte-only register region does).
    uint32_t value = 0;
    for (size_t i = 0; i < n; ++i)
      value |= static_cast<uint32_t>(data[done + i]) << (8 * (shift + i));
    if (index == 0 && at < kRegisterSpace) {
      write_locked(aligned, value);
    } else if (index == 1 && aligned == 0) {
      io_address_ = value & (kRegisterSpace - 4);
    } else if (index == 1 && aligned == 4) {
      write_locked(io_address_, value);
    }
    done += n;
  }
}

uint32_t E1000::read_register(uint32_t offset) {
  std::lock_guard lock(mutex_);
  return offset < kRegisterSpace ? read_locked(offset & ~3u) : 0;
}

void E1000::write_register(uint32_t offset, uint32_t value) {
  std::lock_guard lock(mutex_);
  if (offset < kRegisterSpace) write_locked(offset & ~3u, value);
}

// --- registers ---

uint32_t E1000::read_locked(uint32_t offset) {
  switch (offset) {
    case kIcr: {
      const uint32_t value = reg(kIcr);
      set_causes(0);
      return value;
    }
    case kIcs:  // reads as ICR without clearing (QEMU, VxWorks' driver)
      return reg(kIcr);
    case kEecd:
      return read_eecd();
    case kEerd:
      return read_eerd();
    case kImc:
      return 0;
    default:
      break;
  }
  if (offset >= kStatsStart && offset < kStatsEnd) {
    // Statistics clear on read; a 64-bit pair clears when its high half
    // is read (the low half first, as drivers do).
    const uint32_t value = reg(offset);
    if (is_low_half(offset)) return value;
    reg(offset) = 0;
    if (is_high_half(offset)) reg(offset - 4) = 0;
    return value;
  }
  return reg(offset);
}

void E1000::write_locked(uint32_t offset, uint32_t value) {
  switch (offset) {
    case kCtrl:
      if (value & kCtrlRst) {
        reset_registers();
        return;
      }
      reg(kCtrl) = value & ~kCtrlPhyRst;
      return;
    case kStatus:
      return;  // read-only
    case kEecd:
      write_eecd(value);
      return;
    case kMdic:
      write_mdic(value);
      return;
    case kIcr:  // write 1 to clear
      set_causes(reg(kIcr) & ~value);
      return;
    case kIcs:
      raise(value);
      return;
    case kIms:
      reg(kIms) |= value;
      set_causes(reg(kIcr));
      return;
    case kImc:
      reg(kIms) &= ~value;
      set_causes(reg(kIcr));
      return;
    case kRctl:
      reg(kRctl) = value;
      drain_held();
      if (backend_) backend_->wake();
      return;
    case kRdlen:
    case kTdlen:
      reg(offset) = value & 0xfff80;  // multiples of 128 bytes, up to 1 MiB
      return;
    case kRdh:
    case kTdh:
    case kRdtr:
    case kRadv:
    case kTadv:
    case kItr:
      reg(offset) = value & 0xffff;
      return;
    case kRdt:
      reg(kRdt) = value & 0xffff;
      drain_held();
      if (backend_ && held_.empty()) backend_->wake();
      return;
    case kTctl:
    case kTdt:
      reg(offset) = value;
      reg(kTdt) &= 0xffff;
      start_transmit();
      return;
    default:
      break;
  }
  if (offset >= kStatsStart && offset < kStatsEnd) return;  // read-only counters
  reg(offset) = value;
}

void E1000::set_causes(uint32_t icr) {
  reg(kIcr) = icr;
  irq_level_ = (icr & reg(kIms)) != 0;
  drive_line();
}

void E1000::drive_line() {
  const bool level = irq_level_ && !intx_disabled_;
  if (level == line_driven_) return;
  line_driven_ = level;
  (void)interrupts_.set_intx(slot_, 1, level);
}

void E1000::count(uint32_t offset, uint32_t by) {
  uint32_t& r = reg(offset);
  r = r > UINT32_MAX - by ? UINT32_MAX : r + by;
}

void E1000::count64(uint32_t low_offset, uint64_t by) {
  uint64_t value = reg(low_offset) | static_cast<uint64_t>(reg(low_offset + 4)) << 32;
  value = value > UINT64_MAX - by ? UINT64_MAX : value + by;
  reg(low_offset) = static_cast<uint32_t>(value);
  reg(low_offset + 4) = static_cast<uint32_t>(value >> 32);
}

// --- EEPROM ---

uint32_t E1000::read_eecd() const {
  uint32_t value = kEecdPres | kEecdGnt | microwire_.last;
  // DO is the current bit of the word being read; high when idle.
  const unsigned word = (microwire_.bit_out >> 4) & (kEepromWords - 1);
  const unsigned bit = 15 - (microwire_.bit_out & 15);
  if (!microwire_.reading || ((eeprom_[word] >> bit) & 1)) value |= kEecdDo;
  return value;
}

void E1000::write_eecd(uint32_t value) {
  const uint32_t old = microwire_.last;
  microwire_.last = value & (kEecdSk | kEecdCs | kEecdDi | kEecdFwe | kEecdReq);
  if (!(value & kEecdCs)) return;  // not selected
  if ((value ^ old) & kEecdCs) {   // chip select rose: a new command
    microwire_.shifted_in = 0;
    microwire_.bits_in = 0;
    microwire_.bit_out = 0;
    microwire_.reading = false;
  }
  if (!((value ^ old) & kEecdSk)) return;  // no clock edge
  if (!(value & kEecdSk)) {                // falling edge: next output bit
    ++microwire_.bit_out;
    return;
  }
  // Rising edge: shift DI in. After 3 opcode bits and 6 address bits a READ
  // starts shifting the addressed word out (the first falling edge moves
  // to its bit 15).
  microwire_.shifted_in = (microwire_.shifted_in << 1) | ((value & kEecdDi) ? 1 : 0);
  if (++microwire_.bits_in == 9 && !microwire_.reading) {
    microwire_.bit_out = ((microwire_.shifted_in & 0x3f) << 4) - 1;
    microwire_.reading = ((microwire_.shifted_in >> 6) & 7) == kEepromReadOpcode;
  }
}

uint32_t E1000::read_eerd() {
  const uint32_t value = reg(kEerd);
  if (!(value & kEerdStart)) return value;
  const uint32_t request = value & ~kEerdStart;
  const uint32_t word = request >> kEerdAddressShift;
  if (word >= kEepromWords) return request | kEerdDone;
  return (static_cast<uint32_t>(eeprom_[word]) << kEerdDataShift) | kEerdDone | (request & 0xffff);
}

// --- PHY ---

void E1000::write_mdic(uint32_t value) {
  const uint32_t data = value & kMdicDataMask;
  const unsigned address = (value & kMdicRegMask) >> kMdicRegShift;
  if (((value & kMdicPhyMask) >> kMdicPhyShift) != kPhyAddress) {
    value = reg(kMdic) | kMdicError;
  } else if (value & kMdicOpRead) {
    if (!(kPhyAccess[address] & kPhyRead))
      value |= kMdicError;
    else
      value = (value & ~kMdicDataMask) | phy_[address];
  } else if (value & kMdicOpWrite) {
    if (!(kPhyAccess[address] & kPhyWrite)) {
      value |= kMdicError;
    } else if (address == kPhyBmcr) {
      // Reset and autonegotiation restart complete at once: the link is up.
      phy_[kPhyBmcr] = static_cast<uint16_t>(data & ~(0x3fu | kBmcrReset | kBmcrAnRestart));
      if (data & (kBmcrAnRestart | kBmcrReset)) {
        phy_[kPhyBmsr] |= kBmsrAnComplete | kBmsrLinkUp;
        phy_[kPhyAnlpar] |= kAnlparAck;
        reg(kStatus) |= kStatusLu;
      }
    } else {
      phy_[address] = static_cast<uint16_t>(data);
    }
  }
  reg(kMdic) = value | kMdicReady;
  if (value & kMdicIntEn) raise(kIcrMdac);
}

}  // namespace amber::hv::net
