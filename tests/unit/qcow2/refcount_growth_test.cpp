// SPDX-License-Identifier: GPL-2.0-or-later
// Regression tests for refcount-table growth that fails part-way: the
// in-memory table must stay what the file holds (issue 7: a failed growth
// left a larger table in memory that the next write-back wrote over the
// cluster after the old table, zeroing a refcount block).
#include <gtest/gtest.h>

#include <cstring>

#include "block/io/fault_file.h"
#include "block/qcow2/header.h"
#include "block/qcow2/image.h"
#include "test_util.h"

namespace amber::block::qcow2 {
namespace {

using test::pattern;

// 512-byte clusters and 64-bit refcounts: one table cluster covers 2 MiB of
// host file, so 32 KiB writes grow the table after about 60 of them.
constexpr uint64_t kWrite = 32 * 1024;
constexpr uint64_t kWrites = 80;

CreateOptions small_cluster_options() {
  auto o = test::qcow2_options(4 << 20);
  o.cluster_size = 512;
  o.refcount_bits = 64;
  return o;
}

// The data of write i (made once: generating it dominated the runtime).
const std::vector<std::byte>& data_of(uint64_t i) {
  static const auto all = [] {
    std::vector<std::vector<std::byte>> v;
    for (uint64_t k = 0; k < kWrites; ++k) v.push_back(pattern(kWrite, static_cast<uint8_t>(k)));
    return v;
  }();
  return all[i];
}

struct GrowthWindow {
  uint64_t first_io = 0;  // FaultFile operations before the write that grows the table
  uint64_t last_io = 0;   // ... and after it
};

// Runs the writes once without faults and finds the I/O calls of the one
// that moves the refcount table.
GrowthWindow find_growth() {
  GrowthWindow window;
  test::SharedMemory mem;
  EXPECT_TRUE(create_on_file(*mem.file, small_cluster_options()).ok());
  auto fault = std::make_unique<io::FaultFile>(mem.handle());
  auto* fault_view = fault.get();
  OpenOptions o;
  o.access = io::Access::kReadWrite;
  auto image = open_on_file(std::move(fault), o, 0);
  EXPECT_TRUE(image.ok());
  const uint64_t table_before = read_header(*mem.file)->refcount_table_offset;
  for (uint64_t i = 0; i < kWrites; ++i) {
    const uint64_t before = fault_view->operations();
    EXPECT_TRUE((*image)->write(i * kWrite, data_of(i)).ok());
    if (read_header(*mem.file)->refcount_table_offset != table_before) {
      window.first_io = before;
      window.last_io = fault_view->operations();
      break;
    }
  }
  return window;
}

// Every I/O of the growing write fails in turn (EIO); the image then goes
// on (the fault cleared) with ordinary updates. Nothing acknowledged may be
// lost and no refcount may fall below its references.
TEST(Qcow2RefcountGrowth, FailedGrowthLeavesTableAsOnDisk) {
  const GrowthWindow window = find_growth();
  ASSERT_GT(window.last_io, window.first_io) << "the writes never grew the refcount table";
  for (uint64_t fail_at = window.first_io; fail_at < window.last_io; ++fail_at) {
    test::SharedMemory mem;
    ASSERT_TRUE(create_on_file(*mem.file, small_cluster_options()).ok());
    auto fault = std::make_unique<io::FaultFile>(mem.handle());
    auto* fault_view = fault.get();
    OpenOptions o;
    o.access = io::Access::kReadWrite;
    auto opened = open_on_file(std::move(fault), o, 0);
    ASSERT_TRUE(opened.ok());
    auto image = std::move(*opened);
    fault_view->fail_after(io::FaultOp::kAny, fail_at, EIO);
    for (uint64_t i = 0; i < kWrites; ++i) {
      const auto& data = data_of(i);
      if (image->write(i * kWrite, data).ok()) continue;
      fault_view->clear_faults();
      ASSERT_TRUE(image->write(i * kWrite, data).ok()) << "fail_at " << fail_at << " write " << i;
    }
    ASSERT_TRUE(image->close().ok()) << "fail_at " << fail_at;
    image.reset();
    auto c = test::check_refcounts(*mem.file);
    EXPECT_EQ(c.corruptions, 0u) << "fail_at " << fail_at << ": " << c.first_problem;
    auto again = test::reopen(mem, io::Access::kReadOnly);
    ASSERT_TRUE(again);
    for (uint64_t i = 0; i < kWrites; ++i) {
      std::vector<std::byte> got(kWrite);
      ASSERT_TRUE(again->read(i * kWrite, got).ok());
      ASSERT_EQ(std::memcmp(got.data(), data_of(i).data(), kWrite), 0)
          << "fail_at " << fail_at << " write " << i;
    }
  }
}

}  // namespace
}  // namespace amber::block::qcow2
