// SPDX-License-Identifier: GPL-2.0-or-later
// convert_images over in-memory fake images that record every request:
// what is written, as data or as zeroes, what is skipped, in which order.
#include "block/convert.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <vector>

namespace amber::block {
namespace {

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;

// Per-sector state of a fake source.
enum class Sector { kUnallocated, kData, kZeroFlag, kBacking };

struct Request {
  uint64_t offset;
  uint64_t length;
  bool zeroes;  // write_zeroes rather than a data write
};

// An image held in memory. As a source, `sectors` says what block_status
// answers (kBacking: data one level down); as a target, it records requests.
class FakeImage : public Image {
 public:
  explicit FakeImage(uint64_t size, bool has_backing = false)
      : bytes_(size),
        sectors_(size / kSectorSize, Sector::kUnallocated),
        has_backing_(has_backing) {}

  void fill(uint64_t offset, uint64_t length, Sector state, uint8_t value) {
    std::memset(bytes_.data() + offset, value, length);
    std::fill_n(sectors_.begin() + long(offset / kSectorSize), length / kSectorSize, state);
  }
  const std::vector<std::byte>& bytes() const { return bytes_; }
  std::vector<Request> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  void fail_writes() { fail_writes_ = true; }

  ImageFormat format() const override { return ImageFormat::kRaw; }
  uint64_t size() const override { return bytes_.size(); }
  const std::string& filename() const override { return name_; }
  bool read_only() const override { return false; }
  Result<void> readv(uint64_t offset, std::span<const iovec> iov) override {
    for (const iovec& v : iov) {
      std::memcpy(v.iov_base, bytes_.data() + offset, v.iov_len);
      offset += v.iov_len;
    }
    return ok();
  }
  Result<void> writev(uint64_t offset, std::span<const iovec> iov) override {
    if (fail_writes_) return Error(ErrorKind::kIo, "injected write failure", EIO);
    uint64_t length = 0;
    for (const iovec& v : iov) {
      std::memcpy(bytes_.data() + offset + length, v.iov_base, v.iov_len);
      length += v.iov_len;
    }
    record({offset, length, false});
    return ok();
  }
  Result<void> flush() override { return ok(); }
  Result<void> discard(uint64_t, uint64_t) override { return ok(); }
  Result<void> write_zeroes(uint64_t offset, uint64_t length, ZeroMode) override {
    std::memset(bytes_.data() + offset, 0, length);
    record({offset, length, true});
    return ok();
  }
  Result<BlockStatus> block_status(uint64_t offset, uint64_t max_length) override {
    const uint64_t first = offset / kSectorSize;
    const Sector state = sectors_[first];
    uint64_t end = first;
    while (end < sectors_.size() && sectors_[end] == state &&
           (end - first) * kSectorSize < max_length)
      ++end;
    BlockStatus s;
    s.length = std::min(max_length, (end - first) * kSectorSize);
    s.present = state != Sector::kUnallocated;
    s.zero = state == Sector::kZeroFlag || state == Sector::kUnallocated;
    s.data = state == Sector::kData || state == Sector::kBacking;
    s.depth = state == Sector::kBacking ? 1 : 0;
    return s;
  }
  Result<void> resize(uint64_t, Preallocation) override {
    return Error(ErrorKind::kUnsupported, "fake");
  }
  Result<ImageInfo> info() override { return ImageInfo{}; }
  Image* backing() override { return has_backing_ ? this : nullptr; }
  Result<void> close() override { return ok(); }

 private:
  void record(Request r) {
    std::lock_guard lock(mutex_);
    requests_.push_back(r);
  }

  std::string name_ = "fake";
  std::vector<std::byte> bytes_;
  std::vector<Sector> sectors_;
  bool has_backing_;
  bool fail_writes_ = false;
  mutable std::mutex mutex_;
  std::vector<Request> requests_;
};

// Whether any recorded request touches [offset, offset + length).
bool touched(const std::vector<Request>& requests, uint64_t offset, uint64_t length) {
  return std::any_of(requests.begin(), requests.end(), [&](const Request& r) {
    return r.offset < offset + length && offset < r.offset + r.length;
  });
}

uint64_t bytes_of(const std::vector<Request>& requests, bool zeroes) {
  uint64_t n = 0;
  for (const auto& r : requests)
    if (r.zeroes == zeroes) n += r.length;
  return n;
}

TEST(Convert, ConcatenatesAndSkipsZeroesOnAZeroTarget) {
  FakeImage a(1 * kMiB), b(512 * kKiB);
  a.fill(0, 64 * kKiB, Sector::kData, 0x11);
  a.fill(64 * kKiB, 64 * kKiB, Sector::kData, 0);  // data that reads as zeros
  a.fill(128 * kKiB, 4 * kKiB, Sector::kZeroFlag, 0);
  b.fill(0, 512 * kKiB, Sector::kData, 0x22);
  FakeImage target(1536 * kKiB);
  Image* sources[] = {&a, &b};
  ASSERT_TRUE(convert_images(sources, target, ConvertOptions{}).ok());
  const auto requests = target.requests();
  EXPECT_FALSE(touched(requests, 64 * kKiB, 1 * kMiB - 64 * kKiB));
  EXPECT_EQ(bytes_of(requests, true), 0u);
  EXPECT_EQ(bytes_of(requests, false), 64 * kKiB + 512 * kKiB);
  EXPECT_EQ(target.bytes()[0], std::byte{0x11});
  EXPECT_EQ(target.bytes()[1 * kMiB], std::byte{0x22});
  EXPECT_EQ(target.bytes()[1536 * kKiB - 1], std::byte{0x22});
}

TEST(Convert, WritesZeroRunsAsZeroesOnAnUnknownTarget) {
  FakeImage a(256 * kKiB);
  a.fill(0, 256 * kKiB, Sector::kData, 0x33);
  a.fill(16 * kKiB, 2 * kKiB, Sector::kData, 0);   // shorter than -S: stays data
  a.fill(64 * kKiB, 64 * kKiB, Sector::kData, 0);  // a whole zero run
  a.fill(192 * kKiB, 64 * kKiB, Sector::kUnallocated, 0);
  FakeImage target(256 * kKiB);
  target.fill(0, 256 * kKiB, Sector::kData, 0x7f);  // old contents to overwrite
  ConvertOptions options;
  options.target = TargetContents::kUnknown;
  Image* sources[] = {&a};
  ASSERT_TRUE(convert_images(sources, target, options).ok());
  EXPECT_EQ(target.bytes(), a.bytes());
  EXPECT_EQ(bytes_of(target.requests(), true), 128 * kKiB);
  EXPECT_EQ(bytes_of(target.requests(), false), 128 * kKiB);
}

TEST(Convert, SparseZeroWritesEveryByte) {
  FakeImage a(4 * kMiB);
  a.fill(1 * kMiB, 4 * kKiB, Sector::kData, 0x44);
  FakeImage target(4 * kMiB);
  ConvertOptions options;
  options.min_sparse = 0;
  Image* sources[] = {&a};
  ASSERT_TRUE(convert_images(sources, target, options).ok());
  EXPECT_EQ(bytes_of(target.requests(), false), 4 * kMiB);
  EXPECT_EQ(bytes_of(target.requests(), true), 0u);
  EXPECT_EQ(target.bytes(), a.bytes());
}

TEST(Convert, ZeroRunsInsideDataFollowTheTargetGranularity) {
  FakeImage a(256 * kKiB);
  a.fill(0, 256 * kKiB, Sector::kData, 0x55);
  a.fill(60 * kKiB, 72 * kKiB, Sector::kData, 0);  // covers one whole 64 KiB cluster
  FakeImage target(256 * kKiB);
  ConvertOptions options;
  options.granularity = 64 * kKiB;
  Image* sources[] = {&a};
  ASSERT_TRUE(convert_images(sources, target, options).ok());
  const auto requests = target.requests();
  EXPECT_FALSE(touched(requests, 64 * kKiB, 64 * kKiB));
  EXPECT_TRUE(touched(requests, 60 * kKiB, 4 * kKiB));
  EXPECT_EQ(bytes_of(requests, false), 192 * kKiB);
}

TEST(Convert, AboveSourceBackingSkipsWhatTheBackingHolds) {
  FakeImage top(1 * kMiB, /*has_backing=*/true);
  top.fill(0, 512 * kKiB, Sector::kBacking, 0x66);
  top.fill(512 * kKiB, 64 * kKiB, Sector::kData, 0x77);
  top.fill(576 * kKiB, 64 * kKiB, Sector::kZeroFlag, 0);
  FakeImage target(1 * kMiB);
  ConvertOptions options;
  options.backing = ConvertBacking::kAboveSourceBacking;
  options.target = TargetContents::kUnknown;
  Image* sources[] = {&top};
  ASSERT_TRUE(convert_images(sources, target, options).ok());
  const auto requests = target.requests();
  EXPECT_FALSE(touched(requests, 0, 512 * kKiB));
  EXPECT_FALSE(touched(requests, 640 * kKiB, 384 * kKiB));
  EXPECT_EQ(bytes_of(requests, false), 64 * kKiB);
  EXPECT_EQ(bytes_of(requests, true), 64 * kKiB);  // the zero flag is kept
  // Past the end of the target's backing file zeros need no write.
  FakeImage target2(1 * kMiB);
  options.target_backing_size = 512 * kKiB;
  ASSERT_TRUE(convert_images(sources, target2, options).ok());
  EXPECT_EQ(bytes_of(target2.requests(), true), 0u);
}

TEST(Convert, InOrderWritesLandInGuestOrder) {
  FakeImage a(64 * kMiB);
  a.fill(0, 64 * kMiB, Sector::kData, 0x88);
  FakeImage target(64 * kMiB);
  ConvertOptions options;
  options.workers = 8;
  Image* sources[] = {&a};
  ASSERT_TRUE(convert_images(sources, target, options).ok());
  const auto requests = target.requests();
  ASSERT_EQ(requests.size(), 32u);
  for (size_t i = 1; i < requests.size(); ++i)
    EXPECT_LT(requests[i - 1].offset, requests[i].offset);
  EXPECT_EQ(target.bytes(), a.bytes());
}

TEST(Convert, ReportsProgressUpTo100) {
  FakeImage a(8 * kMiB);
  a.fill(0, 4 * kMiB, Sector::kData, 0x99);
  FakeImage target(8 * kMiB);
  std::vector<double> seen;
  ConvertOptions options;
  options.progress = [&](double p) { seen.push_back(p); };
  Image* sources[] = {&a};
  ASSERT_TRUE(convert_images(sources, target, options).ok());
  ASSERT_FALSE(seen.empty());
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_DOUBLE_EQ(seen.back(), 100.0);
  EXPECT_EQ(seen.size(), 2u);  // two segments with data; the empty ones are silent
}

TEST(Convert, FirstErrorStopsTheCopy) {
  FakeImage a(16 * kMiB);
  a.fill(0, 16 * kMiB, Sector::kData, 0xaa);
  FakeImage target(16 * kMiB);
  target.fail_writes();
  Image* sources[] = {&a};
  auto r = convert_images(sources, target, ConvertOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kIo);
}

TEST(Convert, RefusesASmallTarget) {
  FakeImage a(2 * kMiB), target(1 * kMiB);
  Image* sources[] = {&a};
  auto r = convert_images(sources, target, ConvertOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kOutOfRange);
}

}  // namespace
}  // namespace amber::block
