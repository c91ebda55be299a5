// SPDX-License-Identifier: GPL-2.0-or-later
// domain-xml-mutate: a seeded mutation fuzzer for the domain XML parser.
//
// Each iteration takes one of the golden inputs (tests/data/xml/in/*.xml
// and friends), applies a few byte- and token-level mutations, and runs
// parse_domain on it. Errors are the expected outcome; what this looks for
// is a crash, a sanitizer report, or an unstable round trip: when a
// mutant parses, format -> parse -> format must give the same text.
// Stops after ITERATIONS or SECONDS, whichever comes first; prints the
// seed of a failing iteration so it can be reproduced.
//
// Usage: domain-xml-mutate [-s SEED] [-n ITERATIONS] [-t SECONDS] FILE...
// (the loop and the mutations: tests/fuzz/xml_fuzz.h)
#include <cstdint>
#include <string>

#include "tests/fuzz/xml_fuzz.h"
#include "xml/domain/domain.h"

namespace {

const char* const kTokens[] = {
    "<",
    ">",
    "&",
    "'",
    "\"",
    "&amp;",
    "&#0;",
    "&#x10FFFF;",
    "&lt;",
    "]]>",
    "<![CDATA[x]]>",
    "<!--",
    "-->",
    "<?pi x?>",
    "</devices>",
    "<disk type='file' device='disk'><target dev='vdz' bus='virtio'/></disk>",
    "<backingStore type='file'><source file='/b'/></backingStore>",
    "<backingStore/>",
    "unit='EiB'",
    "unit='b'",
    "18446744073709551615",
    "18446744073709551616",
    "0",
    "-1",
    "0x",
    "0xffffffffffffffff",
    "<timer name='rtc'/>",
    "<hugepages/>",
    "<vapic state='off'/>",
    " xmlns:a='urn:a'",
    "<a:x/>",
    "\n",
    "\t",
    std::string("\0", 1).c_str(),
    "\xc3\x28",
    "\xff",
    "<metadata><m xmlns='urn:m'>t</m></metadata>",
    "<title>t</title>",
    "<uuid>00000000-0000-0000-0000-000000000000</uuid>",
    "<boot order='0'/>",
};

}  // namespace

int main(int argc, char** argv) {
  return amber::fuzz::run_xml_fuzzer(
      "domain-xml-mutate", argc, argv, kTokens,
      [](const std::string& doc, const std::string&, uint64_t seed, uint64_t& parsed) {
        (void)amber::xml::find_unsupported(doc);
        return amber::fuzz::round_trips(
            doc, [](const std::string& d) { return amber::xml::parse_domain(d); },
            [](const auto& v) { return amber::xml::format_domain(v); }, seed, parsed);
      });
}
