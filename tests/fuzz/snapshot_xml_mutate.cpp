// SPDX-License-Identifier: GPL-2.0-or-later
// snapshot-xml-mutate: a seeded mutation fuzzer for the snapshot XML parser
// (xml/snapshot.h), shaped like domain-xml-mutate: golden inputs from
// tests/data/xml/snapshot/in, byte- and token-level mutations, parse_snapshot
// (the stored reading, which also runs the embedded domain parser).
// Errors are expected; a crash, a sanitizer report, or an unstable round
// trip (format -> parse -> format changing the text) is a failure, printed
// with the iteration's seed.
//
// Usage: snapshot-xml-mutate [-s SEED] [-n ITERATIONS] [-t SECONDS] FILE...
// (the loop and the mutations: tests/fuzz/xml_fuzz.h)
#include <cstdint>
#include <string>

#include "tests/fuzz/xml_fuzz.h"
#include "xml/snapshot.h"

namespace {

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
    "<name>s</name>",
    "<name></name>",
    "<name>../x</name>",
    "<description>d</description>",
    "<state>shutoff</state>",
    "<parent><name>p</name></parent>",
    "<parent/>",
    "<creationTime>1</creationTime>",
    "<creationTime>-1</creationTime>",
    "<memory snapshot='no'/>",
    "<memory snapshot='external' file='/m'/>",
    "<disks><disk name='vda' snapshot='internal'/></disks>",
    "<disk name='vda'/>",
    "snapshot='bogus'",
    "<domain type='kvm'><name>d</name><memory>1024</memory><os><type>hvm</type></os></domain>",
    "<domain/>",
    "<active>1</active>",
    " xmlns:a='urn:a'",
    "<a:x/>",
    "<domainsnapshot>",
    "</domainsnapshot>",
};

}  // namespace

int main(int argc, char** argv) {
  return amber::fuzz::run_xml_fuzzer(
      "snapshot-xml-mutate", argc, argv, kTokens,
      [](const std::string& doc, const std::string&, uint64_t seed, uint64_t& parsed) {
        return amber::fuzz::round_trips(
            doc,
            [](const std::string& d) {
              return amber::xml::parse_snapshot(d, amber::xml::SnapshotParse::kStored);
            },
            [](const auto& v) { return amber::xml::format_snapshot(v); }, seed, parsed);
      });
}
