// SPDX-License-Identifier: GPL-2.0-or-later
#include "block/qcow2/image.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "block/io/fault_file.h"
#include "block/qcow2/compressed.h"
#include "block/qcow2/format.h"
#include "block/qcow2/header.h"
#include "block/qcow2/l2_cache.h"
#include "block/qcow2/refcount.h"
#include "test_util.h"

namespace amber::block::qcow2 {
namespace {

using test::pattern;

std::vector<std::byte> read_back(Image& image, uint64_t offset, size_t n) {
  std::vector<std::byte> out(n);
  auto r = image.read(offset, out);
  EXPECT_TRUE(r.ok()) << r.error().message();
  return out;
}

TEST(Qcow2L2Cache, EvictsCleanSlicesAndWritesBackDirty) {
  io::MemoryFile file;
  L2Cache cache(file, 4096, 2);
  {
    std::lock_guard lock(cache.mutex());
    auto a = cache.get(0);
    ASSERT_TRUE(a.ok());
    (*a)->words[0] = 42;
    cache.mark_dirty(*a);
    ASSERT_TRUE(cache.get(4096).ok());
    ASSERT_TRUE(cache.get(8192).ok());  // evicts the clean 4096, keeps dirty 0
    EXPECT_EQ(cache.size(), 2u);
    ASSERT_TRUE(cache.get(12288).ok());
    EXPECT_EQ(cache.dirty_count(), 1u);
  }
  ASSERT_TRUE(cache.write_back().ok());  // takes the lock itself
  EXPECT_EQ(cache.dirty_count(), 0u);
  uint64_t be = 0;
  ASSERT_TRUE(io::read_exact(file, 0, &be, 8).ok());
  EXPECT_EQ(__builtin_bswap64(be), 42u);
}

TEST(Qcow2Refcount, EntriesForEveryOrder) {
  std::vector<uint8_t> block(4096, 0);
  for (uint32_t order = 0; order <= 6; ++order) {
    std::fill(block.begin(), block.end(), 0);
    const uint64_t max = order == 6 ? ~0ull : (1ull << (1u << order)) - 1;
    for (uint64_t i = 0; i < 64; ++i) set_refcount_entry(block.data(), i, order, (i * 3) & max);
    for (uint64_t i = 0; i < 64; ++i)
      EXPECT_EQ(get_refcount_entry(block.data(), i, order), (i * 3) & max);
  }
}

class Qcow2RefcountBits : public ::testing::TestWithParam<unsigned> {};

TEST_P(Qcow2RefcountBits, WritesKeepRefcountsExact) {
  test::SharedMemory mem;
  auto o = test::qcow2_options(8 << 20);
  o.refcount_bits = GetParam();
  o.cluster_size = 4096;
  auto image = test::create_and_open(mem, o);
  ASSERT_TRUE(image);
  for (int i = 0; i < 40; ++i) {
    auto data = pattern(8192, static_cast<uint8_t>(i));
    ASSERT_TRUE(image->write((i * 197 % 1000) * 8192ull % (8 << 20), data).ok());
  }
  ASSERT_TRUE(image->discard(0, 1 << 20).ok());
  ASSERT_TRUE(image->close().ok());
  auto c = test::check_refcounts(*mem.file);
  EXPECT_EQ(c.corruptions, 0u) << c.first_problem;
  EXPECT_EQ(c.leaks, 0u);
}
INSTANTIATE_TEST_SUITE_P(AllOrders, Qcow2RefcountBits, ::testing::Values(1, 2, 4, 8, 16, 32, 64));

TEST(Qcow2Image, RefcountTableGrowth) {
  test::SharedMemory mem;
  auto o = test::qcow2_options(64 << 20);
  o.cluster_size = 512;
  o.refcount_bits = 64;  // 64 clusters per block, 4096 per table cluster
  auto image = test::create_and_open(mem, o);
  ASSERT_TRUE(image);
  auto data = pattern(1 << 20, 3);
  for (uint64_t off = 0; off < (8 << 20); off += 1 << 20) ASSERT_TRUE(image->write(off, data).ok());
  ASSERT_TRUE(image->close().ok());
  auto h = read_header(*mem.file);
  EXPECT_GT(h->refcount_table_clusters, 1u);
  auto c = test::check_refcounts(*mem.file);
  EXPECT_EQ(c.corruptions, 0u) << c.first_problem;
  EXPECT_EQ(c.leaks, 0u);
  auto again = test::reopen(mem, io::Access::kReadOnly);
  EXPECT_EQ(read_back(*again, 7 << 20, 1 << 20), data);
}

TEST(Qcow2Image, ReadWriteRoundTripUnaligned) {
  test::SharedMemory mem;
  auto image = test::create_and_open(mem, test::qcow2_options(16 << 20));
  ASSERT_TRUE(image);
  auto data = pattern(3 * 65536 + 1024, 9);
  ASSERT_TRUE(image->write(65536 - 512, data).ok());
  EXPECT_EQ(read_back(*image, 65536 - 512, data.size()), data);
  auto zeros = read_back(*image, 0, 65536 - 512);
  EXPECT_EQ(zeros, std::vector<std::byte>(zeros.size()));
  ASSERT_TRUE(image->close().ok());
  auto again = test::reopen(mem);
  EXPECT_EQ(read_back(*again, 65536 - 512, data.size()), data);
  auto c = test::check_refcounts(*mem.file);
  EXPECT_EQ(c.corruptions + c.leaks, 0u) << c.first_problem;
}

TEST(Qcow2Image, DiscardShrinksAllocationAndReadsZero) {
  test::SharedMemory mem;
  auto image = test::create_and_open(mem, test::qcow2_options(16 << 20));
  ASSERT_TRUE(image);
  auto data = pattern(8 << 20, 1);
  ASSERT_TRUE(image->write(0, data).ok());
  ASSERT_TRUE(image->flush().ok());
  const uint64_t before = *mem.file->allocated_size();
  ASSERT_TRUE(image->discard(1 << 20, 4 << 20).ok());
  ASSERT_TRUE(image->flush().ok());
  EXPECT_LE(*mem.file->allocated_size() + (4 << 20) - 65536, before);
  auto z = read_back(*image, 1 << 20, 4 << 20);
  EXPECT_EQ(z, std::vector<std::byte>(z.size()));
  ASSERT_TRUE(image->close().ok());
  auto c = test::check_refcounts(*mem.file);
  EXPECT_EQ(c.corruptions + c.leaks, 0u) << c.first_problem;
}

TEST(Qcow2Image, WriteZeroesUsesZeroFlag) {
  test::SharedMemory mem;
  auto image = test::create_and_open(mem, test::qcow2_options(4 << 20));
  ASSERT_TRUE(image);
  ASSERT_TRUE(image->write(0, pattern(1 << 20, 2)).ok());
  ASSERT_TRUE(image->write_zeroes(65536 - 4096, 3 * 65536 + 8192, ZeroMode::kMayUnmap).ok());
  auto* q = static_cast<Qcow2Image*>(image.get());
  auto m = q->lookup(65536, 65536);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->kind, MapKind::kZero);
  auto z = read_back(*image, 65536 - 4096, 3 * 65536 + 8192);
  EXPECT_EQ(z, std::vector<std::byte>(z.size()));
  auto st = image->block_status(65536, 3 * 65536);
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->present && st->zero && !st->data);
  ASSERT_TRUE(image->close().ok());
  auto c = test::check_refcounts(*mem.file);
  EXPECT_EQ(c.corruptions + c.leaks, 0u) << c.first_problem;
}

// Replaces the L2 entry of guest cluster 0 with a compressed cluster.
void make_compressed(test::SharedMemory& mem, Compression type,
                     const std::vector<std::byte>& data) {
  auto h = read_header(*mem.file);
  ASSERT_TRUE(h.ok());
  uint64_t l1e = 0;
  ASSERT_TRUE(io::read_exact(*mem.file, h->l1_table_offset, &l1e, 8).ok());
  const uint64_t l2 = __builtin_bswap64(l1e) & kL1OffsetMask;
  std::span<const uint8_t> in(reinterpret_cast<const uint8_t*>(data.data()), data.size());
  auto packed = compress_cluster(type, in);
  ASSERT_TRUE(packed.ok());
  ASSERT_FALSE(packed->empty());
  const uint64_t at = *mem.file->size() + 100;  // unaligned byte offset
  ASSERT_TRUE(io::write_exact(*mem.file, at, packed->data(), packed->size()).ok());
  const uint64_t entry = __builtin_bswap64(encode_compressed(at, packed->size(), h->cluster_bits));
  ASSERT_TRUE(io::write_exact(*mem.file, l2, &entry, 8).ok());
  // Count the compressed sectors' clusters, as a real writer would.
  Refcounts rc(*mem.file, h->cluster_bits, h->refcount_order);
  ASSERT_TRUE(rc.load(h->refcount_table_offset, h->refcount_table_clusters).ok());
  auto d =
      decode_compressed(encode_compressed(at, packed->size(), h->cluster_bits), h->cluster_bits);
  ASSERT_TRUE(rc.update_range(d->aligned_offset, d->aligned_bytes, 1).ok());
  ASSERT_TRUE(rc.write_back(WriteBackOrder::kFlushBeforeTable).ok());
}

TEST(Qcow2Image, CompressedClustersReadAndRewrite) {
  for (auto type : {Compression::kDeflate, Compression::kZstd}) {
    test::SharedMemory mem;
    auto o = test::qcow2_options(1 << 20);
    if (type == Compression::kZstd) o.compression = CompressionType::kZstd;
    auto image = test::create_and_open(mem, o);
    ASSERT_TRUE(image);
    std::vector<std::byte> data(65536);
    for (size_t i = 0; i < data.size(); ++i)
      data[i] = std::byte(static_cast<uint8_t>((i / 100) % 7));
    ASSERT_TRUE(image->write(0, data).ok());
    ASSERT_TRUE(image->close().ok());
    image.reset();
    make_compressed(mem, type, data);
    auto ro = test::reopen(mem, io::Access::kReadOnly);
    EXPECT_EQ(read_back(*ro, 0, 65536), data);
    EXPECT_EQ(read_back(*ro, 4096, 512),
              std::vector<std::byte>(data.begin() + 4096, data.begin() + 4608));
    auto st = ro->block_status(0, 65536);
    EXPECT_TRUE(st->compressed);
    ro.reset();
    auto rw = test::reopen(mem);
    auto patch = pattern(512, 77);
    ASSERT_TRUE(rw->write(1024, patch).ok());
    std::copy(patch.begin(), patch.end(), data.begin() + 1024);
    EXPECT_EQ(read_back(*rw, 0, 65536), data);
    EXPECT_FALSE(rw->block_status(0, 65536)->compressed);
  }
}

TEST(Qcow2Image, CorruptL2EntryIsRefusedNotCrash) {
  test::SharedMemory mem;
  auto image = test::create_and_open(mem, test::qcow2_options(1 << 20));
  ASSERT_TRUE(image->write(0, pattern(65536, 1)).ok());
  ASSERT_TRUE(image->close().ok());
  image.reset();
  auto h = read_header(*mem.file);
  uint64_t l1e = 0;
  ASSERT_TRUE(io::read_exact(*mem.file, h->l1_table_offset, &l1e, 8).ok());
  const uint64_t l2 = __builtin_bswap64(l1e) & kL1OffsetMask;
  const uint64_t bad = __builtin_bswap64(kOflagCopied | (1ull << 40));
  ASSERT_TRUE(io::write_exact(*mem.file, l2, &bad, 8).ok());
  auto ro = test::reopen(mem, io::Access::kReadOnly);
  std::vector<std::byte> buf(512);
  auto r = ro->read(0, buf);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kCorrupt);
  EXPECT_NE(r.error().message().find("beyond the end of the file"), std::string::npos);
}

TEST(Qcow2Image, LazyRefcountsDirtyImageIsRepairedOnOpen) {
  test::SharedMemory mem;
  auto o = test::qcow2_options(16 << 20);
  o.lazy_refcounts = true;
  auto image = test::create_and_open(mem, o);
  ASSERT_TRUE(image);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(image->write(i * 300 * 1024ull, pattern(8192, i)).ok());
  ASSERT_TRUE(image->flush().ok());
  ASSERT_TRUE(image->write(15 << 20, pattern(65536, 5)).ok());  // L2/refcounts only in memory
  // "Crash": copy the file as it is now, without closing.
  auto crashed = std::make_shared<io::MemoryFile>();
  auto bytes = mem.file->contents();
  ASSERT_TRUE(crashed->write_at(0, bytes).ok());
  image.reset();
  test::SharedMemory after;
  after.file = crashed;
  EXPECT_TRUE(read_header(*crashed)->incompatible_features & kIncompatDirty);
  auto repaired = test::reopen(after);
  ASSERT_TRUE(repaired);
  EXPECT_FALSE(read_header(*crashed)->incompatible_features & kIncompatDirty);
  auto c = test::check_refcounts(*crashed);
  EXPECT_EQ(c.corruptions + c.leaks, 0u) << c.first_problem;
  EXPECT_EQ(read_back(*repaired, 19 * 300 * 1024ull, 8192), pattern(8192, 19));
  ASSERT_TRUE(repaired->write(10 << 20, pattern(65536, 6)).ok());
  ASSERT_TRUE(repaired->close().ok());
  c = test::check_refcounts(*crashed);
  EXPECT_EQ(c.corruptions + c.leaks, 0u) << c.first_problem;
}

TEST(Qcow2Image, EnospcMidAllocationLeavesConsistentImage) {
  for (uint64_t fail_at = 0; fail_at < 12; ++fail_at) {
    auto memory = std::make_unique<io::MemoryFile>();
    auto* memory_raw = memory.get();
    ASSERT_TRUE(create_on_file(*memory, test::qcow2_options(32 << 20)).ok());
    auto fault = std::make_unique<io::FaultFile>(std::move(memory));
    auto* fault_raw = fault.get();
    OpenOptions o;
    o.access = io::Access::kReadWrite;
    auto image = open_on_file(std::move(fault), o, 0);
    ASSERT_TRUE(image.ok());
    ASSERT_TRUE((*image)->write(0, pattern(65536, 1)).ok());
    fault_raw->fail_after(io::FaultOp::kWrite, fail_at, ENOSPC);
    bool failed = false;
    for (int i = 1; i < 6 && !failed; ++i) {
      auto r = (*image)->write(i * (3ull << 20), pattern(65536, static_cast<uint8_t>(i)));
      if (!r.ok()) {
        failed = true;
        EXPECT_EQ(r.error().kind(), ErrorKind::kNoSpace);
      }
    }
    if (failed) {
      EXPECT_FALSE((*image)->flush().ok());
    }
    fault_raw->clear_faults();
    (void)(*image)->close();
    auto c = test::check_refcounts(*memory_raw);
    EXPECT_EQ(c.corruptions, 0u) << "fail_at " << fail_at << ": " << c.first_problem;
    image->reset();
  }
}

TEST(Qcow2Image, ConcurrentWritersDistinctAndOverlapping) {
  test::SharedMemory mem;
  auto image = test::create_and_open(mem, test::qcow2_options(64 << 20));
  ASSERT_TRUE(image);
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        // Distinct: each thread owns every 4th 16 KiB block.
        const uint64_t off = ((i * 37 % 960) * kThreads + t) * 16384ull;
        auto r = image->write(off, pattern(16384, static_cast<uint8_t>(t * 50 + 1)));
        EXPECT_TRUE(r.ok());
        // Overlapping: everyone writes the same clusters of the last MiB.
        const uint64_t shared = (63ull << 20) + (i % 16) * 65536;
        r = image->write(shared, pattern(65536, 200));
        EXPECT_TRUE(r.ok());
        std::vector<std::byte> buf(4096);
        EXPECT_TRUE(image->read(off, buf).ok());
      }
    });
  }
  std::atomic<bool> done{false};
  std::thread flusher([&] {
    // Flushes and a discard of a region nobody else touches, concurrently.
    while (!done.load()) {
      EXPECT_TRUE(image->flush().ok());
      EXPECT_TRUE(image->write(62ull << 20, pattern(65536, 9)).ok());
      EXPECT_TRUE(image->discard(62ull << 20, 65536).ok());
      std::this_thread::yield();
    }
  });
  for (auto& th : threads) th.join();
  done = true;
  flusher.join();
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < 200; ++i) {
      const uint64_t off = ((i * 37 % 960) * kThreads + t) * 16384ull;
      ASSERT_EQ(read_back(*image, off, 16384), pattern(16384, static_cast<uint8_t>(t * 50 + 1)));
    }
  }
  for (int i = 0; i < 16; ++i)
    EXPECT_EQ(read_back(*image, (63ull << 20) + i * 65536, 65536), pattern(65536, 200));
  ASSERT_TRUE(image->close().ok());
  auto c = test::check_refcounts(*mem.file);
  EXPECT_EQ(c.corruptions + c.leaks, 0u) << c.first_problem;
}

TEST(Qcow2Image, ResizeGrowShrinkAndPreallocate) {
  test::SharedMemory mem;
  auto image = test::create_and_open(mem, test::qcow2_options(1 << 20));
  ASSERT_TRUE(image);
  ASSERT_TRUE(image->write(0, pattern(1 << 20, 4)).ok());
  ASSERT_TRUE(image->resize(8ull << 30, Preallocation::kOff).ok());
  EXPECT_EQ(image->size(), 8ull << 30);
  ASSERT_TRUE(image->write((8ull << 30) - 65536, pattern(65536, 5)).ok());
  ASSERT_TRUE(image->resize(512 * 1024, Preallocation::kOff).ok());
  const auto first = pattern(1 << 20, 4);
  EXPECT_EQ(read_back(*image, 0, 512 * 1024),
            std::vector<std::byte>(first.begin(), first.begin() + 512 * 1024));
  ASSERT_TRUE(image->resize(4 << 20, Preallocation::kMetadata).ok());
  auto st = image->block_status(3 << 20, 1 << 20);
  EXPECT_TRUE(st->data && st->offset.has_value());
  ASSERT_TRUE(image->close().ok());
  auto c = test::check_refcounts(*mem.file);
  EXPECT_EQ(c.corruptions + c.leaks, 0u) << c.first_problem;
}

}  // namespace
}  // namespace amber::block::qcow2

namespace amber::block::qcow2 {
namespace {

// Power loss at random points: flushed data survives, and the image never
// has a refcount below its references (leaks are allowed).
TEST(Qcow2Image, CrashAfterFlushKeepsFlushedDataAndConsistency) {
  for (bool lazy : {false, true}) {
    for (uint64_t seed = 1; seed <= 40; ++seed) {
      test::SharedMemory disk;
      io::MemoryFile* memory_raw = disk.file.get();
      auto o = test::qcow2_options(16 << 20);
      o.lazy_refcounts = lazy;
      o.cluster_size = 4096;
      ASSERT_TRUE(create_on_file(*disk.file, o).ok());
      auto fault = std::make_unique<io::FaultFile>(disk.handle());
      auto* fault_raw = fault.get();
      OpenOptions open;
      open.access = io::Access::kReadWrite;
      auto image = open_on_file(std::move(fault), open, 0);
      ASSERT_TRUE(image.ok());
      for (int i = 0; i < 10; ++i)
        ASSERT_TRUE((*image)->write(i * 40960ull, pattern(8192, static_cast<uint8_t>(i))).ok());
      ASSERT_TRUE((*image)->flush().ok());
      for (int i = 0; i < 10; ++i) {
        ASSERT_TRUE((*image)->write((i * 7 % 300) * 4096ull + (8 << 20), pattern(4096, 99)).ok());
        if (i == 3) {
          ASSERT_TRUE((*image)->discard(0, 8192).ok());
        }
      }
      fault_raw->crash(seed);
      image->reset();  // close fails on the "dead" device; nothing more reaches the file
      if (!lazy) {
        auto c = test::check_refcounts(*memory_raw);
        EXPECT_EQ(c.corruptions, 0u) << "seed " << seed << ": " << c.first_problem;
      }
      auto shared = std::make_shared<io::MemoryFile>();
      ASSERT_TRUE(shared->write_at(0, memory_raw->contents()).ok());
      test::SharedMemory mem;
      mem.file = shared;
      auto again = test::reopen(mem);  // repairs a lazy image
      ASSERT_TRUE(again);
      for (int i = 1; i < 10; ++i) {
        std::vector<std::byte> buf(8192);
        ASSERT_TRUE(again->read(i * 40960ull, buf).ok());
        EXPECT_EQ(buf, pattern(8192, static_cast<uint8_t>(i))) << "seed " << seed << " i " << i;
      }
      ASSERT_TRUE(again->close().ok());
      auto c = test::check_refcounts(*shared);
      EXPECT_EQ(c.corruptions, 0u) << "seed " << seed << ": " << c.first_problem;
    }
  }
}

}  // namespace
}  // namespace amber::block::qcow2

namespace amber::block::qcow2 {
namespace {

TEST(Qcow2Image, TinyL2CacheWritesBackDirtySlicesInOrder) {
  test::SharedMemory mem;
  auto o = test::qcow2_options(64 << 20);
  o.cluster_size = 4096;
  OpenOptions open;
  open.l2_cache_bytes = 8192;  // two 4 KiB slices
  auto image = test::create_and_open(mem, o, open);
  ASSERT_TRUE(image);
  std::vector<uint64_t> offsets;
  for (int i = 0; i < 300; ++i) {
    const uint64_t off = (static_cast<uint64_t>(i) * 104729 % 16000) * 4096;
    offsets.push_back(off);
    ASSERT_TRUE(image->write(off, pattern(4096, static_cast<uint8_t>(i))).ok());
  }
  for (int i = 0; i < 300; ++i) {
    bool later = false;
    for (int j = i + 1; j < 300; ++j) later |= offsets[j] == offsets[i];
    if (!later) {
      EXPECT_EQ(read_back(*image, offsets[i], 4096), pattern(4096, static_cast<uint8_t>(i)));
    }
  }
  ASSERT_TRUE(image->close().ok());
  auto c = test::check_refcounts(*mem.file);
  EXPECT_EQ(c.corruptions + c.leaks, 0u) << c.first_problem;
}

TEST(Qcow2Image, MetadataPreallocationOfALargeImage) {
  test::SharedMemory mem;
  auto o = test::qcow2_options(512ull << 20);
  o.preallocation = Preallocation::kMetadata;
  auto image = test::create_and_open(mem, o);
  ASSERT_TRUE(image);
  auto st = image->block_status(256ull << 20, 1 << 20);
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->data);
  ASSERT_TRUE(image->write(256ull << 20, pattern(4096, 1)).ok());
  ASSERT_TRUE(image->close().ok());
  auto c = test::check_refcounts(*mem.file);
  EXPECT_EQ(c.corruptions + c.leaks, 0u) << c.first_problem;
}

// Random damage to the metadata must give errors, never crashes or hangs.
TEST(Qcow2Image, DamagedMetadataNeverCrashes) {
  test::SharedMemory pristine;
  auto o = test::qcow2_options(4 << 20);
  o.cluster_size = 4096;
  {
    auto image = test::create_and_open(pristine, o);
    ASSERT_TRUE(image);
    for (int i = 0; i < 16; ++i) ASSERT_TRUE(image->write(i * 200704ull, pattern(8192, i)).ok());
    ASSERT_TRUE(image->close().ok());
  }
  const auto bytes = pristine.file->contents();
  const size_t metadata_end = std::min<size_t>(bytes.size(), 8 * 4096);
  uint64_t state = 12345;
  auto next = [&state] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return state >> 33;
  };
  for (int round = 0; round < 300; ++round) {
    auto damaged = std::make_shared<io::MemoryFile>();
    ASSERT_TRUE(damaged->write_at(0, bytes).ok());
    for (int k = 0; k < 4; ++k) {
      const uint64_t at = next() % metadata_end;
      uint8_t b = static_cast<uint8_t>(next());
      ASSERT_TRUE(damaged->write_at(at, std::span(reinterpret_cast<const std::byte*>(&b), 1)).ok());
    }
    test::SharedMemory mem;
    mem.file = damaged;
    OpenOptions rw;
    rw.access = io::Access::kReadWrite;
    auto image = open_on_file(mem.handle(), rw, 0);
    if (!image.ok()) continue;
    std::vector<std::byte> buf(65536);
    for (uint64_t off = 0; off < (4 << 20); off += 65536) (void)(*image)->read(off, buf);
    (void)(*image)->write(next() % 8000 * 512, pattern(4096, 3));
    (void)(*image)->discard(0, 65536);
    (void)(*image)->block_status(0, 4 << 20);
    (void)(*image)->close();
  }
}

}  // namespace
}  // namespace amber::block::qcow2
