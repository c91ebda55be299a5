// SPDX-License-Identifier: GPL-2.0-or-later
// secret-xml-mutate: a seeded mutation fuzzer for the secret XML parser
// (xml/secret.h), shaped like domain-xml-mutate: golden inputs from
// tests/data/xml/secret/in, byte- and token-level mutations, parse_secret.
// Errors are expected; a crash, a sanitizer report, or an unstable round
// trip (format -> parse -> format changing the text) is a failure, printed
// with the iteration's seed.
//
// Usage: secret-xml-mutate [-s SEED] [-n ITERATIONS] [-t SECONDS] FILE...
// (the loop and the mutations: tests/fuzz/xml_fuzz.h)
#include <cstdint>
#include <string>

#include "tests/fuzz/xml_fuzz.h"
#include "xml/secret.h"

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

}  // namespace

int main(int argc, char** argv) {
  return amber::fuzz::run_xml_fuzzer(
      "secret-xml-mutate", argc, argv, kTokens,
      [](const std::string& doc, const std::string&, uint64_t seed, uint64_t& parsed) {
        return amber::fuzz::round_trips(
            doc, [](const std::string& d) { return amber::xml::parse_secret(d); },
            [](const auto& v) { return amber::xml::format_secret(v); }, seed, parsed);
      });
}
