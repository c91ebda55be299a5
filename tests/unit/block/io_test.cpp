// SPDX-License-Identifier: GPL-2.0-or-later
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include "block/io/fault_file.h"
#include "block/io/image_lock.h"
#include "block/io/memory_file.h"
#include "block/io/posix_file.h"

namespace amber::block::io {
namespace {

std::vector<std::byte> pattern(size_t n, uint8_t seed) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = std::byte(static_cast<uint8_t>(seed + i * 7));
  return v;
}

TEST(MemoryFile, ReadBeyondEndIsZero) {
  MemoryFile f;
  auto data = pattern(100, 1);
  ASSERT_TRUE(f.write_at(10, data).ok());
  std::vector<std::byte> out(200, std::byte{0xff});
  ASSERT_TRUE(f.read_at(0, out).ok());
  EXPECT_EQ(out[0], std::byte{0});
  EXPECT_EQ(std::memcmp(out.data() + 10, data.data(), 100), 0);
  EXPECT_EQ(out[150], std::byte{0});
  EXPECT_EQ(*f.size(), 110u);
}

TEST(MemoryFile, PunchHoleShrinksAllocation) {
  MemoryFile f;
  auto data = pattern(64 * 1024, 3);
  ASSERT_TRUE(f.write_at(0, data).ok());
  EXPECT_EQ(*f.allocated_size(), 64u * 1024);
  ASSERT_TRUE(f.punch_hole(4096, 8192).ok());
  EXPECT_EQ(*f.allocated_size(), 56u * 1024);
}

TEST(FaultFile, InjectedWriteFailure) {
  FaultFile f(std::make_unique<MemoryFile>());
  f.fail_after(FaultOp::kWrite, 1, ENOSPC);
  auto data = pattern(512, 5);
  EXPECT_TRUE(f.write_at(0, data).ok());
  auto r = f.write_at(512, data);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kNoSpace);
  f.clear_faults();
  EXPECT_TRUE(f.write_at(512, data).ok());
}

TEST(FaultFile, ShortWriteStoresWholeSectorsThenFails) {
  auto inner = std::make_unique<MemoryFile>();
  MemoryFile* mem = inner.get();
  FaultFile f(std::move(inner));
  f.fail_after(FaultOp::kAny, 1, ENOSPC, FaultKind::kShortWrite);
  auto data = pattern(3 * 512 + 100, 9);
  std::vector<std::byte> sector(512);
  EXPECT_TRUE(f.read_at(0, sector).ok());  // call 0 passes
  auto r = f.write_at(0, data);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kNoSpace);
  // Half of 1636 bytes, rounded down to sectors: one sector landed.
  EXPECT_EQ(*mem->size(), 512u);
  EXPECT_EQ(std::memcmp(mem->contents().data(), data.data(), 512), 0);
  // Later writes fail whole (the disk stays full) until cleared.
  EXPECT_FALSE(f.write_at(4096, data).ok());
  EXPECT_EQ(*mem->size(), 512u);
  EXPECT_EQ(f.operations(), 3u);
  EXPECT_EQ(f.failures(), 2u);
  f.clear_faults();
  EXPECT_TRUE(f.write_at(0, data).ok());
  EXPECT_EQ(f.operations(), 4u);
}

TEST(FaultFile, CrashKeepsFlushedData) {
  auto inner = std::make_unique<MemoryFile>();
  MemoryFile* mem = inner.get();
  FaultFile f(std::move(inner));
  auto a = pattern(4096, 1);
  auto b = pattern(4096, 2);
  ASSERT_TRUE(f.write_at(0, a).ok());
  ASSERT_TRUE(f.flush().ok());
  for (int i = 0; i < 16; ++i) ASSERT_TRUE(f.write_at(4096 * (i + 1), b).ok());
  EXPECT_EQ(f.pending_updates(), 16u);
  f.crash(42);
  auto contents = mem->contents();
  ASSERT_GE(contents.size(), 4096u);
  EXPECT_EQ(std::memcmp(contents.data(), a.data(), 4096), 0);
  EXPECT_FALSE(f.read_at(0, a).ok());  // the device is gone after a crash
}

class PosixFileTest : public ::testing::TestWithParam<std::tuple<CacheMode, AioBackend>> {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() /
            ("amber-io-test-" + std::to_string(getpid()) + "-" +
             std::to_string(reinterpret_cast<uintptr_t>(this)));
  }
  void TearDown() override { std::filesystem::remove(path_); }
  std::filesystem::path path_;
};

TEST_P(PosixFileTest, UnalignedRoundTrip) {
  PosixOpenOptions o;
  o.access = Access::kReadWrite;
  o.create = CreateMode::kCreateTruncate;
  o.cache = std::get<0>(GetParam());
  o.aio = std::get<1>(GetParam());
  auto file = PosixFile::open(path_, o);
  if (!file.ok() && file.error().kind() == ErrorKind::kUnsupported) GTEST_SKIP() << "no O_DIRECT";
  ASSERT_TRUE(file.ok()) << file.error().message();
  auto data = pattern(10000, 9);
  ASSERT_TRUE((*file)->write_at(777, data).ok());
  ASSERT_TRUE((*file)->flush().ok());
  EXPECT_EQ(*(*file)->size(), 10777u);
  std::vector<std::byte> out(10000);
  ASSERT_TRUE((*file)->read_at(777, out).ok());
  EXPECT_EQ(out, data);
  ASSERT_TRUE((*file)->write_zeroes(1000, 512).ok());
  ASSERT_TRUE((*file)->read_at(777, out).ok());
  EXPECT_EQ(out[1000 - 777], std::byte{0});
  EXPECT_EQ(out[1000 - 777 + 512], data[1000 - 777 + 512]);
}

TEST_P(PosixFileTest, ShortVectoredReadAtEndOfFileZeroFills) {
  PosixOpenOptions o;
  o.access = Access::kReadWrite;
  o.create = CreateMode::kCreateTruncate;
  o.cache = std::get<0>(GetParam());
  o.aio = std::get<1>(GetParam());
  auto file = PosixFile::open(path_, o);
  if (!file.ok() && file.error().kind() == ErrorKind::kUnsupported) GTEST_SKIP() << "no O_DIRECT";
  ASSERT_TRUE(file.ok()) << file.error().message();
  auto data = pattern(5120, 4);
  ASSERT_TRUE((*file)->write_at(0, data).ok());
  // Three 4 KiB buffers: the file ends inside the second one, so the first
  // transfer stops mid-iovec and the rest must read as zeros.
  void* raw[3];
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(posix_memalign(&raw[i], 4096, 4096), 0);
    std::memset(raw[i], 0xee, 4096);
  }
  iovec iov[3] = {{raw[0], 4096}, {raw[1], 4096}, {raw[2], 4096}};
  ASSERT_TRUE((*file)->readv_at(0, std::span<const iovec>(iov, 3)).ok());
  EXPECT_EQ(std::memcmp(raw[0], data.data(), 4096), 0);
  EXPECT_EQ(std::memcmp(raw[1], data.data() + 4096, 1024), 0);
  std::vector<std::byte> zeros(4096, std::byte{0});
  EXPECT_EQ(std::memcmp(static_cast<char*>(raw[1]) + 1024, zeros.data(), 3072), 0);
  EXPECT_EQ(std::memcmp(raw[2], zeros.data(), 4096), 0);
  EXPECT_EQ(iov[1].iov_len, 4096u);  // the caller's vector is not modified
  for (void* p : raw) free(p);
}

INSTANTIATE_TEST_SUITE_P(
    CacheModes, PosixFileTest,
    ::testing::Combine(::testing::Values(CacheMode::kWriteback, CacheMode::kNone,
                                         CacheMode::kWritethrough, CacheMode::kDirectSync,
                                         CacheMode::kUnsafe),
                       ::testing::Values(AioBackend::kThreads, AioBackend::kIoUring)));

// An unaligned write to an O_DIRECT file is a read-modify-write of whole
// blocks. An aligned write of the same block arriving between that read and
// that write must not be undone: each round races one of each, and the
// block must end with the aligned write's counter whichever came first.
TEST(PosixFile, DirectReadModifyWriteKeepsConcurrentAlignedWrite) {
  const auto path =
      std::filesystem::temp_directory_path() / ("amber-io-rmw-" + std::to_string(getpid()));
  PosixOpenOptions o;
  o.access = Access::kReadWrite;
  o.create = CreateMode::kCreateTruncate;
  o.cache = CacheMode::kNone;
  auto opened = PosixFile::open(path, o);
  if (!opened.ok() && opened.error().kind() == ErrorKind::kUnsupported)
    GTEST_SKIP() << "no O_DIRECT";
  ASSERT_TRUE(opened.ok()) << opened.error().message();
  PosixFile& file = **opened;
  void* raw = nullptr;
  ASSERT_EQ(posix_memalign(&raw, 4096, 4096), 0);
  auto* block = static_cast<uint8_t*>(raw);
  std::memset(block, 0xaa, 4096);
  iovec whole{block, 4096};
  ASSERT_TRUE(file.writev_at(0, std::span(&whole, 1)).ok());

  constexpr uint64_t kRounds = 400;
  std::atomic<uint64_t> started{0}, finished{0};
  std::atomic<bool> failed{false};
  std::thread rmw([&] {
    const std::byte b{0x5b};
    for (uint64_t r = 1; r <= kRounds; ++r) {
      while (started.load() < r) std::this_thread::yield();
      if (!file.write_at(100, std::span(&b, 1)).ok()) failed = true;
      finished.store(r);
    }
  });
  uint64_t lost = 0;
  for (uint64_t r = 1; r <= kRounds; ++r) {
    std::memcpy(block, &r, sizeof r);
    started.store(r);
    if (!file.writev_at(0, std::span(&whole, 1)).ok()) failed = true;
    while (finished.load() < r) std::this_thread::yield();
    uint64_t seen = 0;
    ASSERT_TRUE(file.read_at(0, std::as_writable_bytes(std::span(&seen, 1))).ok());
    if (seen != r) ++lost;
  }
  rmw.join();
  free(raw);
  std::filesystem::remove(path);
  EXPECT_FALSE(failed.load());
  EXPECT_EQ(lost, 0u) << "aligned writes undone by a concurrent read-modify-write";
}

TEST(ImageLock, WriterExcludesWriterAndReader) {
  auto path = std::filesystem::temp_directory_path() / ("amber-lock-" + std::to_string(getpid()));
  PosixOpenOptions o;
  o.access = Access::kReadWrite;
  o.create = CreateMode::kCreateTruncate;
  auto a = PosixFile::open(path, o);
  auto b = PosixFile::open(path, o);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(
      lock_image_file((*a)->fd(), path, kPermConsistentRead | kPermWrite, kPermWrite | kPermResize)
          .ok());
  auto r = lock_image_file((*b)->fd(), path, kPermConsistentRead | kPermWrite, kPermWrite);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kLocked);
  EXPECT_NE(r.error().context().find("Failed to get"), std::string::npos);
  o.access = Access::kReadOnly;
  o.create = CreateMode::kOpenExisting;
  auto c = PosixFile::open(path, o);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(lock_image_file((*c)->fd(), path, kPermConsistentRead, kPermWrite).ok());
  auto d = PosixFile::open(path, o);
  EXPECT_TRUE(lock_image_file((*d)->fd(), path, 0, 0).ok());  // force-share
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace amber::block::io
