// SPDX-License-Identifier: GPL-2.0-or-later
// IoRing, Image::map_direct (raw) and DirectMap (qcow2): direct I/O to
// where the engine says guest bytes live must read and write what the
// synchronous API reads and writes.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <vector>

#include "block/create.h"
#include "block/direct_map.h"
#include "block/io/io_ring.h"
#include "block/io/posix_file.h"

namespace amber::block {
namespace {

struct ScratchDir {
  ScratchDir() {
    char templ[] = "/tmp/amber-direct-XXXXXX";
    const char* made = mkdtemp(templ);
    path = made != nullptr ? made : "";
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string path;
};

std::vector<std::byte> pattern(size_t n, uint8_t seed) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = std::byte(static_cast<uint8_t>(seed + i * 13));
  return v;
}

std::unique_ptr<Image> make_image(const std::string& path, ImageFormat format, uint64_t size) {
  CreateOptions c;
  c.format = format;
  c.size = size;
  if (!create_image(path, c).ok()) return nullptr;
  OpenOptions o;
  o.format = format;
  o.access = io::Access::kReadWrite;
  auto image = open_image(path, o);
  return image.ok() ? std::move(*image) : nullptr;
}

std::unique_ptr<io::PosixFile> open_file(const std::string& path) {
  io::PosixOpenOptions o;
  o.access = io::Access::kReadWrite;
  auto f = io::PosixFile::open(path, o);
  return f.ok() ? std::move(*f) : nullptr;
}

TEST(IoRing, WritesAndReadsInFlightTogether) {
  ScratchDir dir;
  const std::string path = dir.path + "/f";
  io::PosixOpenOptions o;
  o.access = io::Access::kReadWrite;
  o.create = io::CreateMode::kCreateTruncate;
  auto file = io::PosixFile::open(path, o);
  ASSERT_TRUE(file.ok());
  auto ring = io::IoRing::create(4);
  if (!ring.ok()) GTEST_SKIP() << "io_uring unavailable: " << ring.error().message();

  auto a = pattern(4096, 1), b = pattern(4096, 2);
  iovec wa{a.data(), a.size()}, wb{b.data(), b.size()};
  ASSERT_TRUE((*ring)->queue((*file)->fd(), io::IoOp::kWrite, 0, &wa, 1, 10));
  ASSERT_TRUE((*ring)->queue((*file)->fd(), io::IoOp::kWrite, 8192, &wb, 1, 11));
  std::vector<io::IoCompletion> done, all;
  while (all.size() < 2) {
    ASSERT_TRUE((*ring)->submit_and_wait(1, done).ok());
    all.insert(all.end(), done.begin(), done.end());
  }
  ASSERT_EQ(all.size(), 2u);
  for (const auto& c : all) {
    EXPECT_TRUE(c.tag == 10 || c.tag == 11);
    EXPECT_EQ(c.result, 4096);
  }

  std::vector<std::byte> out(4096);
  iovec r{out.data(), out.size()};
  ASSERT_TRUE((*ring)->queue((*file)->fd(), io::IoOp::kRead, 8192, &r, 1, 12));
  ASSERT_TRUE((*ring)->submit_and_wait(1, done).ok());
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].tag, 12u);
  EXPECT_EQ(done[0].result, 4096);
  EXPECT_EQ(out, b);

  // Past the end of the file: a short (zero-byte) read, left to the caller.
  ASSERT_TRUE((*ring)->queue((*file)->fd(), io::IoOp::kRead, 1 << 20, &r, 1, 13));
  ASSERT_TRUE((*ring)->submit_and_wait(1, done).ok());
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].result, 0);
}

TEST(IoRing, ReportsErrnoOfFailedRequests) {
  auto ring = io::IoRing::create(1);
  if (!ring.ok()) GTEST_SKIP() << "io_uring unavailable";
  std::vector<std::byte> buf(512);
  iovec v{buf.data(), buf.size()};
  ASSERT_TRUE((*ring)->queue(-1, io::IoOp::kRead, 0, &v, 1, 7));
  std::vector<io::IoCompletion> done;
  ASSERT_TRUE((*ring)->submit_and_wait(1, done).ok());
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].result, -EBADF);
}

TEST(MapDirect, RawIsIdentityInsideTheImage) {
  ScratchDir dir;
  auto image = make_image(dir.path + "/r.raw", ImageFormat::kRaw, 1 << 20);
  ASSERT_NE(image, nullptr);
  DirectMap map(*image);
  EXPECT_EQ(map.map(65536, 4096, DirectAccess::kRead), 65536u);
  EXPECT_EQ(map.map(65536, 4096, DirectAccess::kOverwrite), 65536u);
  EXPECT_FALSE(map.map((1 << 20) - 512, 1024, DirectAccess::kRead));  // past the end
  EXPECT_FALSE(map.map(100, 512, DirectAccess::kRead));               // unaligned
}

TEST(MapDirect, RawReadOnlyRefusesOverwrite) {
  ScratchDir dir;
  const std::string path = dir.path + "/r.raw";
  ASSERT_NE(make_image(path, ImageFormat::kRaw, 1 << 20), nullptr);
  OpenOptions o;
  o.format = ImageFormat::kRaw;
  auto image = open_image(path, o);
  ASSERT_TRUE(image.ok());
  DirectMap map(**image);
  EXPECT_TRUE(map.map(0, 4096, DirectAccess::kRead));
  EXPECT_FALSE(map.map(0, 4096, DirectAccess::kOverwrite));
}

TEST(MapDirect, Qcow2MapsOnlyAllocatedData) {
  ScratchDir dir;
  const std::string path = dir.path + "/q.qcow2";
  auto image = make_image(path, ImageFormat::kQcow2, 4 << 20);
  ASSERT_NE(image, nullptr);
  DirectMap map(*image);
  // Unallocated: the engine must allocate first.
  EXPECT_FALSE(map.map(0, 4096, DirectAccess::kRead));
  EXPECT_FALSE(map.map(0, 4096, DirectAccess::kOverwrite));

  auto data = pattern(65536, 5);
  ASSERT_TRUE(image->write(65536, data).ok());
  auto host = map.map(65536 + 4096, 4096, DirectAccess::kOverwrite);
  ASSERT_TRUE(host);
  EXPECT_EQ(map.map(65536 + 4096, 4096, DirectAccess::kRead), host);
  // A run that leaves the allocated cluster is not mapped.
  EXPECT_FALSE(map.map(65536 + 61440, 8192, DirectAccess::kRead));
  // Zeroed (zero flag) clusters are not plain data.
  ASSERT_TRUE(image->write_zeroes(2 * 65536, 65536, ZeroMode::kAllocate).ok());
  EXPECT_FALSE(map.map(2 * 65536, 4096, DirectAccess::kRead));

  // Direct I/O at the mapped offset is what the engine reads and writes.
  auto file = open_file(path);
  ASSERT_NE(file, nullptr);
  std::vector<std::byte> got(4096);
  ASSERT_TRUE(file->read_at(*host, got).ok());
  EXPECT_EQ(0, std::memcmp(got.data(), data.data() + 4096, 4096));
  auto fresh = pattern(4096, 9);
  ASSERT_TRUE(file->write_at(*host, fresh).ok());
  ASSERT_TRUE(image->read(65536 + 4096, got).ok());
  EXPECT_EQ(got, fresh);
  EXPECT_TRUE(image->close().ok());
}

}  // namespace
}  // namespace amber::block
