// SPDX-License-Identifier: GPL-2.0-or-later
// What the seeded XML mutation fuzzers (domain-, storage- and
// secret-xml-mutate) share: the generator, the mutations, the round-trip
// check and the driver loop. Each iteration takes one of the golden
// inputs, applies a few byte- and token-level mutations and hands the
// mutant to the fuzzer's check. Errors from the parser are the expected
// outcome; a failure is a crash, a sanitizer report, or an unstable round
// trip (format -> parse -> format changing the text), printed with the
// iteration's seed so it can be reproduced. Stops after ITERATIONS or
// SECONDS, whichever comes first.
//
// Usage of every fuzzer: NAME [-s SEED] [-n ITERATIONS] [-t SECONDS] FILE...
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <span>
#include <sstream>
#include <string>
#include <vector>

namespace amber::fuzz {

// xorshift64: the same sequence on every machine for a given seed.
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

inline std::string read_file(const char* path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// One to four mutations: a bit flip, a cut, a copied run, an inserted
// token, an attribute value or text run replaced by a token, a moved line.
inline void mutate_xml(std::string& d, Rng& rng, std::span<const char* const> tokens) {
  const uint64_t count = 1 + rng.below(4);
  for (uint64_t i = 0; i < count && !d.empty(); ++i) {
    const std::size_t at = rng.below(d.size());
    switch (rng.below(6)) {
      case 0:
        d[at] = static_cast<char>(d[at] ^ (1 << rng.below(8)));
        break;
      case 1:
        d.erase(at, 1 + rng.below(16));
        break;
      case 2:
        d.insert(at, d.substr(rng.below(d.size()), 1 + rng.below(64)));
        break;
      case 3:
        d.insert(at, tokens[rng.below(tokens.size())]);
        break;
      case 4: {
        const std::size_t end = d.find_first_of("'<", at + 1);
        if (end != std::string::npos) d.replace(at, end - at, tokens[rng.below(tokens.size())]);
        break;
      }
      default: {
        const std::size_t a = d.rfind('\n', at), b = d.find('\n', at);
        if (a == std::string::npos || b == std::string::npos) break;
        std::string line = d.substr(a, b - a);
        d.erase(a, b - a);
        d.insert(rng.below(d.size()), line);
      }
    }
  }
}

// Whether DOC, when PARSE accepts it, formats to a text that parses and
// formats again to the same text; counts accepted mutants in PARSED.
template <typename Parse, typename Format>
bool round_trips(const std::string& doc, Parse parse, Format format, uint64_t seed,
                 uint64_t& parsed) {
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
  const std::string second = format(*again);
  if (second != text) {
    std::fprintf(stderr, "seed %llu: round trip unstable:\n--- first\n%s--- second\n%s",
                 static_cast<unsigned long long>(seed), text.c_str(), second.c_str());
    return false;
  }
  return true;
}

// The fuzzer's main: CHECK(mutant, golden input it came from, seed,
// parsed) returns false on a failure (after printing it). Returns the
// process exit status.
template <typename Check>
int run_xml_fuzzer(const char* name, int argc, char** argv, std::span<const char* const> tokens,
                   Check check) {
  uint64_t seed = 1, iterations = 1000000, seconds = 3;
  int opt;
  while ((opt = getopt(argc, argv, "s:n:t:")) != -1) {
    if (opt == 's') {
      seed = std::strtoull(optarg, nullptr, 0);
    } else if (opt == 'n') {
      iterations = std::strtoull(optarg, nullptr, 0);
    } else if (opt == 't') {
      seconds = std::strtoull(optarg, nullptr, 0);
    } else {
      return 2;
    }
  }
  std::vector<std::string> templates;
  for (int i = optind; i < argc; ++i) templates.push_back(read_file(argv[i]));
  if (templates.empty() || templates[0].empty()) {
    std::fprintf(stderr, "%s: no templates\n", name);
    return 2;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  uint64_t parsed = 0, done = 0;
  for (; done < iterations && std::chrono::steady_clock::now() < deadline; ++done) {
    const uint64_t iteration_seed = seed * 1000003 + done;
    Rng rng{iteration_seed | 1};
    const std::string& base = templates[rng.below(templates.size())];
    std::string doc = base;
    mutate_xml(doc, rng, tokens);
    if (!check(doc, base, iteration_seed, parsed)) return 1;
  }
  std::printf("%s: %llu iterations, %llu mutants parsed and round-tripped stably\n", name,
              static_cast<unsigned long long>(done), static_cast<unsigned long long>(parsed));
  return 0;
}

}  // namespace amber::fuzz
