// SPDX-License-Identifier: GPL-2.0-or-later
// Unit tests of virtio-scsi (ScsiDevice + ScsiDisk) over synthetic guest
// memory: each SCSI command the guests use, LUN routing, the config
// space, and hostile requests (CDBs past the disk, transfer lengths that
// do not match the buffers, bad LUN encodings, short headers, short sense
// buffers), plus UNMAP through the real qcow2 engine shrinking the file.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <random>

#include "block/create.h"
#include "hv/virtio/scsi_device.h"
#include "virtio_test_support.h"

namespace amber::hv::virtio {
namespace {

using test::Buf;
using test::GuestRam;
using test::MemImage;
using test::TestRing;

constexpr uint64_t kDiskSize = 1 << 20;  // 2048 blocks

ScsiDiskOptions opts(block::DiscardMode discard, DiskAccess access = DiskAccess::kReadWrite,
                     std::string serial = "") {
  ScsiDiskOptions o;
  o.discard = discard;
  o.access = access;
  o.serial = std::move(serial);
  o.label = "t";
  return o;
}

class NullSignals final : public DeviceSignals {
 public:
  void notify_queue(unsigned) override {}
  void needs_reset(const Error&) override {}
};

struct Reply {
  bool ok = false;  // serve_request returned a length
  uint32_t used = 0;
  uint32_t sense_len = 0;
  uint32_t resid = 0;
  uint8_t status = 0xEE;
  uint8_t response = 0xEE;
  std::vector<uint8_t> sense;
  std::vector<uint8_t> data;  // data-in
};

class ScsiTest : public ::testing::Test {
 protected:
  void SetUp() override { make({}); }
  void make(ScsiDiskOptions options, bool read_only_image = false) {
    image_ = std::make_shared<MemImage>(kDiskSize, read_only_image);
    if (options.label.empty()) options.label = "scsi0-0-0";
    disk_ = std::make_shared<ScsiDisk>(image_, options);
    std::vector<ScsiLun> luns;
    luns.push_back({0, 0, disk_});
    luns.push_back({2, 5, std::make_shared<ScsiDisk>(image_, options)});
    auto d = ScsiDevice::create(std::move(luns), 1, ram_.memory, signals_);
    ASSERT_TRUE(d.ok());
    device_ = std::move(d).value();
    ring_ = std::make_unique<TestRing>(ram_, 0x10000, 256);
    ASSERT_TRUE(queue_
                    .activate(ram_.memory, {256, ring_->desc(), ring_->avail(), ring_->used()},
                              {false, true})
                    .ok());
    // Each LUN holds the power-on UNIT ATTENTION; take it, as a guest's
    // first TEST UNIT READY does, so the cases start from a ready unit.
    EXPECT_EQ(run(request({0x00}), 51, {}, 0).status, kScsiStatusCheckCondition);
    EXPECT_EQ(run(request({0x00}, lun(2, 5)), 51, {}, 0).status, kScsiStatusCheckCondition);
  }
  // A TMF request on the control queue; returns its response byte.
  uint8_t tmf(uint32_t subtype, unsigned target, unsigned l) {
    std::vector<uint8_t> bytes(24, 0);
    bytes[4] = static_cast<uint8_t>(subtype);
    const std::vector<uint8_t> address = lun(target, l);
    std::copy(address.begin(), address.end(), bytes.begin() + 8);
    const uint64_t req = ram_.alloc(24);
    std::memcpy(ram_.at(req), bytes.data(), 24);
    const uint64_t resp = ram_.alloc(1);
    ring_->publish(ring_->build({{req, 24, false}, {resp, 1, true}}));
    auto popped = queue_.pop(chain_);
    EXPECT_TRUE(popped.ok() && *popped);
    EXPECT_TRUE(device_->serve_control(chain_).ok());
    return ram_.get<uint8_t>(resp);
  }
  // lun[8] for target/lun (QEMU / Linux encoding).
  static std::vector<uint8_t> lun(unsigned target, unsigned l) {
    return {1,
            static_cast<uint8_t>(target),
            static_cast<uint8_t>(0x40 | l >> 8),
            static_cast<uint8_t>(l),
            0,
            0,
            0,
            0};
  }
  uint64_t request(std::vector<uint8_t> cdb, std::vector<uint8_t> lun_bytes = lun(0, 0),
                   size_t header_size = 51) {
    const uint64_t h = ram_.alloc(header_size);
    std::vector<uint8_t> bytes(header_size, 0);
    std::copy(lun_bytes.begin(), lun_bytes.end(), bytes.begin());
    for (size_t i = 0; i < cdb.size() && 19 + i < header_size; ++i) bytes[19 + i] = cdb[i];
    std::memcpy(ram_.at(h), bytes.data(), header_size);
    return h;
  }
  Reply run(uint64_t header, uint32_t header_len, std::vector<Buf> out, uint32_t data_in,
            uint32_t resp_len = 108) {
    const uint64_t resp = ram_.alloc(resp_len);
    std::memset(ram_.at(resp), 0xEE, resp_len);
    const uint64_t in = data_in ? ram_.alloc(data_in) : 0;
    if (data_in) std::memset(ram_.at(in), 0xCC, data_in);
    std::vector<Buf> bufs{{header, header_len, false}};
    bufs.insert(bufs.end(), out.begin(), out.end());
    bufs.push_back({resp, resp_len, true});
    if (data_in) bufs.push_back({in, data_in, true});
    ring_->publish(ring_->build(bufs));
    auto popped = queue_.pop(chain_);
    EXPECT_TRUE(popped.ok() && *popped);
    Reply r;
    auto used = device_->serve_request(chain_);
    if (!used.ok()) return r;
    r.ok = true;
    r.used = *used;
    if (resp_len >= 12) {
      r.sense_len = ram_.get<uint32_t>(resp);
      r.resid = ram_.get<uint32_t>(resp + 4);
      r.status = ram_.get<uint8_t>(resp + 10);
      r.response = ram_.get<uint8_t>(resp + 11);
      for (uint32_t i = 0; i < std::min<uint32_t>(r.sense_len, resp_len - 12); ++i)
        r.sense.push_back(ram_.get<uint8_t>(resp + 12 + i));
    }
    for (uint32_t i = 0; i < data_in; ++i) r.data.push_back(ram_.get<uint8_t>(in + i));
    return r;
  }
  Reply cmd(std::vector<uint8_t> cdb, uint32_t data_in = 0, std::vector<Buf> out = {}) {
    return run(request(cdb), 51, out, data_in);
  }
  uint64_t data(uint32_t len, uint8_t fill) {
    const uint64_t d = ram_.alloc(len);
    std::memset(ram_.at(d), fill, len);
    return d;
  }
  static void expect_sense(const Reply& r, uint8_t key, uint8_t asc) {
    EXPECT_EQ(r.response, kScsiRespOk);
    EXPECT_EQ(r.status, kScsiStatusCheckCondition);
    ASSERT_GE(r.sense.size(), 14u);
    EXPECT_EQ(r.sense[0], 0x70);
    EXPECT_EQ(r.sense[2], key);
    EXPECT_EQ(r.sense[12], asc);
  }

  GuestRam ram_;
  NullSignals signals_;
  std::shared_ptr<MemImage> image_;
  std::shared_ptr<ScsiDisk> disk_;
  std::unique_ptr<ScsiDevice> device_;
  std::unique_ptr<TestRing> ring_;
  SplitQueue queue_;
  DescriptorChain chain_;
};

TEST_F(ScsiTest, ConfigSpaceAndIdentity) {
  EXPECT_EQ(device_->identity().transitional_id, 0x1004);
  EXPECT_EQ(device_->identity().device_type, 8);
  EXPECT_EQ(device_->num_queues(), 3u);
  uint8_t cfg[40];
  device_->read_config(0, cfg);
  auto u32 = [&](int o) {
    uint32_t v;
    std::memcpy(&v, cfg + o, 4);
    return v;
  };
  EXPECT_EQ(u32(0), 1u);    // num_queues
  EXPECT_EQ(u32(20), 96u);  // sense_size
  EXPECT_EQ(u32(24), 32u);  // cdb_size
  EXPECT_EQ(cfg[30] | cfg[31] << 8, 255);
  EXPECT_EQ(u32(32), 16383u);
  EXPECT_EQ(cfg[36], 0);
}

TEST_F(ScsiTest, TestUnitReadyAndStandardInquiry) {
  Reply r = cmd({0x00});
  EXPECT_EQ(r.response, kScsiRespOk);
  EXPECT_EQ(r.status, kScsiStatusGood);
  EXPECT_EQ(r.sense_len, 0u);
  r = cmd({0x12, 0, 0, 0, 96, 0}, 96);
  EXPECT_EQ(r.status, kScsiStatusGood);
  EXPECT_EQ(r.data[0], 0x00);
  EXPECT_EQ(std::string(r.data.begin() + 8, r.data.begin() + 32), "QEMU    QEMU HARDDISK   ");
  EXPECT_EQ(r.resid, 96u - 36u);
  EXPECT_EQ(r.used, 108u + 36u);
  // Allocation length smaller than the data: cut.
  r = cmd({0x12, 0, 0, 0, 5, 0}, 96);
  EXPECT_EQ(r.resid, 91u);
  // Page code without EVPD.
  expect_sense(cmd({0x12, 0, 0x80, 0, 96, 0}, 96), kSenseIllegalRequest, 0x24);
}

TEST_F(ScsiTest, VpdPages) {
  make(opts(block::DiscardMode::kUnmap, DiskAccess::kReadWrite, "SER123"));
  Reply r = cmd({0x12, 1, 0x00, 0, 64, 0}, 64);
  EXPECT_EQ(r.status, kScsiStatusGood);
  EXPECT_EQ(std::vector<uint8_t>(r.data.begin() + 4, r.data.begin() + 4 + r.data[3]),
            (std::vector<uint8_t>{0x00, 0x80, 0x83, 0xB0, 0xB1, 0xB2}));
  r = cmd({0x12, 1, 0x80, 0, 64, 0}, 64);
  EXPECT_EQ(std::string(r.data.begin() + 4, r.data.begin() + 10), "SER123");
  r = cmd({0x12, 1, 0x83, 0, 64, 0}, 64);
  EXPECT_EQ(r.data[4], 0x02);
  EXPECT_EQ(std::string(r.data.begin() + 8, r.data.begin() + 14), "SER123");
  r = cmd({0x12, 1, 0xB0, 0, 64, 0}, 64);
  EXPECT_EQ(r.data[3], 0x3C);
  EXPECT_EQ(r.data[27], kScsiMaxUnmapDescriptors);
  r = cmd({0x12, 1, 0xB2, 0, 64, 0}, 64);
  EXPECT_EQ(r.data[5], 0xE0);  // LBPU, LBPWS, LBPWS10
  expect_sense(cmd({0x12, 1, 0x99, 0, 64, 0}, 64), kSenseIllegalRequest, 0x24);
  // Without discard: no LBPU, no LBPME.
  make({});
  r = cmd({0x12, 1, 0xB2, 0, 64, 0}, 64);
  EXPECT_EQ(r.data[5], 0);
  expect_sense(cmd({0x12, 1, 0x80, 0, 64, 0}, 64), kSenseIllegalRequest, 0x24);  // no serial
  r = cmd({0x9E, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0}, 32);
  EXPECT_EQ(r.data[14], 0);
}

TEST_F(ScsiTest, ReadCapacity) {
  make(opts(block::DiscardMode::kUnmap));
  Reply r = cmd({0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 8);
  EXPECT_EQ(r.data, (std::vector<uint8_t>{0, 0, 0x07, 0xFF, 0, 0, 2, 0}));
  r = cmd({0x9E, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0}, 32);
  EXPECT_EQ(r.data[7], 0xFF);
  EXPECT_EQ(r.data[6], 0x07);
  EXPECT_EQ(r.data[10], 2);
  EXPECT_EQ(r.data[14], 0x80);  // LBPME
}

TEST_F(ScsiTest, WriteReadAllSizes) {
  const uint64_t d = data(1024, 0x5A);
  // WRITE 10 at LBA 3, 2 blocks.
  Reply r = cmd({0x2A, 0, 0, 0, 0, 3, 0, 0, 2, 0}, 0, {{d, 1024, false}});
  EXPECT_EQ(r.status, kScsiStatusGood);
  EXPECT_EQ(image_->byte(3 * 512), 0x5A);
  EXPECT_EQ(image_->byte(5 * 512), 0);
  // WRITE 16 at LBA 2047 (the last block), then READ 16 and READ 6.
  const uint64_t d2 = data(512, 0x77);
  r = cmd({0x8A, 0, 0, 0, 0, 0, 0, 0, 0x07, 0xFF, 0, 0, 0, 1, 0, 0}, 0, {{d2, 512, false}});
  EXPECT_EQ(r.status, kScsiStatusGood);
  EXPECT_EQ(image_->byte(2047 * 512 + 511), 0x77);
  r = cmd({0x88, 0, 0, 0, 0, 0, 0, 0, 0x07, 0xFF, 0, 0, 0, 1, 0, 0}, 512);
  EXPECT_EQ(r.data[0], 0x77);
  EXPECT_EQ(r.used, 108u + 512u);
  r = cmd({0x08, 0, 0, 3, 1, 0}, 512);
  EXPECT_EQ(r.data[100], 0x5A);
  r = cmd({0xA8, 0, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0}, 512);  // READ 12
  EXPECT_EQ(r.data[0], 0x5A);
  // WRITE 6 with 0 blocks means 256 blocks.
  const uint64_t big = data(256 * 512, 0x11);
  r = cmd({0x0A, 0, 0, 0, 0, 0}, 0, {{big, 256 * 512, false}});
  EXPECT_EQ(r.status, kScsiStatusGood);
  EXPECT_EQ(image_->byte(255 * 512), 0x11);
}

TEST_F(ScsiTest, OutOfRangeAndMismatchedLengths) {
  // Past the disk: LBA 2047 + 2 blocks; LBA 2^63.
  expect_sense(cmd({0x28, 0, 0, 0, 0x07, 0xFF, 0, 0, 2, 0}, 1024), kSenseIllegalRequest, 0x21);
  expect_sense(cmd({0x88, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0}, 512),
               kSenseIllegalRequest, 0x21);
  expect_sense(
      cmd({0x88, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 1, 0, 0}, 512),
      kSenseIllegalRequest, 0x21);
  // Transfer larger than the buffer, or in the wrong direction: overrun.
  EXPECT_EQ(cmd({0x28, 0, 0, 0, 0, 0, 0, 0, 4, 0}, 512).response, kScsiRespOverrun);
  const uint64_t d = data(512, 1);
  EXPECT_EQ(cmd({0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0}, 0, {{d, 512, false}}).response,
            kScsiRespOverrun);
  EXPECT_EQ(cmd({0x2A, 0, 0, 0, 0, 0, 0, 0, 1, 0}, 512).response, kScsiRespOverrun);
  EXPECT_EQ(image_->writes.load(), 0);
  // Huge transfer length.
  expect_sense(cmd({0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0}, 512),
               kSenseIllegalRequest, 0x24);
  // Buffer larger than the transfer: residual.
  Reply r = cmd({0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0}, 2048);
  EXPECT_EQ(r.status, kScsiStatusGood);
  EXPECT_EQ(r.resid, 1536u);
  EXPECT_EQ(r.data[600], 0xCC);  // untouched
}

TEST_F(ScsiTest, UnsupportedOpcodesAndRequestSense) {
  for (uint8_t op : {0x01, 0x04, 0x3B, 0x3C, 0x4D, 0x5E, 0x7F, 0x89, 0xA3, 0xC0, 0xFF}) {
    Reply r = cmd({op, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 64);
    expect_sense(r, kSenseIllegalRequest, 0x20);
  }
  Reply r = cmd({0x03, 0, 0, 0, 18, 0}, 18);
  EXPECT_EQ(r.status, kScsiStatusGood);
  EXPECT_EQ(r.data[0], 0x70);
  EXPECT_EQ(r.data[2], kSenseNoSense);
}

TEST_F(ScsiTest, SynchronizeCacheAndModePages) {
  EXPECT_EQ(cmd({0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0}).status, kScsiStatusGood);
  EXPECT_EQ(cmd({0x91, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}).status, kScsiStatusGood);
  EXPECT_EQ(image_->flushes.load(), 2);
  expect_sense(cmd({0x35, 0, 0xFF, 0, 0, 0, 0, 0, 1, 0}), kSenseIllegalRequest, 0x21);
  // MODE SENSE 6, caching page: header 4 + descriptor 8 + page 20.
  Reply r = cmd({0x1A, 0, 0x08, 0, 255, 0}, 255);
  EXPECT_EQ(r.status, kScsiStatusGood);
  EXPECT_EQ(r.data[0], 31);
  EXPECT_EQ(r.data[3], 8);
  EXPECT_EQ(r.data[12], 0x08);
  EXPECT_EQ(r.data[14] & 0x04, 0x04);  // WCE
  // MODE SENSE 10, all pages, DBD.
  r = cmd({0x5A, 0x08, 0x3F, 0, 0, 0, 0, 1, 0, 0}, 256);
  EXPECT_EQ(r.data[1], 8 + 20 + 12 - 2);
  EXPECT_EQ(r.data[8], 0x08);
  EXPECT_EQ(r.data[28], 0x0A);
  expect_sense(cmd({0x1A, 0, 0xC8, 0, 255, 0}, 255), kSenseIllegalRequest, 0x39);  // saved
  expect_sense(cmd({0x1A, 0, 0x01, 0, 255, 0}, 255), kSenseIllegalRequest, 0x24);
  // MODE SELECT 6 clears WCE: writes then flush.
  std::vector<uint8_t> list = {0, 0, 0, 0, 0x08, 0x12};
  list.resize(4 + 20, 0);
  const uint64_t d = ram_.alloc(list.size());
  std::memcpy(ram_.at(d), list.data(), list.size());
  EXPECT_EQ(cmd({0x15, 0x10, 0, 0, static_cast<uint8_t>(list.size()), 0}, 0,
                {{d, static_cast<uint32_t>(list.size()), false}})
                .status,
            kScsiStatusGood);
  EXPECT_FALSE(disk_->write_cache());
  const uint64_t w = data(512, 9);
  cmd({0x2A, 0, 0, 0, 0, 0, 0, 0, 1, 0}, 0, {{w, 512, false}});
  EXPECT_EQ(image_->flushes.load(), 3);
}

TEST_F(ScsiTest, UnmapAndWriteSame) {
  make(opts(block::DiscardMode::kUnmap));
  image_->fill(0, kDiskSize, 0xAB);
  // UNMAP: 2 descriptors.
  std::vector<uint8_t> list(8 + 32, 0);
  list[1] = 38;
  list[3] = 32;
  list[8 + 7] = 10;  // LBA 10
  list[8 + 11] = 4;  // 4 blocks
  list[24 + 7] = 100;
  list[24 + 11] = 1;
  const uint64_t d = ram_.alloc(list.size());
  std::memcpy(ram_.at(d), list.data(), list.size());
  Reply r = cmd({0x42, 0, 0, 0, 0, 0, 0, 0, 40, 0}, 0, {{d, 40, false}});
  EXPECT_EQ(r.status, kScsiStatusGood);
  EXPECT_EQ(image_->discards.load(), 2);
  EXPECT_EQ(image_->byte(10 * 512), 0);
  EXPECT_EQ(image_->byte(14 * 512), 0xAB);
  EXPECT_EQ(disk_->unmapped_blocks(), 5u);
  // A descriptor past the disk: nothing is discarded.
  list[24 + 4] = 0xFF;
  std::memcpy(ram_.at(d), list.data(), list.size());
  expect_sense(cmd({0x42, 0, 0, 0, 0, 0, 0, 0, 40, 0}, 0, {{d, 40, false}}), kSenseIllegalRequest,
               0x21);
  EXPECT_EQ(image_->discards.load(), 2);
  // Parameter list length past the buffer.
  EXPECT_EQ(cmd({0x42, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0}, 0, {{d, 40, false}}).response,
            kScsiRespOverrun);
  // WRITE SAME 16 with UNMAP and a zero block: write-zeroes may-unmap.
  const uint64_t z = data(512, 0);
  r = cmd({0x93, 0x08, 0, 0, 0, 0, 0, 0, 0, 200, 0, 0, 0, 8, 0, 0}, 0, {{z, 512, false}});
  EXPECT_EQ(r.status, kScsiStatusGood);
  EXPECT_EQ(image_->zeroes.load(), 1);
  EXPECT_EQ(image_->last_zero_mode, block::ZeroMode::kMayUnmap);
  EXPECT_EQ(image_->byte(207 * 512), 0);
  // WRITE SAME 10 with a pattern: written.
  const uint64_t p = data(512, 0x42);
  r = cmd({0x41, 0, 0, 0, 1, 0, 0, 0, 3, 0}, 0, {{p, 512, false}});
  EXPECT_EQ(r.status, kScsiStatusGood);
  EXPECT_EQ(image_->byte(258 * 512 + 511), 0x42);
  expect_sense(cmd({0x41, 0, 0, 0, 1, 0, 0, 0, 0, 0}, 0, {{p, 512, false}}), kSenseIllegalRequest,
               0x24);  // 0 blocks (WSNZ)
  expect_sense(cmd({0x93, 0, 0, 0, 0, 0, 0, 0, 0x07, 0xFF, 0, 0, 0, 2, 0, 0}, 0, {{p, 512, false}}),
               kSenseIllegalRequest, 0x21);
}

TEST_F(ScsiTest, ReadOnlyDisk) {
  make(opts(block::DiscardMode::kUnmap, DiskAccess::kReadOnly));
  const uint64_t d = data(512, 1);
  expect_sense(cmd({0x2A, 0, 0, 0, 0, 0, 0, 0, 1, 0}, 0, {{d, 512, false}}), kSenseDataProtect,
               0x27);
  Reply r = cmd({0x1A, 0, 0x08, 0, 255, 0}, 255);
  EXPECT_EQ(r.data[2] & 0x80, 0x80);  // WP
  r = cmd({0x9E, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0}, 32);
  EXPECT_EQ(r.data[14], 0);  // no LBPME
  EXPECT_EQ(image_->writes.load(), 0);
}

TEST_F(ScsiTest, HostErrorIsMediumError) {
  image_->fail_range(0, 512);
  expect_sense(cmd({0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0}, 512), kSenseMediumError, 0x11);
  EXPECT_EQ(disk_->host_errors(), 1u);
}

TEST_F(ScsiTest, LunRouting) {
  // Target 2 LUN 5 exists; target 2 LUN 0 does not; target 1 does not.
  Reply r = run(request({0x00}, lun(2, 5)), 51, {}, 0);
  EXPECT_EQ(r.response, kScsiRespOk);
  EXPECT_EQ(r.status, kScsiStatusGood);
  // A missing LUN 0 answers as QEMU's target: "not present, capable".
  r = run(request({0x12, 0, 0, 0, 36, 0}, lun(2, 0)), 51, {}, 36);
  EXPECT_EQ(r.status, kScsiStatusGood);
  EXPECT_EQ(r.data[0], 0x3F);
  EXPECT_EQ(std::string(r.data.begin() + 16, r.data.begin() + 27), "QEMU TARGET");
  EXPECT_EQ(r.data[32], '2');
  EXPECT_EQ(r.data[35], 0);
  EXPECT_EQ(run(request({0x00}, lun(2, 0)), 51, {}, 0).status, kScsiStatusGood);  // TUR
  expect_sense(run(request({0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0}, lun(2, 0)), 51, {}, 512),
               kSenseIllegalRequest, 0x20);
  r = run(request({0xA0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}, lun(2, 0)), 51, {}, 256);
  EXPECT_EQ(r.data[3], 16);  // LUN 0 (always listed) and LUN 5
  EXPECT_EQ(r.data[9], 0);
  EXPECT_EQ(r.data[17], 5);
  // REPORT LUNS: whole entries only, at least 16 bytes, SELECT REPORT 0..2.
  r = run(request({0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0}, lun(2, 0)), 51, {}, 256);
  EXPECT_EQ(r.status, kScsiStatusGood);
  EXPECT_EQ(r.resid, 256u - 16u);
  expect_sense(run(request({0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 0, 0}, lun(2, 0)), 51, {}, 256),
               kSenseIllegalRequest, 0x24);
  expect_sense(run(request({0xA0, 0, 3, 0, 0, 0, 0, 0, 1, 0, 0, 0}, lun(2, 0)), 51, {}, 256),
               kSenseIllegalRequest, 0x24);
  // On a LUN other than 0 REPORT LUNS is not served, even by one that exists.
  expect_sense(run(request({0xA0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}, lun(2, 5)), 51, {}, 256),
               kSenseIllegalRequest, 0x25);
  // A missing LUN other than 0: INQUIRY 7F and zeros, VPD page 0 only,
  // REQUEST SENSE reports LOGICAL UNIT NOT SUPPORTED as data.
  r = run(request({0x12, 0, 0, 0, 36, 0}, lun(2, 3)), 51, {}, 36);
  EXPECT_EQ(r.data[0], 0x7F);
  EXPECT_EQ(r.data[8], 0);
  r = run(request({0x12, 1, 0, 0, 255, 0}, lun(2, 3)), 51, {}, 255);
  EXPECT_EQ(r.status, kScsiStatusGood);
  EXPECT_EQ(r.resid, 255u - 4u);
  EXPECT_EQ(std::vector<uint8_t>(r.data.begin(), r.data.begin() + 4),
            (std::vector<uint8_t>{0x00, 0x00, 0x01, 0x00}));
  expect_sense(run(request({0x12, 1, 0x80, 0, 255, 0}, lun(2, 3)), 51, {}, 255),
               kSenseIllegalRequest, 0x24);
  expect_sense(run(request({0x12, 2, 0, 0, 255, 0}, lun(2, 3)), 51, {}, 255), kSenseIllegalRequest,
               0x24);
  r = run(request({0x03, 0, 0, 0, 18, 0}, lun(2, 3)), 51, {}, 18);
  EXPECT_EQ(r.status, kScsiStatusGood);
  EXPECT_EQ(r.data[0], 0x70);
  EXPECT_EQ(r.data[2], kSenseIllegalRequest);
  EXPECT_EQ(r.data[12], 0x25);
  r = run(request({0x03, 1, 0, 0, 18, 0}, lun(2, 3)), 51, {}, 18);
  EXPECT_EQ(r.data[0], 0x72);
  EXPECT_EQ(r.data[1], kSenseIllegalRequest);
  EXPECT_EQ(r.data[2], 0x25);
  EXPECT_EQ(r.resid, 18u - 8u);
  expect_sense(run(request({0x00}, lun(2, 3)), 51, {}, 0), kSenseIllegalRequest, 0x25);
  // Sent to an existing LUN 0, REPORT LUNS still lists the target's LUNs.
  r = run(request({0xA0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}, lun(0, 0)), 51, {}, 256);
  EXPECT_EQ(r.status, kScsiStatusGood);
  EXPECT_EQ(r.data[3], 8);
  EXPECT_EQ(r.data[9], 0);
  EXPECT_EQ(run(request({0x00}, lun(1, 0)), 51, {}, 0).response, kScsiRespBadTarget);
  EXPECT_EQ(run(request({0x00}, {0, 0, 0x40, 0, 0, 0, 0, 0}), 51, {}, 0).response,
            kScsiRespBadTarget);
  EXPECT_EQ(run(request({0x00}, {0xFF, 0, 0, 0, 0, 0, 0, 0}), 51, {}, 0).response,
            kScsiRespBadTarget);
}

TEST_F(ScsiTest, HostileHeadersAndSense) {
  // Header shorter than 19 + cdb_size: FAILURE, nothing executed.
  Reply r = run(request({0x2A, 0, 0, 0, 0, 0, 0, 0, 1, 0}, lun(0, 0), 30), 30, {}, 0);
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.response, kScsiRespFailure);
  // Response area shorter than 12 bytes: the queue must be reset.
  r = run(request({0x00}), 51, {}, 0, 8);
  EXPECT_FALSE(r.ok);
  // Sense buffer of 4 bytes: cut, sense_len says so.
  r = run(request({0x77}), 51, {}, 0, 16);
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.status, kScsiStatusCheckCondition);
  EXPECT_EQ(r.sense_len, 4u);
  EXPECT_EQ(r.used, 16u);
  // The CDB size written by the driver changes the header size.
  const uint32_t sixteen = 16;
  device_->write_config(24,
                        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&sixteen), 4));
  r = run(request({0x00}, lun(0, 0), 35), 35, {}, 0);
  EXPECT_EQ(r.response, kScsiRespOk);
  EXPECT_EQ(r.status, kScsiStatusGood);
}

TEST_F(ScsiTest, RandomCdbsNeverCrash) {
  std::mt19937 rng(1234);
  const uint64_t d = data(4096, 3);
  for (int i = 0; i < 3000; ++i) {
    std::vector<uint8_t> cdb(32);
    for (auto& b : cdb) b = static_cast<uint8_t>(rng());
    if (i % 3 == 0)
      cdb[0] = std::array<uint8_t, 12>{0x08, 0x0A, 0x28, 0x2A, 0x88, 0x8A,
                                       0x42, 0x41, 0x93, 0x1A, 0x5A, 0x55}[rng() % 12];
    if (i % 5 == 0) std::memset(&cdb[2], 0, 6);  // in-range LBAs sometimes
    const uint32_t in = static_cast<uint32_t>(rng() % 2048);
    const uint32_t out = static_cast<uint32_t>(rng() % 4096);
    std::vector<Buf> bufs;
    if (out) bufs.push_back({d, out, false});
    Reply r = run(request(cdb, lun(0, rng() % 2)), 51, bufs, in, 12 + rng() % 100);
    EXPECT_TRUE(r.ok);
    EXPECT_LE(r.used, 12u + 100u + in);
  }
}

TEST_F(ScsiTest, ControlQueue) {
  const uint64_t req = ram_.alloc(24);
  std::vector<uint8_t> tmf(24, 0);
  tmf[4] = 5;  // LOGICAL UNIT RESET
  tmf[8] = 1;
  std::memcpy(ram_.at(req), tmf.data(), 24);
  const uint64_t resp = ram_.alloc(1);
  ring_->publish(ring_->build({{req, 24, false}, {resp, 1, true}}));
  ASSERT_TRUE(*queue_.pop(chain_));
  auto used = device_->serve_control(chain_);
  ASSERT_TRUE(used.ok());
  EXPECT_EQ(ram_.get<uint8_t>(resp), kScsiRespFunctionComplete);
  tmf[9] = 7;  // no such target
  std::memcpy(ram_.at(req), tmf.data(), 24);
  ring_->publish(ring_->build({{req, 24, false}, {resp, 1, true}}));
  ASSERT_TRUE(*queue_.pop(chain_));
  ASSERT_TRUE(device_->serve_control(chain_).ok());
  EXPECT_EQ(ram_.get<uint8_t>(resp), kScsiRespBadTarget);
  // Too short to answer.
  ring_->publish(ring_->build({{req, 2, false}}));
  ASSERT_TRUE(*queue_.pop(chain_));
  EXPECT_FALSE(device_->serve_control(chain_).ok());
}

TEST_F(ScsiTest, UnitAttentionAfterEveryReset) {
  // A virtio reset: both LUNs report it once; INQUIRY neither gets nor
  // clears it; REQUEST SENSE gets it like any other command.
  device_->reset();
  EXPECT_EQ(run(request({0x12, 0, 0, 0, 36, 0}), 51, {}, 36).status, kScsiStatusGood);
  Reply r = run(request({0x00}), 51, {}, 0);
  expect_sense(r, kSenseUnitAttention, 0x29);
  EXPECT_EQ(run(request({0x00}), 51, {}, 0).status, kScsiStatusGood);
  expect_sense(run(request({0x03, 0, 0, 0, 18, 0}, lun(2, 5)), 51, {}, 18), kSenseUnitAttention,
               0x29);
  EXPECT_EQ(run(request({0x00}, lun(2, 5)), 51, {}, 0).status, kScsiStatusGood);
  // LOGICAL UNIT RESET: that LUN only; I_T NEXUS RESET: every LUN of the target.
  EXPECT_EQ(tmf(5, 2, 5), kScsiRespFunctionComplete);
  EXPECT_EQ(run(request({0x00}), 51, {}, 0).status, kScsiStatusGood);
  expect_sense(run(request({0x00}, lun(2, 5)), 51, {}, 0), kSenseUnitAttention, 0x29);
  EXPECT_EQ(tmf(4, 0, 0), kScsiRespFunctionComplete);
  expect_sense(run(request({0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0}), 51, {}, 512), kSenseUnitAttention,
               0x29);
  EXPECT_EQ(run(request({0x00}, lun(2, 5)), 51, {}, 0).status, kScsiStatusGood);
  // An ABORT TASK resets nothing.
  EXPECT_EQ(tmf(0, 0, 0), kScsiRespFunctionComplete);
  EXPECT_EQ(run(request({0x00}), 51, {}, 0).status, kScsiStatusGood);
}

// UNMAP through the real qcow2 engine: the host file shrinks.
TEST(ScsiQcow2, UnmapShrinksHostFile) {
  char dir[] = "/tmp/amber-scsi-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/disk.qcow2";
  block::CreateOptions create;
  create.format = block::ImageFormat::kQcow2;
  create.size = 64ull << 20;
  ASSERT_TRUE(block::create_image(path, create).ok());
  block::OpenOptions open;
  open.discard = block::DiscardMode::kUnmap;
  open.access = block::io::Access::kReadWrite;
  auto opened = block::open_image(path, open);
  ASSERT_TRUE(opened.ok());
  auto image = std::shared_ptr<block::Image>(std::move(opened).value());
  ScsiDisk disk(image, opts(block::DiscardMode::kUnmap));
  const uint8_t tur[6] = {};
  EXPECT_EQ(disk.execute({tur, {}, {}, 0, 0}).status, kScsiStatusCheckCondition);  // power-on UA
  std::vector<uint8_t> buf(8 << 20, 0x5C);
  const iovec v{buf.data(), buf.size()};
  uint8_t write16[16] = {0x8A, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0};  // 16384 blocks
  ScsiResult r = disk.execute({write16, {&v, 1}, {}, buf.size(), 0});
  ASSERT_EQ(r.status, kScsiStatusGood);
  uint8_t sync[10] = {0x35};
  ASSERT_EQ(disk.execute({sync, {}, {}, 0, 0}).status, kScsiStatusGood);
  struct stat before {};
  ASSERT_EQ(stat(path.c_str(), &before), 0);
  uint8_t list[24] = {0, 22, 0, 16};
  list[8 + 10] = 0x40;  // 16384 blocks from LBA 0
  const iovec lv{list, sizeof list};
  uint8_t unmap[10] = {0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0};
  ASSERT_EQ(disk.execute({unmap, {&lv, 1}, {}, sizeof list, 0}).status, kScsiStatusGood);
  ASSERT_EQ(disk.execute({sync, {}, {}, 0, 0}).status, kScsiStatusGood);
  struct stat after {};
  ASSERT_EQ(stat(path.c_str(), &after), 0);
  EXPECT_LT(after.st_blocks * 512, before.st_blocks * 512 - (6 << 20));
  // Reads back as zeros.
  std::vector<uint8_t> back(512, 0xFF);
  const iovec bv{back.data(), back.size()};
  uint8_t read10[10] = {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0};
  ASSERT_EQ(disk.execute({read10, {}, {&bv, 1}, 0, 512}).status, kScsiStatusGood);
  EXPECT_EQ(back[0], 0);
  (void)image->close();
  unlink(path.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace amber::hv::virtio
