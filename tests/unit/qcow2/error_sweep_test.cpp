// SPDX-License-Identifier: GPL-2.0-or-later
// Error-injection sweep (issue 7), as leveldb's fault-injection tests and
// SQLite's I/O-error tests do it: a fixed workload runs once over a
// FaultFile to count its I/O calls, then once per call N and failure kind
// (EIO, ENOSPC, a short write) with the N-th call failing. After each
// failure the image bytes are reopened without faults and must pass
// `check` (leaks allowed) and hold every write acknowledged before the last
// successful flush; then the image that saw the error gets a further write
// and flush (faults cleared): it may refuse them, else it must stay
// consistent and durable in the same way.
//
// The workload: allocating writes and COW from a raw backing file,
// writes into clusters shared with an internal snapshot (made by qemu-img),
// discards and write_zeroes, enough data to move the refcount table (512-byte
// clusters) or add refcount blocks (4 KiB clusters), and resizes that grow
// the L1 table in place and move it, and one with preallocation=falloc.
//
// AMBER_ERROR_SWEEP_STRIDE=K runs only every K-th N (for slow builds, e.g.
// ASan); the test prints what it covered.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

#include "block/io/fault_file.h"
#include "block/qcow2/format.h"
#include "block/qcow2/header.h"
#include "block/qcow2/image.h"
#include "block/qcow2/qcow2.h"
#include "test_util.h"

namespace amber::block::qcow2 {
namespace {

constexpr uint64_t kKiB = 1024, kMiB = 1024 * kKiB;

enum class OpKind { kWrite, kDiscard, kZero, kFlush, kResize };
struct Op {
  OpKind kind;
  uint64_t offset = 0;  // kResize: the new size
  uint64_t length = 0;
  Preallocation prealloc = Preallocation::kOff;  // kResize
};

struct Config {
  const char* name;
  uint64_t cluster;
  uint64_t size;          // virtual size as created
  uint64_t backing_size;  // larger: the first grow must zero what it shows
  uint64_t fill;          // bytes written at 1 MiB: past one refcount table / block
  uint64_t small_grow;    // the L1 table grows in place
  uint64_t big_grow;      // the L1 table moves
  uint64_t fresh;         // in an L2 table no op of the workload touches
};

std::vector<Op> workload(const Config& c) {
  const uint64_t cs = c.cluster;
  std::vector<Op> ops = {
      {OpKind::kWrite, 40 * cs + 512, 1024},    // over the backing file (COW at 4 KiB)
      {OpKind::kWrite, 50 * cs + 512, 3 * cs},  // a fresh run, COW at both ends
      {OpKind::kWrite, 2 * cs + 512, 512},      // into a snapshot-shared cluster
      {OpKind::kWrite, 5 * cs, cs},             // a whole snapshot-shared cluster
      {OpKind::kFlush},
      {OpKind::kDiscard, 16 * cs, 4 * cs},  // snapshot-shared clusters
      {OpKind::kDiscard, 2 * cs, cs},       // our own copy: punched and freed
      {OpKind::kZero, 6 * cs, cs},
      {OpKind::kWrite, 40 * cs + 512, 512},  // in place
      {OpKind::kFlush},
  };
  constexpr uint64_t kChunk = 64 * kKiB;
  for (uint64_t at = 0; at < c.fill; at += kChunk)
    ops.push_back({OpKind::kWrite, kMiB + at, kChunk});
  ops.push_back({OpKind::kFlush});
  ops.push_back({OpKind::kResize, c.small_grow});
  ops.push_back({OpKind::kWrite, c.small_grow - cs, cs});
  ops.push_back({OpKind::kFlush});
  ops.push_back({OpKind::kResize, c.big_grow});
  ops.push_back({OpKind::kWrite, c.big_grow - cs, cs});
  ops.push_back({OpKind::kFlush});
  // falloc: the refcount table moves to the file's end, the data run follows.
  ops.push_back({OpKind::kResize, c.big_grow + 8 * cs, 0, Preallocation::kFalloc});
  ops.push_back({OpKind::kWrite, c.big_grow + 4 * cs, cs});
  ops.push_back({OpKind::kFlush});
  return ops;
}

// The writes after an error: one that needs a new L2 table (so a new L1
// entry) and one into the last cluster of what the image then takes as its
// size (set by run_case).
Op fresh_write(const Config& c) {
  return {OpKind::kWrite, c.fresh, c.cluster};
}
Op last_cluster_write(const Config& c) {
  return {OpKind::kWrite, 0, c.cluster};
}

struct Fixture {
  explicit Fixture(const Config& c) : config(c) {}
  Config config;
  test::TempDir dir;
  std::vector<std::byte> image;              // the qcow2 file before the workload
  std::vector<std::byte> initial;            // its guest bytes [0, size)
  std::vector<Op> ops;                       // the workload, then the two further writes
  std::vector<std::vector<std::byte>> data;  // per op (writes)
  uint64_t io_calls = 0;
};

std::vector<std::byte> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> bytes(raw.size());
  std::memcpy(bytes.data(), raw.data(), raw.size());
  return bytes;
}

std::unique_ptr<Image> open_read_only(test::SharedMemory& mem, std::string* why = nullptr) {
  OpenOptions o;
  o.access = io::Access::kReadOnly;
  auto image = open_on_file(mem.handle(), o, 0);
  if (!image.ok() && why) *why = image.error().message();
  return image.ok() ? std::move(*image) : nullptr;
}

Result<void> apply(Image& image, const Op& op, const std::vector<std::byte>& data) {
  switch (op.kind) {
    case OpKind::kWrite:
      return image.write(op.offset, data);
    case OpKind::kDiscard:
      return image.discard(op.offset, op.length);
    case OpKind::kZero:
      return image.write_zeroes(op.offset, op.length, ZeroMode::kMayUnmap);
    case OpKind::kFlush:
      return image.flush();
    case OpKind::kResize:
      return image.resize(op.offset, op.prealloc);
  }
  return ok();
}

// Builds the base image with qemu-img (backing file, snapshot) and counts
// the workload's I/O calls.
bool prepare(Fixture& f) {
  const Config& c = f.config;
  const std::string backing = f.dir.path + "/backing.raw", top = f.dir.path + "/top.qcow2";
  {
    auto bytes = test::pattern(c.backing_size, 0x21);
    std::ofstream(backing, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
  }
  const std::string cs = std::to_string(c.cluster);
  std::string out;
  const std::string commands[] = {
      "qemu-img create -q -f qcow2 -o cluster_size=" + cs + ",refcount_bits=64 -b " + backing +
          " -F raw " + top + " " + std::to_string(c.size),
      "qemu-io -f qcow2 -c 'write -P 0x5a 0 " + std::to_string(8 * c.cluster) +
          "' -c 'write -P 0x6b " + std::to_string(16 * c.cluster) + " " +
          std::to_string(8 * c.cluster) + "' " + top,
      "qemu-img snapshot -c s1 " + top,
  };
  for (const auto& command : commands) {
    if (test::run(command, &out) != 0) {
      ADD_FAILURE() << command << ": " << out;
      return false;
    }
  }
  f.image = read_file(top);
  test::SharedMemory mem;
  if (!mem.file->write_at(0, f.image).ok()) return false;
  auto base = open_read_only(mem);
  if (!base) return false;
  f.initial.resize(c.size);
  if (!base->read(0, f.initial).ok()) return false;
  f.ops = workload(c);
  f.ops.push_back(fresh_write(c));
  f.ops.push_back(last_cluster_write(c));
  for (size_t i = 0; i < f.ops.size(); ++i)
    f.data.push_back(f.ops[i].kind == OpKind::kWrite
                         ? test::pattern(f.ops[i].length, static_cast<uint8_t>(i + 1))
                         : std::vector<std::byte>());
  return true;
}

// What a reopened image must hold: the ops in `durable` applied in order;
// bytes of the ops in `loose` may hold anything.
struct Expectation {
  std::vector<size_t> durable;
  std::vector<size_t> loose;
};

// Reopens the bytes in `mem` (read-only: the image that wrote them stays
// untouched meanwhile) and checks them; `ops` as Fixture::ops.
std::string verify(const Fixture& f, const std::vector<Op>& ops, test::SharedMemory& mem,
                   const Expectation& e) {
  const Config& c = f.config;
  std::string why;
  auto image = open_read_only(mem, &why);
  if (!image) return "reopen failed: " + why;
  auto report = check_file(*mem.file, RepairMode::kNone);
  if (!report.ok()) return "check failed: " + report.error().message();
  if (report->corruptions != 0 || report->check_errors != 0)
    return "check: " + std::to_string(report->corruptions) + " corruptions, " +
           std::to_string(report->check_errors) + " errors; " +
           (report->messages.empty() ? "" : report->messages.front());
  uint64_t want_size = c.size;
  std::vector<uint64_t> sizes;
  for (size_t i : e.durable) {
    if (ops[i].kind == OpKind::kResize) want_size = ops[i].offset;
    if (ops[i].kind != OpKind::kFlush && ops[i].kind != OpKind::kResize &&
        ops[i].offset + ops[i].length > image->size())
      return "an acknowledged write at " + std::to_string(ops[i].offset) +
             " is beyond the reopened size " + std::to_string(image->size());
  }
  sizes.push_back(want_size);
  for (size_t i : e.loose)
    if (ops[i].kind == OpKind::kResize) sizes.push_back(ops[i].offset);
  if (std::find(sizes.begin(), sizes.end(), image->size()) == sizes.end())
    return "size " + std::to_string(image->size()) + ", expected " + std::to_string(want_size);
  const uint64_t cs = c.cluster;
  const std::pair<uint64_t, uint64_t> regions[] = {{0, 128 * cs},
                                                   {kMiB, kMiB + c.fill},
                                                   {c.size - 2 * cs, c.size + 2 * cs},
                                                   {c.small_grow - 2 * cs, c.small_grow},
                                                   {c.big_grow - 2 * cs, c.big_grow + 8 * cs},
                                                   {c.fresh - cs, c.fresh + 2 * cs}};
  for (auto [from, to] : regions) {
    to = std::min(to, image->size());
    if (from >= to) continue;
    std::vector<std::byte> want(to - from), got(to - from);
    if (from < f.initial.size())
      std::memcpy(want.data(), f.initial.data() + from,
                  std::min<uint64_t>(to, f.initial.size()) - from);
    std::vector<bool> loose((to - from) / 512);
    auto overlap = [&](const Op& op, auto&& each) {
      if (op.kind == OpKind::kFlush || op.kind == OpKind::kResize) return;
      const uint64_t a = std::max(from, op.offset), b = std::min(to, op.offset + op.length);
      if (a < b) each(a, b);
    };
    for (size_t i : e.durable) {
      overlap(ops[i], [&](uint64_t a, uint64_t b) {
        if (ops[i].kind == OpKind::kWrite)
          std::memcpy(want.data() + (a - from), f.data[i].data() + (a - ops[i].offset), b - a);
        else
          std::memset(want.data() + (a - from), 0, b - a);
      });
    }
    for (size_t i : e.loose)
      overlap(ops[i], [&](uint64_t a, uint64_t b) {
        for (uint64_t s = (a - from) / 512; s < (b - from) / 512; ++s) loose[s] = true;
      });
    auto read = image->read(from, got);
    if (!read.ok()) return "read at " + std::to_string(from) + ": " + read.error().message();
    for (uint64_t s = 0; s < loose.size(); ++s) {
      if (!loose[s] && std::memcmp(want.data() + s * 512, got.data() + s * 512, 512) != 0)
        return "guest sector at " + std::to_string(from + s * 512) + " lost its data";
    }
  }
  return "";
}

struct Tally {
  uint64_t cases = 0, refused = 0, continued = 0;
};

// One case: the n-th I/O call fails (0: none). Returns a problem or "".
std::string run_case(const Fixture& f, uint64_t n, int error, io::FaultKind kind, Tally& tally,
                     uint64_t* io_calls = nullptr) {
  test::SharedMemory mem;
  (void)mem.file->write_at(0, f.image);
  auto fault = std::make_unique<io::FaultFile>(mem.handle());
  io::FaultFile* faults = fault.get();
  if (n != 0) faults->fail_after(io::FaultOp::kAny, n - 1, error, kind);
  OpenOptions o;
  o.access = io::Access::kReadWrite;
  auto opened = open_on_file(std::move(fault), o, 0);
  std::vector<Op> ops = f.ops;
  const size_t workload_ops = ops.size() - 2;
  size_t failed = workload_ops;  // index of the op that failed
  size_t last_flush = 0;         // ops before it are durable
  std::unique_ptr<Image> image;
  if (opened.ok()) {
    image = std::move(*opened);
    for (size_t i = 0; i < workload_ops; ++i) {
      if (!apply(*image, ops[i], f.data[i]).ok()) {
        failed = i;
        break;
      }
      if (ops[i].kind == OpKind::kFlush) last_flush = i + 1;
    }
  } else {
    failed = 0;
  }
  if (io_calls) *io_calls = faults->operations();
  if (n == 0) {
    if (failed != workload_ops) return "the workload failed without faults";
    // The workload must reach what it is there for.
    test::SharedMemory before;
    (void)before.file->write_at(0, f.image);
    auto was = read_header(*before.file);
    auto now = read_header(*mem.file);
    if (!was.ok() || !now.ok()) return "header";
    if (now->l1_table_offset == was->l1_table_offset) return "the L1 table never moved";
    if (f.config.cluster == 512 && now->refcount_table_offset == was->refcount_table_offset)
      return "the refcount table never moved";
    if (now->nb_snapshots != 1) return "the snapshot is gone";
  }
  ++tally.cases;
  auto range = [](size_t a, size_t b) {
    std::vector<size_t> v;
    for (size_t i = a; i < b; ++i) v.push_back(i);
    return v;
  };
  // Right after the error, as after a crash then.
  const Expectation crashed{range(0, last_flush),
                            range(last_flush, std::min(failed + 1, workload_ops))};
  const std::string during = "(in op " + std::to_string(failed) + ") ";
  std::string problem = verify(f, ops, mem, crashed);
  if (!problem.empty()) return during + "after the error: " + problem;
  if (!image) return "";
  // The image that saw the error: refuse, or take writes and keep them.
  faults->clear_faults();
  const size_t fresh = workload_ops, last = workload_ops + 1;
  ops[last].offset = image->size() - f.config.cluster;
  Expectation after = crashed;
  if (apply(*image, ops[fresh], f.data[fresh]).ok() &&
      apply(*image, ops[last], f.data[last]).ok() && image->flush().ok()) {
    ++tally.continued;
    after.durable = range(0, failed);
    after.durable.push_back(fresh);
    after.durable.push_back(last);
    after.loose.clear();
    if (failed < workload_ops) after.loose.push_back(failed);
  } else {
    ++tally.refused;
    after.loose.push_back(fresh);
    after.loose.push_back(last);
  }
  problem = verify(f, ops, mem, after);
  if (!problem.empty()) return during + "after further writes and a flush: " + problem;
  image.reset();  // closes (and flushes) it
  problem = verify(f, ops, mem, after);
  if (!problem.empty()) return during + "after close: " + problem;
  return "";
}

uint64_t stride() {
  const char* env = std::getenv("AMBER_ERROR_SWEEP_STRIDE");
  const uint64_t s = env ? std::strtoull(env, nullptr, 10) : 1;
  return s == 0 ? 1 : s;
}

void sweep(const Config& config) {
  if (!test::have_qemu_img()) GTEST_SKIP() << "qemu-img not installed (it makes the snapshot)";
  Fixture f(config);
  ASSERT_TRUE(prepare(f));
  Tally tally;
  {
    uint64_t calls = 0;
    const std::string problem = run_case(f, 0, 0, io::FaultKind::kError, tally, &calls);
    ASSERT_EQ(problem, "") << "without faults";
    f.io_calls = calls;
  }
  struct Kind {
    const char* name;
    int error;
    io::FaultKind kind;
  };
  const Kind kinds[] = {{"EIO", EIO, io::FaultKind::kError},
                        {"ENOSPC", ENOSPC, io::FaultKind::kError},
                        {"short write", ENOSPC, io::FaultKind::kShortWrite}};
  const uint64_t step = stride();
  tally = {};
  for (const Kind& k : kinds) {
    for (uint64_t n = 1; n <= f.io_calls; n += step) {
      const std::string problem = run_case(f, n, k.error, k.kind, tally);
      EXPECT_EQ(problem, "") << config.name << "-byte clusters, I/O call " << n << " of "
                             << f.io_calls << " fails with " << k.name;
    }
  }
  std::printf(
      "[ sweep %s ] %llu I/O calls, stride %llu: %llu cases; afterwards %llu images "
      "went on, %llu refused\n",
      config.name, static_cast<unsigned long long>(f.io_calls),
      static_cast<unsigned long long>(step), static_cast<unsigned long long>(tally.cases),
      static_cast<unsigned long long>(tally.continued),
      static_cast<unsigned long long>(tally.refused));
}

TEST(Qcow2ErrorSweep, Clusters512) {
  sweep({"512", 512, 3584 * kKiB, 4 * kMiB, 2 * kMiB + 64 * kKiB, 4 * kMiB, 8 * kMiB, 48 * kKiB});
}

TEST(Qcow2ErrorSweep, Clusters4K) {
  sweep(
      {"4096", 4096, 6 * kMiB, 7 * kMiB, 5 * kMiB / 2, 8 * kMiB, 1024 * kMiB + 4 * kMiB, 5 * kMiB});
}

// Lazy refcounts: the dirty bit must be on disk before any metadata that
// relies on it. When setting it fails, the next allocating write must set
// it again, not take the bit in memory for the bit on disk.
TEST(Qcow2ErrorSweep, LazyDirtyBitSetAgainAfterFailure) {
  test::SharedMemory mem;
  auto options = test::qcow2_options(4 * kMiB);
  options.lazy_refcounts = true;
  ASSERT_TRUE(create_on_file(*mem.file, options).ok());
  auto fault = std::make_unique<io::FaultFile>(mem.handle());
  io::FaultFile* faults = fault.get();
  OpenOptions o;
  o.access = io::Access::kReadWrite;
  auto image = open_on_file(std::move(fault), o, 0);
  ASSERT_TRUE(image.ok());
  const auto data = test::pattern(64 * kKiB, 3);
  faults->fail_after(io::FaultOp::kAny, 0, EIO);  // the header write of mark_dirty
  ASSERT_FALSE((*image)->write(0, data).ok());
  faults->clear_faults();
  ASSERT_TRUE((*image)->write(0, data).ok());
  ASSERT_TRUE((*image)->flush().ok());
  auto header = read_header(*mem.file);
  ASSERT_TRUE(header.ok());
  EXPECT_NE(header->incompatible_features & kIncompatDirty, 0u)
      << "lazy metadata was written back without the dirty bit on disk";
}

// A shrink whose header write fails keeps the old size in memory: the
// size the image reports always matches the header on disk. Fails each
// I/O call of the shrink in turn, so the header write is among them.
TEST(Qcow2ErrorSweep, FailedShrinkKeepsSizeOfHeaderOnDisk) {
  const uint64_t old_size = 4 * kMiB, new_size = 1 * kMiB;
  bool completed = false;
  for (uint64_t n = 0; n < 256 && !completed; ++n) {
    test::SharedMemory mem;
    ASSERT_TRUE(create_on_file(*mem.file, test::qcow2_options(old_size)).ok());
    auto fault = std::make_unique<io::FaultFile>(mem.handle());
    io::FaultFile* faults = fault.get();
    OpenOptions o;
    o.access = io::Access::kReadWrite;
    auto image = open_on_file(std::move(fault), o, 0);
    ASSERT_TRUE(image.ok());
    ASSERT_TRUE((*image)->write(3 * kMiB, test::pattern(64 * kKiB, 5)).ok());
    ASSERT_TRUE((*image)->flush().ok());
    faults->fail_after(io::FaultOp::kAny, n, EIO);
    const bool resized = (*image)->resize(new_size, Preallocation::kOff).ok();
    faults->clear_faults();
    completed = resized;  // n is past the shrink's last I/O
    if (resized) break;
    auto header = read_header(*mem.file);
    ASSERT_TRUE(header.ok());
    EXPECT_EQ((*image)->size(), header->size) << "I/O call " << n << " failed";
  }
  EXPECT_TRUE(completed) << "the shrink never got through";
}

}  // namespace
}  // namespace amber::block::qcow2
