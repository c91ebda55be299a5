// SPDX-License-Identifier: GPL-2.0-or-later
// amber-crash: the writer that the crash test kills with SIGKILL. Writes
// random sector-pattern data (tag = sequence number, see helper_util.h)
// and flushes every few writes; after each successful flush it prints the
// writes that flush made durable, one "D SEQ OFFSET LENGTH" line each,
// flushed to stdout before the next write starts.
//
// Usage: amber-crash -s SEED [-t CACHE] [-n MAXWRITES] [-m MAXLEN] IMAGE
#include <unistd.h>

#include <cstdio>
#include <vector>

#include "tests/integration/block/helpers/helper_util.h"

using namespace amber;

int main(int argc, char** argv) {
  const std::string program = "amber-crash";
  block::OpenOptions options;
  options.access = block::io::Access::kReadWrite;
  options.format = block::ImageFormat::kQcow2;
  uint64_t seed = 0, max_writes = 1000000, max_length = 64 * 1024;
  int opt;
  while ((opt = getopt(argc, argv, "s:t:n:m:")) != -1) {
    switch (opt) {
      case 's':
        seed = test::parse_number(program, optarg);
        break;
      case 't': {
        auto cache = block::io::parse_cache_mode(optarg);
        if (!cache.ok()) test::die(program, cache.error().message());
        options.cache = *cache;
        break;
      }
      case 'n':
        max_writes = test::parse_number(program, optarg);
        break;
      case 'm':
        max_length = test::parse_number(program, optarg);
        break;
      default:
        test::die(program, "usage: amber-crash -s SEED [-t CACHE] [-n N] [-m MAXLEN] IMAGE");
    }
  }
  if (argc - optind != 1 || max_length < test::kSector) {
    test::die(program, "usage: amber-crash -s SEED [-t CACHE] [-n N] [-m MAXLEN] IMAGE");
  }
  auto image = test::open_or_die(program, argv[optind], options);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::printf("opened\n");

  struct Pending {
    uint64_t seq, offset, length;
  };
  std::vector<Pending> pending;
  test::Rng rng(seed);
  const uint64_t sectors = image->size() / test::kSector;
  uint64_t until_flush = 1 + rng.below(16);
  for (uint64_t seq = 1; seq <= max_writes; ++seq) {
    const uint64_t count = 1 + rng.below(max_length / test::kSector);
    const uint64_t first = rng.below(sectors - count + 1);
    std::vector<std::byte> data(count * test::kSector);
    test::fill_pattern(data, seq, first * test::kSector);
    auto written = image->write(first * test::kSector, data);
    if (!written.ok()) test::die(program, "write: " + written.error().message());
    pending.push_back({seq, first * test::kSector, data.size()});
    if (--until_flush == 0) {
      auto flushed = image->flush();
      if (!flushed.ok()) test::die(program, "flush: " + flushed.error().message());
      for (const auto& p : pending) {
        std::printf("D %llu %llu %llu\n", static_cast<unsigned long long>(p.seq),
                    static_cast<unsigned long long>(p.offset),
                    static_cast<unsigned long long>(p.length));
      }
      std::fflush(stdout);
      pending.clear();
      until_flush = 1 + rng.below(16);
    }
  }
  auto closed = image->close();
  if (!closed.ok()) test::die(program, "close: " + closed.error().message());
  return 0;
}
