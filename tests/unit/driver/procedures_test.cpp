// SPDX-License-Identifier: GPL-2.0-or-later
// Unit tests for driver/protocol: the procedure tables (sorted, no duplicate
// numbers, names and numbers as in libvirt 9.0's remote_protocol.x, captured
// in data/remote-procedures.tsv) and the remote_error encoding.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "driver/protocol/limits.h"
#include "driver/protocol/remote_error.h"
#include "driver/protocol/remote_table.h"

namespace amber::driver::protocol {
namespace {

std::map<int32_t, std::string> load_reference() {
  std::map<int32_t, std::string> names;
  std::ifstream in(AMBER_DRIVER_TEST_DATA "/remote-procedures.tsv");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    int32_t number = 0;
    std::string name;
    fields >> number >> name;
    names[number] = name;
  }
  return names;
}

TEST(Procedures, ReferenceLoads) {
  EXPECT_EQ(load_reference().size(), 443u);
}

TEST(Procedures, RemoteTableSortedUniqueAndMatchesLibvirt) {
  auto reference = load_reference();
  ASSERT_FALSE(reference.empty());
  std::set<int32_t> seen;
  int32_t previous = 0;
  for (const Procedure& p : remote_procedures()) {
    EXPECT_TRUE(seen.insert(p.number).second) << "duplicate " << p.number;
    EXPECT_GT(p.number, previous) << p.name << " is out of order";
    previous = p.number;
    ASSERT_TRUE(reference.contains(p.number)) << p.number;
    EXPECT_EQ(reference[p.number], "REMOTE_PROC_" + std::string(p.name));
  }
}

TEST(Procedures, ConnectLevelCallsPresent) {
  for (int32_t number : {1, 2, 3, 4, 59, 60, 66, 110, 157, 273, 360, 361}) {
    const Procedure* p = find_remote_procedure(number);
    ASSERT_NE(p, nullptr) << number;
    EXPECT_EQ(p->number, number);
  }
  EXPECT_EQ(find_remote_procedure(66)->name, "AUTH_LIST");
  EXPECT_EQ(find_remote_procedure(1)->priority, Priority::kHigh);
}

TEST(Procedures, UnknownNumbersAndProgramsAreNull) {
  EXPECT_EQ(find_remote_procedure(0), nullptr);
  EXPECT_EQ(find_remote_procedure(-1), nullptr);
  EXPECT_EQ(find_remote_procedure(75), nullptr);  // FIND_STORAGE_POOL_SOURCES
  EXPECT_EQ(find_remote_procedure(100000), nullptr);
}

TEST(RemoteError, EncodesLibvirtLayout) {
  RemoteError error;
  error.code = 39;
  error.domain = 7;
  error.message = "unknown procedure: 71";
  rpc::XdrWriter writer;
  encode_remote_error(writer, error);
  const auto& b = writer.bytes();
  // code, domain, ptr=1, len=21, 24 bytes of text, level, dom=0, str1..3=0,
  // int1, int2, net=0.
  ASSERT_EQ(b.size(), 4u * 4 + 24 + 4 * 8);
  EXPECT_EQ(b[3], 39);
  EXPECT_EQ(b[7], 7);
  EXPECT_EQ(b[11], 1);
  EXPECT_EQ(b[15], 21);
  EXPECT_EQ(std::string(b.begin() + 16, b.begin() + 37), "unknown procedure: 71");
  EXPECT_EQ(b[37], 0);  // padding
  EXPECT_EQ(b[43], 2);  // level VIR_ERR_ERROR

  rpc::XdrReader reader{b};
  auto decoded = decode_remote_error(reader);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message();
  EXPECT_EQ(decoded->code, 39);
  EXPECT_EQ(decoded->message, "unknown procedure: 71");
  EXPECT_FALSE(decoded->str1.has_value());
  EXPECT_EQ(reader.remaining(), 0u);
}

TEST(RemoteError, TruncatedBodyIsAnErrorNotACrash) {
  RemoteError error;
  error.message = "x";
  error.str2 = "y";
  rpc::XdrWriter writer;
  encode_remote_error(writer, error);
  const auto& b = writer.bytes();
  for (size_t cut = 0; cut < b.size(); ++cut) {
    rpc::XdrReader reader{std::span(b).first(cut)};
    auto decoded = decode_remote_error(reader);
    EXPECT_FALSE(decoded.ok()) << "cut at " << cut;
  }
}

}  // namespace
}  // namespace amber::driver::protocol
