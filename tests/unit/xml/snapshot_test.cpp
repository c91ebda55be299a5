// SPDX-License-Identifier: GPL-2.0-or-later
// xml/snapshot: golden round trips (tests/data/xml/snapshot/in/NAME.xml ->
// out/NAME.xml, read as the daemon's stored metadata), what virsh's
// create XML keeps and skips, and refusals naming what is wrong.
#include "xml/snapshot.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace amber::xml {
namespace {

const std::string kData = std::string(AMBER_XML_DATA) + "/snapshot";

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class SnapshotGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(SnapshotGolden, RoundTrip) {
  const std::string in = read(kData + "/in/" + GetParam() + ".xml");
  ASSERT_FALSE(in.empty());
  auto snapshot = parse_snapshot(in, SnapshotParse::kStored);
  ASSERT_TRUE(snapshot.ok()) << snapshot.error().message();
  const std::string formatted = format_snapshot(*snapshot);
  const std::string out_path = kData + "/out/" + GetParam() + ".xml";
  if (std::getenv("AMBER_REGENERATE") != nullptr) std::ofstream(out_path) << formatted;
  const std::string out = read(out_path);
  EXPECT_EQ(formatted, out);
  auto again = parse_snapshot(out, SnapshotParse::kStored);
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(format_snapshot(*again), out);
  // libvirt's schema accepts what we write (its <active> is internal and
  // not in the schema).
  struct stat st {};
  if (::stat(kSnapshotSchemaPath, &st) == 0 && !again->active) {
    auto valid = validate_snapshot(out);
    EXPECT_TRUE(valid.ok()) << valid.error().message();
  }
}

INSTANTIATE_TEST_SUITE_P(Xml, SnapshotGolden,
                         ::testing::Values("create-as", "stored", "root-only", "external"));

TEST(Snapshot, StoredFields) {
  auto s = parse_snapshot(read(kData + "/in/stored.xml"), SnapshotParse::kStored);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(s->name, "s2");
  EXPECT_EQ(s->description, "child & <escaped>");
  EXPECT_EQ(s->state, "shutoff");
  EXPECT_EQ(s->parent, "s1");
  EXPECT_EQ(s->creation_time, 1765000000);
  EXPECT_EQ(s->memory, SnapshotLocation::kNo);
  ASSERT_EQ(s->disks.size(), 1U);
  EXPECT_EQ(s->disks[0].name, "vda");
  EXPECT_EQ(s->disks[0].snapshot, SnapshotLocation::kInternal);
  ASSERT_TRUE(s->domain.has_value());
  EXPECT_EQ(s->domain->name, "minimal");
  ASSERT_EQ(s->domain->devices.disks.size(), 1U);
  EXPECT_EQ(s->active, false);
}

TEST(Snapshot, CreateSkipsWhatTheDaemonDecides) {
  // virsh snapshot-create with a dumpxml of another snapshot: libvirt
  // without REDEFINE ignores state, parent, creationTime and <domain>.
  auto s = parse_snapshot(read(kData + "/in/stored.xml"), SnapshotParse::kCreate);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(s->name, "s2");
  EXPECT_FALSE(s->state || s->parent || s->creation_time || s->domain || s->active);
  ASSERT_EQ(s->disks.size(), 1U);
}

TEST(Snapshot, EmptyDocumentHasNoName) {
  auto s = parse_snapshot("<domainsnapshot/>", SnapshotParse::kCreate);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_TRUE(s->name.empty());
  EXPECT_EQ(format_snapshot(*s), "<domainsnapshot/>\n");
}

void expect_refused(const std::string& xml, ErrorKind kind, const std::string& words) {
  auto s = parse_snapshot(xml, SnapshotParse::kCreate);
  ASSERT_FALSE(s.ok()) << xml;
  EXPECT_EQ(s.error().kind(), kind) << s.error().message();
  EXPECT_NE(s.error().message().find(words), std::string::npos) << s.error().message();
}

TEST(Snapshot, HostileInputRefused) {
  expect_refused("<domainsnapshot><name>../x</name></domainsnapshot>", ErrorKind::kCorrupt,
                 "must not start with '.'");
  expect_refused("<domainsnapshot><name>a/b</name></domainsnapshot>", ErrorKind::kCorrupt,
                 "must not contain '/'");
  expect_refused("<domainsnapshot><name>a&#1;</name></domainsnapshot>", ErrorKind::kCorrupt,
                 "XML error");
  expect_refused("<domainsnapshot><name>" + std::string(201, 'a') + "</name></domainsnapshot>",
                 ErrorKind::kCorrupt, "longer than 200");
  expect_refused("<domainsnapshot><name>a</name><name>b</name></domainsnapshot>",
                 ErrorKind::kCorrupt, "more than one");
  expect_refused("<domainsnapshot><memory snapshot='bogus'/></domainsnapshot>", ErrorKind::kCorrupt,
                 "unknown snapshot location type 'bogus'");
  expect_refused("<domainsnapshot><disks><disk snapshot='internal'/></disks></domainsnapshot>",
                 ErrorKind::kCorrupt, "missing name from disk snapshot element");
  expect_refused(
      "<domainsnapshot><disks><disk name='vda'/><disk name='vda'/></disks></domainsnapshot>",
      ErrorKind::kCorrupt, "specified twice");
  expect_refused("<domainsnapshot><bogus/></domainsnapshot>", ErrorKind::kUnsupported,
                 "/domainsnapshot/bogus");
  expect_refused("<domain/>", ErrorKind::kCorrupt, "expecting <domainsnapshot>");
  expect_refused("<!DOCTYPE x [<!ENTITY a 'b'>]><domainsnapshot/>", ErrorKind::kCorrupt, "DOCTYPE");
  expect_refused("<domainsnapshot>", ErrorKind::kCorrupt, "XML error");
}

TEST(Snapshot, StoredDomainIsParsedAndChecked) {
  auto s = parse_snapshot(
      "<domainsnapshot><name>a</name><domain type='kvm'><bogus/></domain>"
      "</domainsnapshot>",
      SnapshotParse::kStored);
  ASSERT_FALSE(s.ok());
  auto t = parse_snapshot("<domainsnapshot><creationTime>x</creationTime></domainsnapshot>",
                          SnapshotParse::kStored);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message().find("malformed creationTime"), std::string::npos);
}

}  // namespace
}  // namespace amber::xml
