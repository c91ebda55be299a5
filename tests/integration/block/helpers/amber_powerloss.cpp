// SPDX-License-Identifier: GPL-2.0-or-later
// amber-powerloss: power-loss simulation over an in-memory qcow2 file.
// Each iteration loads TEMPLATE into an io::MemoryFile behind an
// io::FaultFile, opens it with the qcow2 driver, runs random writes,
// zero-writes, discards and flushes, then calls FaultFile::crash(), which
// reverts a random subset of the updates since the last flush. The
// surviving bytes are saved as OUTPREFIX-N.qcow2 (the Python test runs
// qemu-img check on them) and read back through the engine: every sector
// must hold what the last completed flush made durable, or the content of
// a request issued after that flush.
//
// Usage: amber-powerloss -s SEED [-i ITERATIONS] [-n MAXOPS] TEMPLATE OUTPREFIX
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <iterator>
#include <vector>

#include "block/io/fault_file.h"
#include "block/io/memory_file.h"
#include "block/qcow2/qcow2.h"
#include "tests/integration/block/helpers/helper_util.h"

using namespace amber;

namespace {

const std::string kProgram = "amber-powerloss";

// Tag of a sector that still holds the template's content (which need not
// be a sector pattern, e.g. a snapshot template filled by qemu-io).
constexpr uint64_t kInitial = UINT64_MAX - 1;

struct Model {
  std::vector<uint64_t> durable;               // tag per sector after the last flush
  std::vector<std::vector<uint64_t>> pending;  // tags written since then
  std::vector<std::byte> initial;              // guest content at open

  uint64_t classify(const std::byte* sector, uint64_t offset) const {
    const uint64_t tag = test::sector_tag(sector, offset);
    if (tag != 0 && std::memcmp(sector, initial.data() + offset, test::kSector) == 0) {
      return kInitial;
    }
    return tag;
  }

  void record(uint64_t offset, uint64_t length, uint64_t tag) {
    for (uint64_t s = offset / test::kSector; s < (offset + length) / test::kSector; ++s) {
      pending[s].push_back(tag);
    }
  }
  void flushed() {
    for (size_t s = 0; s < pending.size(); ++s) {
      if (!pending[s].empty()) durable[s] = pending[s].back();
      pending[s].clear();
    }
  }
};

std::vector<std::byte> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) test::die(kProgram, "cannot read " + path);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> bytes(chars.size());
  std::memcpy(bytes.data(), chars.data(), chars.size());
  return bytes;
}

void write_file(const std::string& path, const std::vector<std::byte>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) test::die(kProgram, "cannot write " + path);
}

void run_iteration(const std::vector<std::byte>& tmpl, uint64_t seed, uint64_t max_ops,
                   const std::string& output) {
  auto memory = std::make_unique<block::io::MemoryFile>(output);
  block::io::MemoryFile* memory_view = memory.get();
  if (!memory->write_at(0, tmpl).ok()) test::die(kProgram, "loading template failed");
  auto fault = std::make_unique<block::io::FaultFile>(std::move(memory));
  block::io::FaultFile* fault_view = fault.get();
  block::OpenOptions options;
  options.access = block::io::Access::kReadWrite;
  auto opened = block::qcow2::open(std::move(fault), options, 0);
  if (!opened.ok()) test::die(kProgram, "open: " + opened.error().message());
  auto image = std::move(opened).value();

  test::Rng rng(seed);
  Model model;
  const uint64_t sectors = image->size() / test::kSector;
  model.pending.assign(sectors, {});
  model.initial.resize(image->size());
  if (!image->read(0, model.initial).ok()) test::die(kProgram, "reading the template failed");
  for (uint64_t s = 0; s < sectors; ++s) {
    model.durable.push_back(
        model.classify(model.initial.data() + s * test::kSector, s * test::kSector));
  }
  const uint64_t ops = 1 + rng.below(max_ops);
  for (uint64_t op = 1; op <= ops; ++op) {
    const uint64_t count = 1 + rng.below(256);
    const uint64_t offset = rng.below(sectors - count + 1) * test::kSector;
    const uint64_t length = count * test::kSector;
    const uint64_t kind = rng.below(100);
    Result<void> r;
    if (kind < 70) {
      std::vector<std::byte> data(length);
      const uint64_t tag = (seed << 20) | op;
      test::fill_pattern(data, tag, offset);
      r = image->write(offset, data);
      model.record(offset, length, tag);
    } else if (kind < 80) {
      r = image->write_zeroes(offset, length, block::ZeroMode::kMayUnmap);
      model.record(offset, length, 0);
    } else if (kind < 88) {
      // Advisory: each sector now reads as zeros or as before; record what it shows.
      r = image->discard(offset, length);
      std::vector<std::byte> now(length);
      if (r.ok()) r = image->read(offset, now);
      for (uint64_t done = 0; r.ok() && done < length; done += test::kSector) {
        const uint64_t s = (offset + done) / test::kSector;
        const uint64_t tag = model.classify(now.data() + done, offset + done);
        const uint64_t before =
            model.pending[s].empty() ? model.durable[s] : model.pending[s].back();
        if (tag != 0 && tag != before) {
          test::die(kProgram, "discard at " + std::to_string(offset) + " changed sector " +
                                  std::to_string(offset + done) + " to tag " + std::to_string(tag));
        }
        model.pending[s].push_back(tag);
      }
    } else {
      r = image->flush();
      if (r.ok()) model.flushed();
    }
    if (!r.ok()) test::die(kProgram, "op " + std::to_string(op) + ": " + r.error().message());
  }
  const size_t reverted = fault_view->crash(seed);
  write_file(output, memory_view->contents());
  image.reset();  // closes against a crashed file: errors expected, ignored

  block::OpenOptions read_options;
  read_options.format = block::ImageFormat::kQcow2;
  read_options.locking = block::Locking::kOff;
  auto reopened = test::open_or_die(kProgram, output, read_options);
  std::vector<std::byte> buffer(1 << 20);
  for (uint64_t base = 0; base < reopened->size(); base += buffer.size()) {
    auto span =
        std::span(buffer.data(), std::min<uint64_t>(buffer.size(), reopened->size() - base));
    auto read = reopened->read(base, span);
    if (!read.ok()) test::die(kProgram, output + ": read after crash: " + read.error().message());
    for (uint64_t done = 0; done < span.size(); done += test::kSector) {
      const uint64_t s = (base + done) / test::kSector;
      const uint64_t tag = model.classify(span.data() + done, base + done);
      const auto& p = model.pending[s];
      if (tag != model.durable[s] && std::find(p.begin(), p.end(), tag) == p.end()) {
        test::die(kProgram, output + " (seed " + std::to_string(seed) + "): sector at offset " +
                                std::to_string(base + done) + " holds tag " + std::to_string(tag) +
                                ", durable tag " + std::to_string(model.durable[s]));
      }
    }
  }
  std::cout << output << ": " << ops << " ops, " << reverted << " updates reverted, content ok"
            << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t seed = 0, iterations = 10, max_ops = 300;
  int opt;
  while ((opt = getopt(argc, argv, "s:i:n:")) != -1) {
    switch (opt) {
      case 's':
        seed = test::parse_number(kProgram, optarg);
        break;
      case 'i':
        iterations = test::parse_number(kProgram, optarg);
        break;
      case 'n':
        max_ops = test::parse_number(kProgram, optarg);
        break;
      default:
        test::die(kProgram, "usage: amber-powerloss -s SEED [-i N] [-n MAXOPS] TEMPLATE OUTPREFIX");
    }
  }
  if (argc - optind != 2 || max_ops == 0) {
    test::die(kProgram, "usage: amber-powerloss -s SEED [-i N] [-n MAXOPS] TEMPLATE OUTPREFIX");
  }
  const auto tmpl = read_file(argv[optind]);
  for (uint64_t i = 0; i < iterations; ++i) {
    run_iteration(tmpl, seed * 7919 + i + 1, max_ops,
                  std::string(argv[optind + 1]) + "-" + std::to_string(i) + ".qcow2");
  }
  return 0;
}
