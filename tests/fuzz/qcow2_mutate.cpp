// SPDX-License-Identifier: GPL-2.0-or-later
// qcow2-mutate: a seeded mutation fuzzer for the qcow2 driver's parsers.
//
// Each iteration takes one of the TEMPLATE images (valid qemu-img images),
// overwrites a few fields of its header, header extensions, L1/L2 tables,
// refcount structures or snapshot table with "interesting" values, and
// then opens it through the qcow2 driver over an io::MemoryFile (no
// backing files), reads the whole disk, walks block_status and calls
// info(); every few iterations it also runs check_image on a copy on disk.
// Errors are the expected outcome; a crash, a sanitizer report or a hang
// (alarm) is the failure this looks for. Prints the seed of every
// iteration it starts, so the last line before a crash reproduces it.
//
// Usage: qcow2-mutate -s SEED [-n ITERATIONS] [-d WORKDIR] TEMPLATE...
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>

#include "block/check.h"
#include "block/io/memory_file.h"
#include "block/qcow2/qcow2.h"
#include "tests/integration/block/helpers/helper_util.h"

using namespace amber;

namespace {

const std::string kProgram = "qcow2-mutate";

// Values that sit on the edges of the checks in doc/qcow2-format.md section 10.
constexpr uint64_t kInteresting[] = {0,
                                     1,
                                     7,
                                     8,
                                     9,
                                     0x1ff,
                                     0x200,
                                     0xffff,
                                     0x10000,
                                     0x10001,
                                     0x7fffffff,
                                     0x80000000,
                                     0xffffffff,
                                     1ull << 32,
                                     1ull << 40,
                                     1ull << 55,
                                     1ull << 56,
                                     1ull << 62,
                                     1ull << 63,
                                     0x7fffffffffffffffull,
                                     0xffffffffffffffffull,
                                     0xfffffffffffffe00ull};

uint64_t be64(const std::vector<std::byte>& d, uint64_t off) {
  uint64_t v = 0;
  for (uint64_t i = 0; i < 8 && off + i < d.size(); ++i) {
    v = (v << 8) | std::to_integer<uint64_t>(d[off + i]);
  }
  return v;
}

void put(std::vector<std::byte>& d, uint64_t off, uint64_t value, unsigned bytes) {
  for (unsigned i = 0; i < bytes; ++i) {
    if (off + i < d.size()) {
      d[off + i] = static_cast<std::byte>((value >> (8 * (bytes - 1 - i))) & 0xff);
    }
  }
}

// A position worth mutating: a header field, the extension area, or an
// entry of a table the header points at.
uint64_t pick_offset(const std::vector<std::byte>& d, test::Rng& rng) {
  const uint64_t l1 = be64(d, 40), rt = be64(d, 48), snaps = be64(d, 64);
  const uint64_t l2 = be64(d, l1 < d.size() ? l1 : 0) & 0x00fffffffffffe00ull;
  const uint64_t rb = be64(d, rt < d.size() ? rt : 0) & 0x00fffffffffffe00ull;
  switch (rng.below(7)) {
    case 0:
      return rng.below(112);  // header
    case 1:
      return 112 + rng.below(512);  // extensions, backing name
    case 2:
      return l1 + 8 * rng.below(4);  // L1 entries
    case 3:
      return l2 + 8 * rng.below(64);  // L2 entries
    case 4:
      return rt + 8 * rng.below(4);  // refcount table
    case 5:
      return rb + 2 * rng.below(64);  // refcount block
    default:
      return snaps + rng.below(80);  // snapshot table
  }
}

void mutate(std::vector<std::byte>& d, test::Rng& rng) {
  const uint64_t count = 1 + rng.below(4);
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t off = pick_offset(d, rng);
    const unsigned widths[] = {1, 2, 4, 8};
    const unsigned width = widths[rng.below(4)];
    uint64_t value;
    switch (rng.below(3)) {
      case 0:
        value = kInteresting[rng.below(std::size(kInteresting))];
        break;
      case 1:
        value = be64(d, off) ^ (1ull << rng.below(64));
        break;  // flip a bit
      default:
        value = rng.next();
        break;
    }
    put(d, off, value, width);
  }
}

void exercise(std::vector<std::byte> bytes, uint64_t iteration, bool run_check,
              const std::string& workdir) {
  auto memory = std::make_unique<block::io::MemoryFile>("mutant");
  if (!memory->write_at(0, bytes).ok()) test::die(kProgram, "memory file write failed");
  block::OpenOptions options;
  options.backing = block::BackingMode::kNone;
  options.locking = block::Locking::kOff;
  options.l2_cache_bytes = 1 << 20;
  auto opened = block::qcow2::open(std::move(memory), options, 0);
  if (opened.ok()) {
    auto& image = **opened;
    std::vector<std::byte> buffer(256 * 1024);
    const uint64_t size = std::min<uint64_t>(image.size(), 256ull << 20);
    for (uint64_t off = 0; off < size; off += buffer.size()) {
      const uint64_t len = std::min<uint64_t>(buffer.size(), size - off) & ~(test::kSector - 1);
      if (len == 0 || !image.read(off, std::span(buffer.data(), len)).ok()) break;
    }
    for (uint64_t off = 0, steps = 0; off < size && steps < 4096; ++steps) {
      auto status = image.block_status(off, size - off);
      if (!status.ok() || status->length == 0) break;
      off += status->length;
    }
    (void)image.info();
  }
  if (run_check) {
    const std::string path = workdir + "/mutant-" + std::to_string(iteration % 4) + ".qcow2";
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out.write(reinterpret_cast<const char*>(bytes.data()),
                static_cast<std::streamsize>(bytes.size()));
    }
    block::CheckOptions check_options;
    check_options.format = block::ImageFormat::kQcow2;
    (void)block::check_image(path, check_options);
  }
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t seed = 1, iterations = 2000;
  std::string workdir = "/tmp";
  int opt;
  while ((opt = getopt(argc, argv, "s:n:d:")) != -1) {
    switch (opt) {
      case 's':
        seed = test::parse_number(kProgram, optarg);
        break;
      case 'n':
        iterations = test::parse_number(kProgram, optarg);
        break;
      case 'd':
        workdir = optarg;
        break;
      default:
        test::die(kProgram, "usage: qcow2-mutate -s SEED [-n N] [-d DIR] TEMPLATE...");
    }
  }
  if (optind >= argc)
    test::die(kProgram, "usage: qcow2-mutate -s SEED [-n N] [-d DIR] TEMPLATE...");
  std::vector<std::vector<std::byte>> templates;
  for (int i = optind; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (chars.size() < 512) test::die(kProgram, std::string("bad template ") + argv[i]);
    std::vector<std::byte> bytes(chars.size());
    std::memcpy(bytes.data(), chars.data(), chars.size());
    templates.push_back(std::move(bytes));
  }
  for (uint64_t i = 0; i < iterations; ++i) {
    const uint64_t iteration_seed = seed * 1000003 + i;
    std::printf("iteration %llu seed %llu\n", static_cast<unsigned long long>(i),
                static_cast<unsigned long long>(iteration_seed));
    std::fflush(stdout);
    test::Rng rng(iteration_seed);
    auto bytes = templates[rng.below(templates.size())];
    mutate(bytes, rng);
    alarm(30);  // a hang on one mutant is a failure (SIGALRM ends the run)
    exercise(std::move(bytes), i, i % 8 == 0, workdir);
    alarm(0);
  }
  std::printf("qcow2-mutate: %llu iterations, no crash\n",
              static_cast<unsigned long long>(iterations));
  return 0;
}
