// SPDX-License-Identifier: GPL-2.0-or-later
// storage-xml-mutate: a seeded mutation fuzzer for the storage pool and
// volume XML parsers (xml/storage/). Each iteration mutates one golden
// input (tests/data/xml/storage/in/*.xml) and parses it as a pool when its
// root was <pool>, as a volume otherwise. Errors are expected; a crash, a
// sanitizer report or an unstable round trip (format -> parse -> format
// changes the text) fails, printing the iteration's seed.
//
// Usage: storage-xml-mutate [-s SEED] [-n ITERATIONS] [-t SECONDS] FILE...
// (the loop and the mutations: tests/fuzz/xml_fuzz.h)
#include <cstdint>
#include <string>

#include "tests/fuzz/xml_fuzz.h"
#include "xml/storage/pool.h"
#include "xml/storage/volume.h"

namespace {

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

}  // namespace

int main(int argc, char** argv) {
  return amber::fuzz::run_xml_fuzzer(
      "storage-xml-mutate", argc, argv, kTokens,
      [](const std::string& doc, const std::string& base, uint64_t seed, uint64_t& parsed) {
        return base.starts_with("<pool")
                   ? amber::fuzz::round_trips(
                         doc,
                         [](const std::string& d) { return amber::xml::parse_storage_pool(d); },
                         [](const auto& v) { return amber::xml::format_storage_pool(v); }, seed,
                         parsed)
                   : amber::fuzz::round_trips(
                         doc,
                         [](const std::string& d) { return amber::xml::parse_storage_volume(d); },
                         [](const auto& v) { return amber::xml::format_storage_volume(v); }, seed,
                         parsed);
      });
}
