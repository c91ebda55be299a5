// SPDX-License-Identifier: GPL-2.0-or-later
// secret-xml-mutate: a seeded mutation fuzzer for the secret XML parser
// (xml/secret.h), shaped like domain-xml-mutate: golden inputs from
// tests/data/xml/secret/in, byte- and token-level mutations, parse_secret.
// Errors are expected; a crash, a sanitizer report, or an unstable round
// trip (format -> parse -> format changing the text) is a failure, printed
// with the iteration's seed.
//
// Usage: secret-xml-mutate [-s SEED] [-n ITERATIONS] [-t SECONDS] FILE...
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "xml/secret.h"

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
    "\"",
    "&amp;",
    "&#0;",
    "&#13;",
    "&#x10FFFF;",
    "]]>",
    "<![CDATA[x]]>",
    "<!--",
    "-->",
    "<?pi x?>",
    "\n",
    "\r\n",
    "\t",
    "\xc3\x28",
    "\xff",
    "<usage type='volume'><volume>/v</volume></usage>",
    "<usage type='none'/>",
    "<usage type='iscsi'><target>iqn.x</target></usage>",
    "type='vtpm'",
    "type=''",
    "<name></name>",
    "<name>n</name>",
    "<uuid>00000000-0000-0000-0000-000000000000</uuid>",
    "<uuid/>",
    "<uuid>c7a5fdbd cdaf 9455 926a d65c16db1809</uuid>",
    "<description>d</description>",
    "<description/>",
    " ephemeral='yes'",
    " private='yes'",
    " private='no'",
    " xmlns:a='urn:a'",
    "<a:x/>",
    "<secret>",
    "</secret>",
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
    switch (rng.below(5)) {
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
        d.insert(at, kTokens[rng.below(std::size(kTokens))]);
        break;
      default: {  // replace an attribute value or text run with a token
        const std::size_t end = d.find_first_of("'<", at + 1);
        if (end != std::string::npos)
          d.replace(at, end - at, kTokens[rng.below(std::size(kTokens))]);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t seed = 1, iterations = 1000000, seconds = 3;
  int opt;
  while ((opt = getopt(argc, argv, "s:n:t:")) != -1) {
    if (opt == 's')
      seed = std::strtoull(optarg, nullptr, 0);
    else if (opt == 'n')
      iterations = std::strtoull(optarg, nullptr, 0);
    else if (opt == 't')
      seconds = std::strtoull(optarg, nullptr, 0);
    else
      return 2;
  }
  std::vector<std::string> templates;
  for (int i = optind; i < argc; ++i) templates.push_back(read(argv[i]));
  if (templates.empty() || templates[0].empty()) {
    std::fprintf(stderr, "secret-xml-mutate: no templates\n");
    return 2;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  uint64_t parsed = 0, done = 0;
  for (; done < iterations && std::chrono::steady_clock::now() < deadline; ++done) {
    const uint64_t iteration_seed = seed * 1000003 + done;
    Rng rng{iteration_seed | 1};
    std::string doc = templates[rng.below(templates.size())];
    mutate(doc, rng);
    auto secret = amber::xml::parse_secret(doc);
    if (!secret.ok()) continue;
    ++parsed;
    const std::string first = amber::xml::format_secret(*secret);
    auto again = amber::xml::parse_secret(first);
    if (!again.ok()) {
      std::fprintf(stderr, "seed %llu: formatted output does not parse: %s\n%s\n",
                   static_cast<unsigned long long>(iteration_seed), again.error().message().c_str(),
                   first.c_str());
      return 1;
    }
    const std::string second = amber::xml::format_secret(*again);
    if (second != first) {
      std::fprintf(stderr, "seed %llu: round trip unstable:\n--- first\n%s--- second\n%s",
                   static_cast<unsigned long long>(iteration_seed), first.c_str(), second.c_str());
      return 1;
    }
  }
  std::printf("secret-xml-mutate: %llu iterations, %llu mutants parsed and round-tripped stably\n",
              static_cast<unsigned long long>(done), static_cast<unsigned long long>(parsed));
  return 0;
}
