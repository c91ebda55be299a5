// SPDX-License-Identifier: GPL-2.0-or-later
// amber-diff: the seeded differential workload. Applies the same random
// writes, zero-writes and discards to a raw reference file (plain POSIX
// calls, no Amber code) and to an image (through the Amber engine), from
// several threads at once, verifying reads on the way and the whole
// content at the end. The Python test then runs qemu-img compare/check.
//
// Usage: amber-diff -s SEED [-j THREADS] [-n OPS] [-S STRIPE] [-m MAXLEN]
//                   [-c PERCENT] [-f FMT] REFERENCE.raw IMAGE
// -c: that share of the ops (qcow2 only) are compressed writes of the one
// whole cluster inside the op's stripe: a discard of it, then
// write_compressed (which refuses a cluster that still has a host cluster,
// e.g. one the discard left allocated: counted, not an error).
// Threads own disjoint stripes (stripe index % THREADS == thread), so the
// final content is well defined; STRIPE is not a multiple of the cluster
// size, so neighbouring threads share clusters and L2 tables. Discards are
// advisory (see apply_discard_to_reference); write_zeroes must zero.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

#include "block/qcow2/image.h"
#include "tests/integration/block/helpers/helper_util.h"

using namespace amber;

namespace {

const std::string kProgram = "amber-diff";

struct Workload {
  uint64_t seed = 0;
  unsigned threads = 4;
  uint64_t ops = 4000;
  uint64_t stripe = 96 * 1024;
  uint64_t max_length = 128 * 1024;
  int reference_fd = -1;
  block::Image* image = nullptr;
  block::qcow2::Qcow2Image* qcow2 = nullptr;  // set with -c
  uint64_t compress_percent = 0;
  uint64_t size = 0;
  std::atomic<bool> failed{false};
  std::mutex message_mutex;
  std::string message;
  // write, zero, discard, read, flush, compressed, compressed refused
  std::atomic<uint64_t> counts[7] = {};

  void fail(const std::string& text) {
    std::lock_guard lock(message_mutex);
    if (!failed.exchange(true)) message = text;
  }
};

std::string describe(const char* what, uint64_t offset, uint64_t length) {
  return std::string(what) + " offset=" + std::to_string(offset) +
         " length=" + std::to_string(length);
}

bool compare_range(Workload& w, uint64_t offset, uint64_t length, const std::string& context) {
  std::vector<std::byte> got(length), want(length);
  auto read = w.image->read(offset, got);
  if (!read.ok()) {
    w.fail(context + ": image read failed: " + read.error().message());
    return false;
  }
  if (::pread(w.reference_fd, want.data(), length, static_cast<off_t>(offset)) !=
      static_cast<ssize_t>(length)) {
    w.fail(context + ": reference read failed");
    return false;
  }
  for (uint64_t i = 0; i < length; ++i) {
    if (got[i] != want[i]) {
      w.fail(context + ": content differs at offset " + std::to_string(offset + i));
      return false;
    }
  }
  return true;
}

// A discard is advisory (QEMU ignores the parts of a request that do not
// cover whole clusters or subclusters): afterwards every sector must read
// either as before or as zeros. The reference takes what the image shows.
bool apply_discard_to_reference(Workload& w, uint64_t offset, uint64_t length) {
  std::vector<std::byte> got(length), before(length);
  auto read = w.image->read(offset, got);
  if (!read.ok()) {
    w.fail(describe("read after discard", offset, length) + ": " + read.error().message());
    return false;
  }
  if (::pread(w.reference_fd, before.data(), length, static_cast<off_t>(offset)) !=
      static_cast<ssize_t>(length)) {
    w.fail("reference read failed");
    return false;
  }
  static const std::byte zeros[test::kSector] = {};
  for (uint64_t s = 0; s < length; s += test::kSector) {
    if (std::memcmp(got.data() + s, before.data() + s, test::kSector) != 0 &&
        std::memcmp(got.data() + s, zeros, test::kSector) != 0) {
      w.fail(describe("discard", offset, length) + ": sector at " + std::to_string(offset + s) +
             " reads neither its old content nor zeros");
      return false;
    }
  }
  if (::pwrite(w.reference_fd, got.data(), length, static_cast<off_t>(offset)) !=
      static_cast<ssize_t>(length)) {
    w.fail("reference pwrite failed");
    return false;
  }
  return true;
}

// The compressed op: the whole cluster inside `stripe` (if any) gets a
// discard, then a compressed write of pattern data.
void compressed_op(Workload& w, uint64_t stripe, uint64_t tag) {
  const uint64_t cs = w.qcow2->cluster_size();
  const uint64_t cluster = (stripe + cs - 1) / cs * cs;
  if (cluster + cs > stripe + w.stripe || cluster + cs > w.size) return;
  auto d = w.image->discard(cluster, cs);
  if (!d.ok()) return w.fail(describe("discard", cluster, cs) + ": " + d.error().message());
  if (!apply_discard_to_reference(w, cluster, cs)) return;
  std::vector<std::byte> data(cs);
  test::fill_pattern(data, tag, cluster);
  auto r = w.qcow2->write_compressed(cluster, data);
  if (!r.ok() && r.error().error_number() == EIO) {
    ++w.counts[6];  // still allocated: compression never overwrites
    return;
  }
  if (!r.ok())
    return w.fail(describe("write_compressed", cluster, cs) + ": " + r.error().message());
  if (::pwrite(w.reference_fd, data.data(), cs, static_cast<off_t>(cluster)) !=
      static_cast<ssize_t>(cs))
    return w.fail("reference pwrite failed");
  ++w.counts[5];
}

void run_thread(Workload& w, unsigned thread) {
  test::Rng rng(w.seed * 1000003 + thread);
  const uint64_t stripes = w.size / w.stripe;
  const uint64_t own = (stripes + w.threads - 1 - thread) / w.threads;
  const uint64_t sectors_per_stripe = w.stripe / test::kSector;
  const uint64_t max_sectors = std::min(w.max_length / test::kSector, sectors_per_stripe);
  for (uint64_t op = 0; op < w.ops / w.threads && !w.failed; ++op) {
    const uint64_t stripe = (rng.below(own) * w.threads + thread) * w.stripe;
    const uint64_t sectors = 1 + rng.below(max_sectors);
    const uint64_t offset = stripe + rng.below(sectors_per_stripe - sectors + 1) * test::kSector;
    const uint64_t length = sectors * test::kSector;
    if (w.compress_percent != 0 && rng.below(100) < w.compress_percent) {
      compressed_op(w, stripe, (uint64_t{thread} + 1) << 40 | (op + 1));
      continue;
    }
    const uint64_t kind = rng.below(100);
    if (kind < 55) {
      std::vector<std::byte> data(length);
      test::fill_pattern(data, (uint64_t{thread} + 1) << 40 | (op + 1), offset);
      auto r = w.image->write(offset, data);
      if (!r.ok()) return w.fail(describe("write", offset, length) + ": " + r.error().message());
      if (::pwrite(w.reference_fd, data.data(), length, static_cast<off_t>(offset)) !=
          static_cast<ssize_t>(length)) {
        return w.fail("reference pwrite failed");
      }
      ++w.counts[0];
    } else if (kind < 70) {
      auto r = w.image->write_zeroes(
          offset, length, rng.below(2) ? block::ZeroMode::kMayUnmap : block::ZeroMode::kAllocate);
      if (!r.ok()) {
        return w.fail(describe("write_zeroes", offset, length) + ": " + r.error().message());
      }
      if (::fallocate(w.reference_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      static_cast<off_t>(offset), static_cast<off_t>(length)) != 0) {
        return w.fail("reference punch hole failed");
      }
      ++w.counts[1];
    } else if (kind < 85) {
      auto r = w.image->discard(offset, length);
      if (!r.ok()) return w.fail(describe("discard", offset, length) + ": " + r.error().message());
      if (!apply_discard_to_reference(w, offset, length)) return;
      ++w.counts[2];
    } else if (kind < 97) {
      const std::string context =
          "verify after op " + std::to_string(op) + " of thread " + std::to_string(thread);
      if (!compare_range(w, offset, length, describe(context.c_str(), offset, length))) {
        return;
      }
      ++w.counts[3];
    } else {
      auto r = w.image->flush();
      if (!r.ok()) return w.fail("flush: " + r.error().message());
      ++w.counts[4];
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Workload w;
  block::OpenOptions options;
  options.access = block::io::Access::kReadWrite;
  bool have_seed = false;
  int opt;
  while ((opt = getopt(argc, argv, "s:j:n:S:m:c:f:")) != -1) {
    switch (opt) {
      case 's':
        w.seed = test::parse_number(kProgram, optarg);
        have_seed = true;
        break;
      case 'j':
        w.threads = static_cast<unsigned>(test::parse_number(kProgram, optarg));
        break;
      case 'n':
        w.ops = test::parse_number(kProgram, optarg);
        break;
      case 'S':
        w.stripe = test::parse_number(kProgram, optarg);
        break;
      case 'm':
        w.max_length = test::parse_number(kProgram, optarg);
        break;
      case 'c':
        w.compress_percent = test::parse_number(kProgram, optarg);
        break;
      case 'f': {
        auto format = block::parse_format(optarg);
        if (!format.ok()) test::die(kProgram, format.error().message());
        options.format = *format;
        break;
      }
      default:
        test::die(kProgram, "bad option");
    }
  }
  if (argc - optind != 2 || !have_seed || w.threads == 0 || w.stripe % test::kSector != 0 ||
      w.max_length < test::kSector) {
    test::die(kProgram,
              "usage: amber-diff -s SEED [-j T] [-n OPS] [-S STRIPE] [-m MAXLEN] REF IMAGE");
  }
  std::cout << "amber-diff: seed " << w.seed << ", " << w.threads << " threads, " << w.ops << " ops"
            << std::endl;
  w.reference_fd = ::open(argv[optind], O_RDWR);
  if (w.reference_fd < 0) test::die(kProgram, std::string("open reference: ") + strerror(errno));
  auto image = test::open_or_die(kProgram, argv[optind + 1], options);
  w.image = image.get();
  w.size = image->size();
  if (w.compress_percent != 0) {
    w.qcow2 = dynamic_cast<block::qcow2::Qcow2Image*>(image.get());
    if (w.qcow2 == nullptr) test::die(kProgram, "-c needs a qcow2 image");
  }
  const off_t reference_size = ::lseek(w.reference_fd, 0, SEEK_END);
  if (reference_size != static_cast<off_t>(w.size) || w.size < w.stripe * w.threads) {
    test::die(kProgram, "reference and image sizes differ or image is too small");
  }

  std::vector<std::thread> threads;
  for (unsigned t = 0; t < w.threads; ++t) threads.emplace_back(run_thread, std::ref(w), t);
  for (auto& t : threads) t.join();
  if (w.failed) test::die(kProgram, "seed " + std::to_string(w.seed) + ": " + w.message);

  for (uint64_t offset = 0; offset < w.size; offset += 1 << 20) {
    if (!compare_range(w, offset, std::min<uint64_t>(1 << 20, w.size - offset), "final compare")) {
      test::die(kProgram, "seed " + std::to_string(w.seed) + ": " + w.message);
    }
  }
  auto closed = image->close();
  if (!closed.ok()) test::die(kProgram, "close: " + closed.error().message());
  if (::fsync(w.reference_fd) != 0 || ::close(w.reference_fd) != 0) {
    test::die(kProgram, "closing reference failed");
  }
  std::cout << "amber-diff: done: writes " << w.counts[0] << " zeroes " << w.counts[1]
            << " discards " << w.counts[2] << " verified reads " << w.counts[3] << " flushes "
            << w.counts[4] << " compressed " << w.counts[5] << " (refused " << w.counts[6] << ")"
            << std::endl;
  return 0;
}
