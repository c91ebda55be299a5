// SPDX-License-Identifier: GPL-2.0-or-later
// The PIIX3 IDE channel (hv/devices/ide_bus.h) driven through its
// registers over synthetic guest memory and a raw image: IDENTIFY data,
// PIO and bus-master DMA reads and writes, ATAPI packets, and hostile
// input (PRD tables past RAM, without an end bit, shorter than the
// command; LBAs and packets past the media): errors, never a crash or an
// access outside guest RAM (the sanitizer build runs these too).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "hv/devices/ide_bus.h"
#include "hv/devices/ide_controller.h"

namespace amber::hv::devices {
namespace {

constexpr uint64_t kRamSize = 1 << 20;
constexpr uint64_t kDiskSectors = 2048;  // 1 MiB

uint8_t pattern(uint64_t offset) {
  return static_cast<uint8_t>((offset * 7 + offset / 512) & 0xFF);
}

class IdeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/amber-ide-XXXXXX";
    ASSERT_NE(mkdtemp(templ), nullptr);
    dir_ = templ;
    ram_.assign(kRamSize, 0);
    ASSERT_TRUE(memory_.add_region(0, kRamSize, ram_.data()));
  }
  void TearDown() override {
    bus_.reset();
    for (const std::string& f : files_) ::unlink(f.c_str());
    ::rmdir(dir_.c_str());
  }
  std::shared_ptr<block::Image> make_image(const std::string& name, uint64_t size, bool writable) {
    const std::string path = dir_ + "/" + name;
    files_.push_back(path);
    std::vector<uint8_t> data(size);
    for (uint64_t i = 0; i < size; ++i) data[i] = pattern(i);
    const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::write(fd, data.data(), size), static_cast<ssize_t>(size));
    ::close(fd);
    block::OpenOptions o;
    o.format = block::ImageFormat::kRaw;
    o.access = writable ? block::io::Access::kReadWrite : block::io::Access::kReadOnly;
    auto image = block::open_image(path, o);
    EXPECT_TRUE(image.ok());
    return std::shared_ptr<block::Image>(std::move(image).value());
  }
  void make_bus(bool cdrom, bool writable = true) {
    bus_ = std::make_unique<IdeBus>(0, memory_, [this](bool level) {
      line_ = level;
      if (level) ++raised_;
    });
    IdeDriveConfig config;
    config.kind = cdrom ? IdeMediaKind::kCdrom : IdeMediaKind::kDisk;
    config.image = make_image(cdrom ? "cd.iso" : "disk.raw", cdrom ? 64 * 2048 : kDiskSectors * 512,
                              writable && !cdrom);
    config.read_only = cdrom || !writable;
    config.label = "ide0-0";
    bus_->attach(0, config);
    bus_->reset();
  }
  // A disk at unit 0 and a CD-ROM at unit 1.
  void make_two() {
    make_bus(false);
    IdeDriveConfig cd;
    cd.kind = IdeMediaKind::kCdrom;
    cd.image = make_image("slave.iso", 16 * 2048, false);
    cd.read_only = true;
    bus_->attach(1, cd);
    bus_->reset();
  }
  uint8_t reg(unsigned offset) { return static_cast<uint8_t>(bus_->read_command_block(offset, 1)); }
  void set(unsigned offset, uint8_t v) { bus_->write_command_block(offset, 1, v); }
  void lba28(uint32_t lba, uint8_t count) {
    set(2, count);
    set(3, static_cast<uint8_t>(lba));
    set(4, static_cast<uint8_t>(lba >> 8));
    set(5, static_cast<uint8_t>(lba >> 16));
    set(6, static_cast<uint8_t>(0xE0 | ((lba >> 24) & 0x0F)));
  }
  void lba48(uint64_t lba, uint16_t count) {
    set(2, static_cast<uint8_t>(count >> 8));
    set(2, static_cast<uint8_t>(count));
    for (unsigned i = 0; i < 3; ++i) {
      set(3 + i, static_cast<uint8_t>(lba >> (24 + 8 * i)));
      set(3 + i, static_cast<uint8_t>(lba >> (8 * i)));
    }
    set(6, 0xE0);
  }
  std::vector<uint8_t> read_pio(size_t bytes) {
    std::vector<uint8_t> out;
    for (size_t i = 0; i < bytes; i += 2) {
      const uint32_t w = bus_->read_command_block(0, 2);
      out.push_back(static_cast<uint8_t>(w));
      out.push_back(static_cast<uint8_t>(w >> 8));
    }
    return out;
  }
  void write_pio(const std::vector<uint8_t>& data) {
    for (size_t i = 0; i + 1 < data.size(); i += 2)
      bus_->write_command_block(0, 2, data[i] | data[i + 1] << 8);
  }
  void put_prd(uint64_t at, uint32_t address, uint32_t count, bool end) {
    uint8_t e[8] = {static_cast<uint8_t>(address),
                    static_cast<uint8_t>(address >> 8),
                    static_cast<uint8_t>(address >> 16),
                    static_cast<uint8_t>(address >> 24),
                    static_cast<uint8_t>(count),
                    static_cast<uint8_t>(count >> 8),
                    0,
                    static_cast<uint8_t>(end ? 0x80 : 0)};
    std::memcpy(ram_.data() + at, e, 8);
  }
  void start_bm(uint32_t table, bool to_memory) {
    bus_->write_bus_master(4, 4, table);
    bus_->write_bus_master(0, 1, (to_memory ? kBmCommandToMemory : 0) | kBmCommandStart);
  }
  uint8_t bm_status() { return static_cast<uint8_t>(bus_->read_bus_master(2, 1)); }
  std::vector<uint8_t> packet_in(const std::vector<uint8_t>& cdb, uint16_t limit = 0xFFFE) {
    set(1, 0);
    set(4, static_cast<uint8_t>(limit));
    set(5, static_cast<uint8_t>(limit >> 8));
    set(7, 0xA0);
    EXPECT_EQ(reg(7) & kAtaDrq, kAtaDrq);
    EXPECT_EQ(reg(2), 0x01);  // CoD
    std::vector<uint8_t> packet(12, 0);
    std::copy(cdb.begin(), cdb.end(), packet.begin());
    write_pio(packet);
    std::vector<uint8_t> got;
    while (reg(7) & kAtaDrq) {
      const unsigned n = reg(4) | reg(5) << 8;
      auto part = read_pio(n);
      got.insert(got.end(), part.begin(), part.end());
    }
    return got;
  }
  std::vector<uint8_t> sense() {
    auto s = packet_in({0x03, 0, 0, 0, 18});
    return s;
  }

  std::string dir_;
  std::vector<std::string> files_;
  std::vector<uint8_t> ram_;
  GuestMemory memory_;
  std::unique_ptr<IdeBus> bus_;
  bool line_ = false;
  int raised_ = 0;
};

std::string ata_string(const std::vector<uint8_t>& id, unsigned word, unsigned chars) {
  std::string s;
  for (unsigned i = 0; i < chars; ++i) s += static_cast<char>(id[2 * word + (i ^ 1)]);
  return s;
}
unsigned word(const std::vector<uint8_t>& id, unsigned index) {
  return id[2 * index] | id[2 * index + 1] << 8;
}

TEST_F(IdeTest, IdentifyDeviceAsQemu) {
  make_bus(false);
  EXPECT_EQ(reg(7), kAtaDrdy | kAtaDsc);
  EXPECT_EQ(reg(2), 1);  // ATA signature
  EXPECT_EQ(reg(4), 0);
  set(6, 0xA0);
  set(7, 0xEC);
  EXPECT_TRUE(line_);
  EXPECT_EQ(reg(7), kAtaDrdy | kAtaDsc | kAtaDrq);
  EXPECT_FALSE(line_);  // reading status acknowledges
  auto id = read_pio(512);
  EXPECT_EQ(reg(7), kAtaDrdy | kAtaDsc);
  EXPECT_EQ(ata_string(id, 27, 40), "QEMU HARDDISK                           ");
  EXPECT_EQ(ata_string(id, 23, 8), "2.5+    ");
  EXPECT_EQ(ata_string(id, 10, 20), "QM00001             ");
  EXPECT_EQ(word(id, 0), 0x0040u);
  EXPECT_EQ(word(id, 49) & 0x0300, 0x0300u);  // LBA + DMA
  EXPECT_EQ(word(id, 83) & 0x3400, 0x3400u);  // LBA48, FLUSH, FLUSH EXT
  EXPECT_EQ(word(id, 85) & 0x20, 0x20u);      // write cache on
  EXPECT_EQ(word(id, 60) | word(id, 61) << 16, kDiskSectors);
  EXPECT_EQ(word(id, 100), kDiskSectors);
  EXPECT_EQ(word(id, 80), 0xF0u);
  EXPECT_EQ(word(id, 88), 0x203Fu);  // UDMA0-5, UDMA5 selected
}

TEST_F(IdeTest, PioReadWriteLba28AndLba48) {
  make_bus(false);
  lba28(5, 2);
  set(7, 0x20);
  auto data = read_pio(1024);
  for (size_t i = 0; i < data.size(); ++i) ASSERT_EQ(data[i], pattern(5 * 512 + i)) << i;
  EXPECT_EQ(reg(7), kAtaDrdy | kAtaDsc);

  std::vector<uint8_t> out(512 * 3);
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(i ^ 0x5A);
  lba48(100, 3);
  set(7, 0x34);  // WRITE SECTORS EXT
  write_pio(out);
  EXPECT_EQ(reg(7), kAtaDrdy | kAtaDsc);
  lba48(100, 3);
  set(7, 0x24);
  EXPECT_EQ(read_pio(out.size()), out);

  // READ MULTIPLE after SET MULTIPLE MODE 4: one DRQ block of 4 sectors.
  set(2, 4);
  set(7, 0xC6);
  EXPECT_EQ(reg(7) & kAtaErr, 0);
  lba28(0, 8);
  set(7, 0xC4);
  reg(7);  // acknowledge the first block's interrupt
  raised_ = 0;
  read_pio(512 * 4);
  EXPECT_EQ(raised_, 1);  // the second block's interrupt
  reg(7);
  read_pio(512 * 4);
  EXPECT_EQ(raised_, 1);  // none after the last block of a read
  EXPECT_EQ(reg(7), kAtaDrdy | kAtaDsc);
  set(2, 3);
  set(7, 0xC6);  // not a power of two
  EXPECT_EQ(reg(7) & kAtaErr, kAtaErr);
  EXPECT_EQ(reg(1), kAtaAbrt);
}

TEST_F(IdeTest, OutOfRangeAndUnknownCommandsAbort) {
  make_bus(false);
  lba28(kDiskSectors - 1, 2);  // one sector past the end
  set(7, 0x20);
  EXPECT_EQ(reg(7), kAtaDrdy | kAtaErr);
  EXPECT_EQ(reg(1), kAtaAbrt);                         // QEMU 7.2 (ide_rw_error): ABRT, no IDNF
  EXPECT_EQ(bus_->read_command_block(0, 2), 0xFFFFu);  // no data phase
  lba48(1ull << 47, 1);
  set(7, 0x25);  // READ DMA EXT far past the end
  EXPECT_EQ(reg(7) & kAtaErr, kAtaErr);
  set(7, 0xA1);  // IDENTIFY PACKET DEVICE to a disk
  EXPECT_EQ(reg(1), kAtaAbrt);
  set(7, 0xB0);  // SMART: not implemented
  EXPECT_EQ(reg(7), kAtaDrdy | kAtaErr);
  set(1, 0x77);
  set(7, 0xEF);  // unknown SET FEATURES subcommand
  EXPECT_EQ(reg(1), kAtaAbrt);
  set(1, 0x82);
  set(7, 0xEF);  // write cache off
  EXPECT_EQ(reg(7), kAtaDrdy | kAtaDsc);
  set(7, 0xE7);  // FLUSH CACHE
  EXPECT_EQ(reg(7), kAtaDrdy | kAtaDsc);
  // A command to the absent slave is ignored; its status reads 0.
  set(6, 0xB0);
  EXPECT_EQ(reg(7), 0);
  set(7, 0xEC);
  EXPECT_EQ(reg(7), 0);
}

TEST_F(IdeTest, ReadOnlyDiskRefusesWrites) {
  make_bus(false, false);
  lba28(0, 1);
  set(7, 0x30);
  EXPECT_EQ(reg(7), kAtaDrdy | kAtaErr);
  EXPECT_EQ(reg(1), kAtaAbrt);
}

TEST_F(IdeTest, DmaReadAndWriteThroughPrdTable) {
  make_bus(false);
  // Two entries: 512 bytes at 0x10000, 1024 at 0x20000 (end).
  put_prd(0x1000, 0x10000, 512, false);
  put_prd(0x1008, 0x20000, 1024, true);
  lba28(10, 3);
  set(7, 0xC8);
  EXPECT_EQ(reg(7) & kAtaDrq, kAtaDrq);  // waiting for the bus master
  start_bm(0x1000, true);
  EXPECT_EQ(reg(7), kAtaDrdy | kAtaDsc);
  EXPECT_EQ(bm_status() & (kBmStatusActive | kBmStatusError | kBmStatusInterrupt),
            kBmStatusInterrupt);
  for (size_t i = 0; i < 512; ++i) ASSERT_EQ(ram_[0x10000 + i], pattern(10 * 512 + i));
  for (size_t i = 0; i < 1024; ++i) ASSERT_EQ(ram_[0x20000 + i], pattern(11 * 512 + i));
  bus_->write_bus_master(2, 1, kBmStatusInterrupt);  // write 1 to clear
  bus_->write_bus_master(0, 1, 0);
  EXPECT_EQ(bm_status() & kBmStatusInterrupt, 0);

  // WRITE DMA EXT with the bus master started first; a zero count is 64 KiB.
  for (size_t i = 0; i < 1024; ++i) ram_[0x30000 + i] = static_cast<uint8_t>(i * 3);
  put_prd(0x2000, 0x30000, 0, true);
  start_bm(0x2000, false);
  lba48(200, 2);
  set(7, 0x35);
  EXPECT_EQ(reg(7), kAtaDrdy | kAtaDsc);
  bus_->write_bus_master(0, 1, 0);
  lba28(200, 2);
  set(7, 0x20);
  auto back = read_pio(1024);
  for (size_t i = 0; i < 1024; ++i) ASSERT_EQ(back[i], static_cast<uint8_t>(i * 3)) << i;
}

TEST_F(IdeTest, HostilePrdTablesFailCleanly) {
  make_bus(false);
  struct Case {
    const char* what;
    std::function<void()> table;
    uint32_t at;
  };
  const Case cases[] = {
      {"buffer past guest RAM", [this] { put_prd(0x1000, kRamSize - 256, 512, true); }, 0x1000},
      {"buffer at 4 GiB - 2", [this] { put_prd(0x1000, 0xFFFFFFFE, 512, true); }, 0x1000},
      {"table past guest RAM", [] {}, static_cast<uint32_t>(kRamSize + 0x1000)},
      {"table ending at the end of RAM without an end bit",
       [this] { put_prd(kRamSize - 8, 0x10000, 2, false); }, static_cast<uint32_t>(kRamSize - 8)},
      {"fewer bytes than sectors",
       [this] {
         put_prd(0x1000, 0x10000, 256, false);
         put_prd(0x1008, 0x11000, 128, true);
       },
       0x1000},
      {"a table running into a 64 KiB boundary without an end bit",
       [this] {
         for (uint32_t i = 0; i < 32; ++i) put_prd(0x4FF00 + 8 * i, 0x10000, 2, false);
         put_prd(0x50000, 0x10000, 4096, true);  // never read: past the boundary
       },
       0x4FF00},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    std::fill(ram_.begin(), ram_.end(), 0);
    c.table();
    lba28(0, 1);
    set(7, 0xC8);
    start_bm(c.at, true);
    EXPECT_EQ(reg(7), kAtaDrdy | kAtaErr);
    EXPECT_EQ(reg(1), kAtaAbrt);
    EXPECT_EQ(bm_status() & (kBmStatusActive | kBmStatusError), kBmStatusError);
    bus_->write_bus_master(2, 1, kBmStatusError | kBmStatusInterrupt);
    bus_->write_bus_master(0, 1, 0);
    // The channel still works afterwards.
    lba28(1, 1);
    set(7, 0x20);
    auto data = read_pio(512);
    EXPECT_EQ(data[0], pattern(512));
  }
  // A table larger than the transfer is fine: the rest is unused.
  put_prd(0x1000, 0x10000, 4096, true);
  lba28(0, 1);
  set(7, 0xC8);
  start_bm(0x1000, true);
  EXPECT_EQ(reg(7), kAtaDrdy | kAtaDsc);
}

TEST_F(IdeTest, ResetSignatures) {
  make_bus(true);
  EXPECT_EQ(reg(4), 0x14);
  EXPECT_EQ(reg(5), 0xEB);
  set(7, 0xEC);  // IDENTIFY DEVICE to a packet device: abort + signature
  EXPECT_EQ(reg(7) & kAtaErr, kAtaErr);
  EXPECT_EQ(reg(4), 0x14);
  bus_->write_device_control(0x04);  // SRST
  EXPECT_EQ(bus_->read_alt_status() & kAtaBsy, kAtaBsy);
  bus_->write_device_control(0x00);
  EXPECT_EQ(reg(7), 0);  // a packet device does not set DRDY after reset
  EXPECT_EQ(reg(2), 1);
  EXPECT_EQ(reg(5), 0xEB);
}

TEST_F(IdeTest, AtapiIdentifyInquiryCapacityAndRead) {
  make_bus(true);
  set(7, 0xA1);
  auto id = read_pio(512);
  EXPECT_EQ(ata_string(id, 27, 40), "QEMU DVD-ROM                            ");
  EXPECT_EQ(word(id, 0), 0x85C0u);
  EXPECT_EQ(word(id, 80), 0x1Eu);

  auto inquiry = packet_in({0x12, 0, 0, 0, 36});
  ASSERT_EQ(inquiry.size(), 36u);
  EXPECT_EQ(inquiry[0], 0x05);
  EXPECT_EQ(std::string(inquiry.begin() + 8, inquiry.begin() + 32), "QEMU    QEMU DVD-ROM    ");
  EXPECT_EQ(reg(2), 0x03);                              // status phase
  EXPECT_EQ(packet_in({0x12, 0, 0, 0, 6}).size(), 6u);  // allocation length

  auto capacity = packet_in({0x25});
  ASSERT_EQ(capacity.size(), 8u);
  EXPECT_EQ(capacity[3], 63);  // last LBA
  EXPECT_EQ(capacity[6] << 8 | capacity[7], 2048);

  // READ(10) of 3 blocks with a 4 KiB byte count limit: two DRQ chunks.
  auto data = packet_in({0x28, 0, 0, 0, 0, 7, 0, 0, 3}, 4096);
  ASSERT_EQ(data.size(), 3u * 2048);
  for (size_t i = 0; i < data.size(); ++i) ASSERT_EQ(data[i], pattern(7 * 2048 + i)) << i;
  EXPECT_EQ(reg(7), kAtaDrdy | kAtaDsc);

  auto toc = packet_in({0x43, 0, 0, 0, 0, 0, 0, 0, 100});
  ASSERT_EQ(toc.size(), 20u);
  EXPECT_EQ(toc[6], 1);      // track 1
  EXPECT_EQ(toc[14], 0xAA);  // lead-out
  EXPECT_EQ(toc[19], 64);    // at the media size
  auto session = packet_in({0x43, 0, 1, 0, 0, 0, 0, 0, 12});
  EXPECT_EQ(session.size(), 12u);
  auto config = packet_in({0x46, 0, 0, 0, 0, 0, 0, 0, 64});
  ASSERT_GE(config.size(), 8u);
  EXPECT_EQ(config[7], 0x08);  // current profile CD-ROM
  auto mode = packet_in({0x5A, 0, 0x2A, 0, 0, 0, 0, 0, 64});
  EXPECT_EQ(mode.size(), 30u);
  EXPECT_EQ(mode[8], 0x2A);
}

TEST_F(IdeTest, AtapiErrorsAndSense) {
  make_bus(true);
  // Past the media: ILLEGAL REQUEST, LBA out of range.
  EXPECT_TRUE(packet_in({0x28, 0, 0, 0, 0, 63, 0, 0, 2}).empty());
  EXPECT_EQ(reg(7) & kAtaErr, kAtaErr);
  EXPECT_EQ(reg(1) >> 4, 0x05);
  auto s = sense();
  ASSERT_EQ(s.size(), 18u);
  EXPECT_EQ(s[2], 0x05);
  EXPECT_EQ(s[12], 0x21);
  // READ(12) with a block count near 2^32.
  EXPECT_TRUE(packet_in({0xA8, 0, 0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF}).empty());
  EXPECT_EQ(sense()[12], 0x21);
  // Unknown opcode: invalid command operation code.
  EXPECT_TRUE(packet_in({0xFF}).empty());
  EXPECT_EQ(sense()[12], 0x20);
  // Saved mode pages are not supported.
  EXPECT_TRUE(packet_in({0x5A, 0, 0xEA, 0, 0, 0, 0, 0, 64}).empty());
  EXPECT_EQ(sense()[12], 0x39);
  // GESN must be polled.
  EXPECT_TRUE(packet_in({0x4A, 0, 0, 0, 0x10, 0, 0, 0, 8}).empty());
  EXPECT_EQ(sense()[12], 0x24);
  // Locked tray: eject refused; unlocked: ejected, then NOT READY.
  packet_in({0x1E, 0, 0, 0, 1});
  EXPECT_TRUE(packet_in({0x1B, 0, 0, 0, 0x02}).empty());
  EXPECT_EQ(reg(7) & kAtaErr, kAtaErr);
  EXPECT_EQ(sense()[12], 0x53);
  packet_in({0x1E, 0, 0, 0, 0});
  packet_in({0x1B, 0, 0, 0, 0x02});
  EXPECT_EQ(reg(7) & kAtaErr, 0);
  packet_in({0x00});  // TEST UNIT READY
  EXPECT_EQ(reg(7) & kAtaErr, kAtaErr);
  auto ns = sense();
  EXPECT_EQ(ns[2], 0x02);
  EXPECT_EQ(ns[12], 0x3A);
  auto event = packet_in({0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8});
  ASSERT_EQ(event.size(), 8u);
  EXPECT_EQ(event[4], 0x03);         // media removal
  EXPECT_EQ(event[5], 0x01);         // tray open, no media
  packet_in({0x1B, 0, 0, 0, 0x03});  // load
  packet_in({0x00});
  EXPECT_EQ(reg(7), kAtaDrdy | kAtaDsc);
}

TEST_F(IdeTest, AtapiDmaRead) {
  make_bus(true);
  put_prd(0x1000, 0x10000, 4096, true);
  set(1, 0x01);  // DMA
  set(7, 0xA0);
  std::vector<uint8_t> packet = {0x28, 0, 0, 0, 0, 2, 0, 0, 2, 0, 0, 0};
  write_pio(packet);
  start_bm(0x1000, true);
  EXPECT_EQ(reg(7), kAtaDrdy | kAtaDsc);
  EXPECT_EQ(reg(2), 0x03);
  for (size_t i = 0; i < 4096; ++i) ASSERT_EQ(ram_[0x10000 + i], pattern(2 * 2048 + i)) << i;
  // A table shorter than the read: an error, nothing past the table.
  bus_->write_bus_master(0, 1, 0);
  put_prd(0x1000, 0x10000, 2048, true);
  set(1, 0x01);
  set(7, 0xA0);
  write_pio(packet);
  start_bm(0x1000, true);
  EXPECT_EQ(reg(7) & kAtaErr, kAtaErr);
  EXPECT_EQ(bm_status() & kBmStatusError, kBmStatusError);
}

TEST_F(IdeTest, EachDriveShowsItsOwnSignatureAfterReset) {
  make_two();
  bus_->write_device_control(0x06);  // SRST + nIEN, as SeaBIOS
  bus_->write_device_control(0x02);
  set(6, 0xB0);
  EXPECT_EQ(reg(4), 0x14);
  EXPECT_EQ(reg(5), 0xEB);
  EXPECT_EQ(reg(7), 0);  // a packet device after SRST
  set(6, 0xA0);
  EXPECT_EQ(reg(4), 0x00);
  EXPECT_EQ(reg(5), 0x00);
  EXPECT_EQ(reg(7), kAtaDrdy | kAtaDsc);
  // Registers written after the reset read back as written, for both.
  set(4, 0x55);
  set(6, 0xB0);
  EXPECT_EQ(reg(4), 0x55);
  // The slave answers packets; the master's IDENTIFY still works.
  auto inquiry = packet_in({0x12, 0, 0, 0, 36});
  EXPECT_EQ(inquiry.size(), 36u);
  set(6, 0xA0);
  set(7, 0xEC);
  EXPECT_EQ(read_pio(512).size(), 512u);
  EXPECT_FALSE(line_);  // nIEN masks the line
}

// Random register, data-port and bus-master traffic over random guest
// memory, with both drives: nothing may crash or touch memory outside RAM
// (the sanitizer build checks the latter), and the channel stays usable.
TEST_F(IdeTest, RandomTrafficIsHarmless) {
  make_two();
  uint64_t state = 0x9E3779B97F4A7C15ull;
  auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  for (size_t i = 0; i < kRamSize; i += 8) {
    const uint64_t r = next();
    std::memcpy(ram_.data() + i, &r, 8);
  }
  static constexpr uint8_t kCommands[] = {
      0x20, 0x24, 0x25, 0x29, 0x30, 0x34, 0x35, 0x39, 0x40, 0x42, 0x90, 0x91, 0xA0, 0xA1,
      0xC4, 0xC5, 0xC6, 0xC8, 0xCA, 0xE7, 0xEA, 0xEC, 0xEF, 0xF8, 0x27, 0x08, 0x00, 0xFF};
  for (int step = 0; step < 200000; ++step) {
    const uint64_t r = next();
    const auto value = static_cast<uint32_t>(r >> 32);
    switch (r % 12) {
      case 0:
        set(7, kCommands[(r >> 8) % sizeof(kCommands)]);
        break;
      case 1:
      case 2:
        bus_->write_command_block(0, 2, value);
        break;
      case 3:
      case 4:
        (void)bus_->read_command_block(0, (r >> 8) & 1 ? 4 : 2);
        break;
      case 5:
        set(1 + (r >> 8) % 6, static_cast<uint8_t>(value));
        break;
      case 6:
        (void)reg(1 + (r >> 8) % 7);
        break;
      case 7: {
        // A PRD table somewhere in (or just past) RAM.
        const uint32_t table = static_cast<uint32_t>((value % (kRamSize + 0x2000)) & ~3u);
        bus_->write_bus_master(4, 4, table);
        break;
      }
      case 8:
        bus_->write_bus_master(0, 1, value & 0xFF);
        break;
      case 9:
        bus_->write_bus_master(2, 1, value & 0xFF);
        break;
      case 10:
        if ((r >> 8) % 64 == 0) bus_->write_device_control((r >> 16) & 1 ? 0x04 : 0x00);
        break;
      default:
        (void)bus_->read_bus_master((r >> 8) % 8, 1);
        break;
    }
  }
  // Still usable after a reset.
  bus_->write_device_control(0x04);
  bus_->write_device_control(0x00);
  bus_->write_bus_master(0, 1, 0);
  set(6, 0xA0);
  set(7, 0xEC);
  EXPECT_EQ(ata_string(read_pio(512), 27, 13), "QEMU HARDDISK");
}

TEST(Piix3IdeTest, PciIdentityAndBusMasterBar) {
  std::vector<uint8_t> ram(4096);
  GuestMemory memory;
  ASSERT_TRUE(memory.add_region(0, ram.size(), ram.data()));
  Piix3Ide ide(
      memory, [](bool) {}, [](bool) {});
  EXPECT_EQ(ide.config_read(0x00, 4), 0x70108086u);
  EXPECT_EQ(ide.config_read(0x08, 4), 0x01018000u);  // class 0101, prog-if 80, rev 0
  EXPECT_EQ(ide.config_read(0x2C, 4), 0x11001AF4u);
  EXPECT_EQ(ide.config_read(0x3D, 1), 0u);  // legacy IRQs 14/15, no INTx pin
  for (unsigned bar = 0; bar < 4; ++bar) EXPECT_EQ(ide.bar(bar).size, 0u);
  EXPECT_EQ(ide.bar(4).size, 16u);
  EXPECT_EQ(ide.bar(4).kind, pci::BarKind::kIo);
  ide.config_write(0x20, 4, 0xFFFFFFFF);
  EXPECT_EQ(ide.config_read(0x20, 4), 0xFFFFFFF1u);  // 16 bytes of I/O
  ide.config_write(0x40, 2, 0x8000);
  ide.config_write(0x42, 2, 0x8000);
  EXPECT_EQ(ide.config_read(0x40, 4), 0x80008000u);
  // Channel 1's PRD pointer through BAR4 + 0x0C; bits 0-1 read 0.
  const uint8_t prd[4] = {0x07, 0x10, 0, 0};
  ide.bar_write(4, 0x0C, prd);
  uint8_t back[4] = {};
  ide.bar_read(4, 0x0C, back);
  EXPECT_EQ(back[0], 0x04);
  EXPECT_EQ(back[1], 0x10);
  EXPECT_EQ(ide.bus(1).read_bus_master(4, 4), 0x1004u);
  EXPECT_EQ(ide.bus(0).read_bus_master(4, 4), 0u);
  uint8_t junk[2] = {};
  ide.bar_read(4, 15, std::span(junk, 1));  // the last byte: no overrun
  ide.reset();
  EXPECT_EQ(ide.config_read(0x40, 4), 0u);
}

// Host media change as QEMU (ide_cd_change_cb): eject opens the tray, an
// insert closes it on the new image; the next command sees NOT READY, the
// one after UNIT ATTENTION 06/28/00 (sticky until REQUEST SENSE), then ready.
TEST_F(IdeTest, HostEjectAndInsertMedium) {
  make_bus(true);
  packet_in({0x00});
  ASSERT_EQ(reg(7), kAtaDrdy | kAtaDsc);
  const int irqs = raised_;
  ASSERT_TRUE(bus_->eject_medium(0, false).ok());
  EXPECT_GT(raised_, irqs);
  auto state = bus_->medium(0);
  ASSERT_TRUE(state.has_value());
  EXPECT_TRUE(state->cdrom && state->tray_open && !state->inserted);
  packet_in({0x00});
  EXPECT_EQ(reg(7) & kAtaErr, kAtaErr);
  auto s = sense();
  EXPECT_EQ(s[2], 0x02);
  EXPECT_EQ(s[12], 0x3A);
  auto event = packet_in({0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8});
  ASSERT_EQ(event.size(), 8u);
  EXPECT_EQ(event[4], 0x03);  // media removal
  EXPECT_EQ(event[5], 0x01);  // tray open
  // The new medium: 32 blocks.
  ASSERT_TRUE(bus_->insert_medium(0, make_image("new.iso", 32 * 2048, false)).ok());
  state = bus_->medium(0);
  EXPECT_TRUE(state->inserted && !state->tray_open);
  // INQUIRY and GESN pass the pending attention; GESN reports new media.
  EXPECT_EQ(packet_in({0x12, 0, 0, 0, 36}).size(), 36u);
  event = packet_in({0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8});
  ASSERT_EQ(event.size(), 8u);
  EXPECT_EQ(event[4], 0x02);  // new media
  EXPECT_EQ(event[5], 0x02);  // media present
  event = packet_in({0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8});
  EXPECT_EQ(event[4], 0x00);  // reported once
  packet_in({0x00});
  EXPECT_EQ(reg(7) & kAtaErr, kAtaErr);
  EXPECT_EQ(reg(1) >> 4, 0x02);  // NOT READY first
  s = sense();
  EXPECT_EQ(s[12], 0x3A);
  packet_in({0x00});
  EXPECT_EQ(reg(7) & kAtaErr, kAtaErr);
  EXPECT_EQ(reg(1), 0x60);  // UNIT ATTENTION
  packet_in({0x25});        // still pending: CHECK CONDITION, MEDIA CHANGED bit
  EXPECT_EQ(reg(7) & kAtaErr, kAtaErr);
  EXPECT_EQ(reg(1), 0x60 | 0x20);
  s = sense();
  EXPECT_EQ(s[2], 0x06);
  EXPECT_EQ(s[12], 0x28);
  EXPECT_EQ(s[13], 0x00);
  packet_in({0x00});
  EXPECT_EQ(reg(7), kAtaDrdy | kAtaDsc);
  auto capacity = packet_in({0x25});
  ASSERT_EQ(capacity.size(), 8u);
  EXPECT_EQ(capacity[3], 31);  // the new medium's last block
  auto data = packet_in({0x28, 0, 0, 0, 0, 31, 0, 0, 1});
  ASSERT_EQ(data.size(), 2048u);
  for (size_t i = 0; i < data.size(); ++i) ASSERT_EQ(data[i], pattern(31 * 2048 + i)) << i;
  // Inserting into a closed, unlocked tray swaps the medium the same way.
  ASSERT_TRUE(bus_->insert_medium(0, make_image("third.iso", 8 * 2048, false)).ok());
  packet_in({0x00});
  EXPECT_EQ(sense()[12], 0x3A);
  packet_in({0x00});
  EXPECT_EQ(sense()[12], 0x28);
  capacity = packet_in({0x25});
  EXPECT_EQ(capacity[3], 7);
}

// PREVENT ALLOW MEDIUM REMOVAL: eject and insert are refused (the guest
// sees an eject request) unless forced, which drops the lock.
TEST_F(IdeTest, LockedTrayRefusesHostEjectUnlessForced) {
  make_bus(true);
  packet_in({0x1E, 0, 0, 0, 1});
  EXPECT_TRUE(bus_->medium(0)->locked);
  auto refused = bus_->eject_medium(0, false);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind(), ErrorKind::kLocked);
  EXPECT_TRUE(bus_->medium(0)->inserted);
  auto event = packet_in({0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8});
  EXPECT_EQ(event[4], 0x01);  // eject request
  EXPECT_EQ(event[5], 0x02);  // medium still there
  packet_in({0x00});
  EXPECT_EQ(reg(7), kAtaDrdy | kAtaDsc);  // nothing changed for the guest
  auto insert = bus_->insert_medium(0, make_image("other.iso", 4 * 2048, false));
  ASSERT_FALSE(insert.ok());
  EXPECT_EQ(insert.error().kind(), ErrorKind::kLocked);
  ASSERT_TRUE(bus_->eject_medium(0, true).ok());
  auto state = bus_->medium(0);
  EXPECT_TRUE(state->tray_open && !state->locked && !state->inserted);
  packet_in({0x00});
  EXPECT_EQ(sense()[12], 0x3A);
  // Ejecting an open tray again is harmless.
  EXPECT_TRUE(bus_->eject_medium(0, false).ok());
}

// A DMA read set up on the old medium and started after the eject ends
// with NOT READY; nothing reaches guest memory. Disks are not removable.
TEST_F(IdeTest, MediumChangeUnderPendingDmaAndDisksRefuse) {
  make_bus(true);
  put_prd(0x1000, 0x10000, 4096, true);
  set(1, 0x01);
  set(7, 0xA0);
  write_pio({0x28, 0, 0, 0, 0, 2, 0, 0, 2, 0, 0, 0});
  ASSERT_TRUE(bus_->eject_medium(0, false).ok());
  start_bm(0x1000, true);
  EXPECT_EQ(reg(7) & kAtaErr, kAtaErr);
  for (size_t i = 0; i < 4096; ++i) ASSERT_EQ(ram_[0x10000 + i], 0) << i;
  EXPECT_FALSE(bus_->medium(1).has_value());
  EXPECT_FALSE(bus_->eject_medium(1, false).ok());
  make_bus(false);
  auto disk = bus_->eject_medium(0, true);
  ASSERT_FALSE(disk.ok());
  EXPECT_EQ(disk.error().kind(), ErrorKind::kUnsupported);
  EXPECT_FALSE(bus_->medium(0)->cdrom);
}

}  // namespace
}  // namespace amber::hv::devices
