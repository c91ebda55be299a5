// SPDX-License-Identifier: GPL-2.0-or-later
// The allocating-write fast path: a write into a fresh cluster whose COW
// fills are all zeros (no backing file) asks the file to zero the range
// (ZERO_RANGE, as QEMU's handle_alloc_space) and writes the guest's bytes
// alone; a file that cannot zero that way gets the merged zero-filled
// write; a failed zeroing fails the write and leaks nothing.
#include <gtest/gtest.h>

#include <cstring>
#include <mutex>
#include <vector>

#include "block/io/fault_file.h"
#include "block/io/memory_file.h"
#include "block/qcow2/image.h"
#include "test_util.h"

namespace amber::block::qcow2 {
namespace {

enum class ZeroSupport { kSupported, kUnsupported };

// A MemoryFile view that counts written bytes and zero-range calls.
class CountingFile final : public io::File {
 public:
  CountingFile(std::shared_ptr<io::MemoryFile> inner, ZeroSupport support)
      : inner_(std::move(inner)), support_(support) {}

  Result<void> read_at(uint64_t o, std::span<std::byte> b) override {
    return inner_->read_at(o, b);
  }
  Result<void> write_at(uint64_t o, std::span<const std::byte> d) override {
    {
      std::lock_guard lock(mutex_);
      written += d.size();
    }
    return inner_->write_at(o, d);
  }
  Result<io::ZeroOutcome> zero_range_no_fallback(uint64_t o, uint64_t l) override {
    if (support_ == ZeroSupport::kUnsupported) return io::ZeroOutcome::kUnsupported;
    {
      std::lock_guard lock(mutex_);
      zeroed.push_back({o, l});
    }
    return inner_->zero_range_no_fallback(o, l);
  }
  Result<void> flush() override { return inner_->flush(); }
  Result<void> punch_hole(uint64_t o, uint64_t l) override { return inner_->punch_hole(o, l); }
  Result<void> write_zeroes(uint64_t o, uint64_t l) override { return inner_->write_zeroes(o, l); }
  Result<void> allocate(uint64_t o, uint64_t l) override { return inner_->allocate(o, l); }
  Result<uint64_t> size() override { return inner_->size(); }
  Result<void> truncate(uint64_t s) override { return inner_->truncate(s); }
  Result<uint64_t> allocated_size() override { return inner_->allocated_size(); }
  const std::string& name() const override { return inner_->name(); }

  std::mutex mutex_;
  uint64_t written = 0;
  std::vector<std::pair<uint64_t, uint64_t>> zeroed;

 private:
  std::shared_ptr<io::MemoryFile> inner_;
  ZeroSupport support_;
};

constexpr uint64_t kCluster = 65536;

std::unique_ptr<Image> open_counting(test::SharedMemory& mem, ZeroSupport support,
                                     CountingFile** counting) {
  auto created = create_on_file(*mem.file, test::qcow2_options(16 * kCluster));
  EXPECT_TRUE(created.ok());
  auto file = std::make_unique<CountingFile>(mem.file, support);
  *counting = file.get();
  OpenOptions o;
  o.access = io::Access::kReadWrite;
  auto image = open_on_file(std::move(file), o, 0);
  EXPECT_TRUE(image.ok()) << image.error().message();
  return image.ok() ? std::move(*image) : nullptr;
}

// Bytes [0, 64K) of guest cluster 1 read back as zeros around the 4 KiB
// written at 32 KiB.
void expect_cluster_contents(Image& image, const std::vector<std::byte>& data) {
  std::vector<std::byte> back(kCluster);
  ASSERT_TRUE(image.read(kCluster, back).ok());
  for (uint64_t i = 0; i < kCluster; ++i) {
    const bool in_data = i >= 32768 && i < 32768 + data.size();
    const std::byte want = in_data ? data[i - 32768] : std::byte{0};
    ASSERT_EQ(back[i], want) << "at byte " << i;
  }
}

TEST(Qcow2AllocatingWrite, ZeroFillsBecomeOneZeroRangeAndTheDataAlone) {
  test::SharedMemory mem;
  CountingFile* counting = nullptr;
  auto image = open_counting(mem, ZeroSupport::kSupported, &counting);
  ASSERT_NE(image, nullptr);
  const auto data = test::pattern(4096, 7);
  ASSERT_TRUE(image->write(kCluster + 32768, data).ok());
  {
    std::lock_guard lock(counting->mutex_);
    // The metadata waits for write-back: only the guest's 4 KiB went out.
    EXPECT_EQ(counting->written, 4096u);
    ASSERT_EQ(counting->zeroed.size(), 1u);
    EXPECT_EQ(counting->zeroed[0].first % kCluster, 0u);
    EXPECT_EQ(counting->zeroed[0].second, kCluster);
  }
  expect_cluster_contents(*image, data);
  ASSERT_TRUE(image->close().ok());
  image.reset();
  auto again = test::reopen(mem, io::Access::kReadOnly);
  ASSERT_NE(again, nullptr);
  expect_cluster_contents(*again, data);
  auto c = test::check_refcounts(*mem.file);
  EXPECT_EQ(c.leaks + c.corruptions, 0u) << c.first_problem << " leaks " << c.leaks;
}

TEST(Qcow2AllocatingWrite, FileWithoutZeroRangeGetsTheMergedZeroFilledWrite) {
  test::SharedMemory mem;
  CountingFile* counting = nullptr;
  auto image = open_counting(mem, ZeroSupport::kUnsupported, &counting);
  ASSERT_NE(image, nullptr);
  const auto data = test::pattern(4096, 9);
  ASSERT_TRUE(image->write(kCluster + 32768, data).ok());
  {
    std::lock_guard lock(counting->mutex_);
    EXPECT_EQ(counting->written, kCluster);
    EXPECT_TRUE(counting->zeroed.empty());
  }
  expect_cluster_contents(*image, data);
  ASSERT_TRUE(image->close().ok());
}

TEST(Qcow2AllocatingWrite, FailedZeroRangeFailsTheWriteAndLeaksNothing) {
  test::SharedMemory mem;
  ASSERT_TRUE(create_on_file(*mem.file, test::qcow2_options(16 * kCluster)).ok());
  auto fault = std::make_unique<io::FaultFile>(mem.handle());
  io::FaultFile* faults = fault.get();
  OpenOptions o;
  o.access = io::Access::kReadWrite;
  auto opened = open_on_file(std::move(fault), o, 0);
  ASSERT_TRUE(opened.ok()) << opened.error().message();
  auto image = std::move(*opened);
  const auto data = test::pattern(4096, 11);
  // The L2 table first (its zeroing is a kZero too), then the fault.
  ASSERT_TRUE(image->write(3 * kCluster, data).ok());
  faults->fail_after(io::FaultOp::kZero, 0, EIO);
  auto failed = image->write(kCluster + 32768, data);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(faults->failures(), 1u);
  faults->clear_faults();
  // Nothing maps the cluster: it reads as zeros and a retry succeeds.
  std::vector<std::byte> back(kCluster);
  ASSERT_TRUE(image->read(kCluster, back).ok());
  for (auto b : back) ASSERT_EQ(b, std::byte{0});
  ASSERT_TRUE(image->write(kCluster + 32768, data).ok());
  expect_cluster_contents(*image, data);
  ASSERT_TRUE(image->close().ok());
  auto c = test::check_refcounts(*mem.file);
  EXPECT_EQ(c.leaks + c.corruptions, 0u) << c.first_problem << " leaks " << c.leaks;
}

}  // namespace
}  // namespace amber::block::qcow2
