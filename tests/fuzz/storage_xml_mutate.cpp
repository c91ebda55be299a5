// SPDX-License-Identifier: GPL-2.0-or-later
// storage-xml-mutate: a seeded mutation fuzzer for the storage pool and
// volume XML parsers (xml/storage/). Each iteration mutates one golden
// input (tests/data/xml/storage/in/*.xml) and parses it as a pool when its
// root was <pool>, as a volume otherwise. Errors are expected; a crash, a
// sanitizer report or an unstable round trip (format -> parse -> format
// changes the text) fails, printing the iteration's seed.
//
// Usage: storage-xml-mutate [-s SEED] [-t SECONDS] FILE...
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "xml/storage/pool.h"
#include "xml/storage/volume.h"

namespace {

struct Rng {
  uint64_t state;
  uint64_t next() {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  }
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }
};

const char* const kTokens[] = {
    "<",
    ">",
    "&",
    "'",
    "&amp;",
    "&#0;",
    "]]>",
    "<!--",
    "unit='EiB'",
    "unit='k'",
    "unit='x'",
    "18446744073709551615",
    "18446744073709551616",
    "0",
    "-1",
    "-2",
    "07777",
    "99999",
    "<permissions><mode>8</mode></permissions>",
    "<backingStore><path>/b</path></backingStore>",
    "<encryption format='luks'/>",
    "<features><lazy_refcounts/></features>",
    "type='logical'",
    "<uuid>nope</uuid>",
    "<path>relative</path>",
    "<path>/</path>",
    "/../",
    "\xff",
    "\n",
};

std::string read(const char* path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void mutate(std::string& d, Rng& rng) {
  const uint64_t count = 1 + rng.below(4);
  for (uint64_t i = 0; i < count && !d.empty(); ++i) {
    const std::size_t at = rng.below(d.size());
    switch (rng.below(4)) {
      case 0:
        d[at] = static_cast<char>(d[at] ^ (1 << rng.below(8)));
        break;
      case 1:
        d.erase(at, 1 + rng.below(16));
        break;
      case 2:
        d.insert(at, d.substr(rng.below(d.size()), 1 + rng.below(64)));
        break;
      default:
        d.insert(at, kTokens[rng.below(std::size(kTokens))]);
    }
  }
}

template <typename Parse, typename Format>
bool stable(const std::string& doc, Parse parse, Format format, uint64_t seed, uint64_t& parsed) {
  auto first = parse(doc);
  if (!first.ok()) return true;
  ++parsed;
  const std::string text = format(*first);
  auto again = parse(text);
  if (!again.ok()) {
    std::fprintf(stderr, "seed %llu: formatted output does not parse: %s\n%s\n",
                 static_cast<unsigned long long>(seed), again.error().message().c_str(),
                 text.c_str());
    return false;
  }
  if (format(*again) != text) {
    std::fprintf(stderr, "seed %llu: round trip unstable:\n%s",
                 static_cast<unsigned long long>(seed), text.c_str());
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t seed = 1, seconds = 3;
  int opt;
  while ((opt = getopt(argc, argv, "s:t:")) != -1) {
    if (opt == 's') {
      seed = std::strtoull(optarg, nullptr, 0);
    } else if (opt == 't') {
      seconds = std::strtoull(optarg, nullptr, 0);
    } else {
      return 2;
    }
  }
  std::vector<std::string> templates;
  for (int i = optind; i < argc; ++i) templates.push_back(read(argv[i]));
  if (templates.empty() || templates[0].empty()) {
    std::fprintf(stderr, "storage-xml-mutate: no templates\n");
    return 2;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  uint64_t parsed = 0, done = 0;
  for (; std::chrono::steady_clock::now() < deadline; ++done) {
    const uint64_t iteration_seed = seed * 1000003 + done;
    Rng rng{iteration_seed | 1};
    const std::string& base = templates[rng.below(templates.size())];
    std::string doc = base;
    mutate(doc, rng);
    const bool ok = base.starts_with("<pool")
                        ? stable(doc, amber::xml::parse_storage_pool,
                                 amber::xml::format_storage_pool, iteration_seed, parsed)
                        : stable(doc, amber::xml::parse_storage_volume,
                                 amber::xml::format_storage_volume, iteration_seed, parsed);
    if (!ok) return 1;
  }
  std::printf("storage-xml-mutate: %llu iterations, %llu mutants parsed and round-tripped stably\n",
              static_cast<unsigned long long>(done), static_cast<unsigned long long>(parsed));
  return 0;
}
