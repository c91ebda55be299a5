// SPDX-License-Identifier: GPL-2.0-or-later
// The L2 cache's lock is not held across metadata file I/O: a flush's
// fdatasync and the slice writes of a write-back leave every other
// thread's lookups running, and a slice changed during its write-back
// stays dirty.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <future>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <vector>

#include "block/io/memory_file.h"
#include "block/qcow2/image.h"
#include "block/qcow2/l2_cache.h"
#include "test_util.h"

namespace amber::block::qcow2 {
namespace {

using namespace std::chrono_literals;

// A MemoryFile whose writes and flushes first run a hook (once armed).
class HookedFile final : public io::File {
 public:
  explicit HookedFile(std::shared_ptr<io::MemoryFile> inner) : inner_(std::move(inner)) {}
  std::function<void()> on_write;
  std::function<void()> on_flush;

  Result<void> read_at(uint64_t o, std::span<std::byte> b) override {
    return inner_->read_at(o, b);
  }
  Result<void> write_at(uint64_t o, std::span<const std::byte> d) override {
    if (on_write) on_write();
    return inner_->write_at(o, d);
  }
  Result<void> flush() override {
    if (on_flush) on_flush();
    return inner_->flush();
  }
  Result<void> punch_hole(uint64_t o, uint64_t l) override { return inner_->punch_hole(o, l); }
  Result<void> write_zeroes(uint64_t o, uint64_t l) override { return inner_->write_zeroes(o, l); }
  Result<void> allocate(uint64_t o, uint64_t l) override { return inner_->allocate(o, l); }
  Result<uint64_t> size() override { return inner_->size(); }
  Result<void> truncate(uint64_t s) override { return inner_->truncate(s); }
  Result<uint64_t> allocated_size() override { return inner_->allocated_size(); }
  const std::string& name() const override { return inner_->name(); }

 private:
  std::shared_ptr<io::MemoryFile> inner_;
};

// Runs probes on other threads from inside a file hook and records
// whether each finished within a second. A probe that did not may be
// blocked on a lock the hooked caller holds, so the threads are joined
// only by join_all(), after the hooked call has returned.
class Probes {
 public:
  void run(const std::function<void()>& work) {
    std::packaged_task<void()> task(work);
    auto done = task.get_future();
    threads_.emplace_back(std::move(task));
    ++started_;
    if (done.wait_for(1s) == std::future_status::ready) ++in_time_;
  }
  void join_all() {
    for (auto& thread : threads_) thread.join();
    threads_.clear();
  }
  ~Probes() { join_all(); }
  int started() const { return started_; }
  int in_time() const { return in_time_; }

 private:
  std::vector<std::thread> threads_;
  int started_ = 0;
  int in_time_ = 0;
};

TEST(Qcow2L2CacheLock, WriteBackLeavesLookupsRunningDuringItsWrites) {
  HookedFile file(std::make_shared<io::MemoryFile>());
  L2Cache cache(file, 4096, 8);
  {
    std::lock_guard lock(cache.mutex());
    for (uint64_t offset : {0, 4096}) {
      auto slice = cache.get(offset);
      ASSERT_TRUE(slice.ok());
      (*slice)->words[0] = offset + 1;
      cache.mark_dirty(*slice);
    }
  }
  Probes probes;
  file.on_write = [&] {
    probes.run([&] {
      std::shared_lock lookup(cache.mutex());
      (void)cache.find(0);
    });
  };
  const bool written = cache.write_back().ok();
  probes.join_all();
  ASSERT_TRUE(written);
  EXPECT_EQ(probes.started(), 2);
  EXPECT_EQ(probes.in_time(), 2) << "a lookup waited for a slice write";
  EXPECT_EQ(cache.dirty_count(), 0u);
}

TEST(Qcow2L2CacheLock, SliceChangedDuringWriteBackStaysDirty) {
  auto memory = std::make_shared<io::MemoryFile>();
  HookedFile file(memory);
  L2Cache cache(file, 4096, 8);
  {
    std::lock_guard lock(cache.mutex());
    auto slice = cache.get(0);
    ASSERT_TRUE(slice.ok());
    (*slice)->words[0] = 1;
    cache.mark_dirty(*slice);
  }
  file.on_write = [&] {
    file.on_write = nullptr;
    std::lock_guard lock(cache.mutex());
    L2Cache::Slice* slice = cache.find(0);
    ASSERT_NE(slice, nullptr);
    slice->words[0] = 2;
    cache.mark_dirty(slice);
  };
  ASSERT_TRUE(cache.write_back().ok());
  EXPECT_EQ(cache.dirty_count(), 1u) << "the change after the copy would be lost";
  ASSERT_TRUE(cache.write_back().ok());
  EXPECT_EQ(cache.dirty_count(), 0u);
  uint64_t be = 0;
  ASSERT_TRUE(io::read_exact(*memory, 0, &be, 8).ok());
  EXPECT_EQ(__builtin_bswap64(be), 2u);
}

TEST(Qcow2L2CacheLock, ReadsOfAllocatedClustersGoOnDuringAFlush) {
  auto memory = std::make_shared<io::MemoryFile>();
  auto options = test::qcow2_options(64 << 20);
  options.cluster_size = 4096;  // one L2 table maps 2 MiB
  ASSERT_TRUE(create_on_file(*memory, options).ok());
  auto hooked = std::make_unique<HookedFile>(memory);
  HookedFile* file = hooked.get();
  OpenOptions open;
  open.access = io::Access::kReadWrite;
  auto opened = open_on_file(std::move(hooked), open, 0);
  ASSERT_TRUE(opened.ok()) << opened.error().message();
  Image& image = **opened;
  const auto data = test::pattern(4096, 7);
  ASSERT_TRUE(image.write(0, data).ok());
  ASSERT_TRUE(image.flush().ok());
  // Dirty refcounts, an L2 slice and (a second L2 table) an L1 entry: the
  // flush below runs every ordered fdatasync of a write-back.
  ASSERT_TRUE(image.write(1 << 20, data).ok());
  ASSERT_TRUE(image.write(8 << 20, data).ok());
  Probes probes;
  file->on_flush = [&] {
    probes.run([&] {
      std::vector<std::byte> back(4096);
      EXPECT_TRUE(image.read(0, back).ok());
      EXPECT_EQ(back, data);
    });
  };
  const bool flushed = image.flush().ok();
  probes.join_all();
  file->on_flush = nullptr;
  ASSERT_TRUE(flushed);
  EXPECT_GE(probes.started(), 3);
  EXPECT_EQ(probes.in_time(), probes.started())
      << "a read of an allocated cluster waited for an fdatasync";
  ASSERT_TRUE(image.close().ok());
  auto c = test::check_refcounts(*memory);
  EXPECT_EQ(c.corruptions + c.leaks, 0u) << c.first_problem;
}

}  // namespace
}  // namespace amber::block::qcow2
