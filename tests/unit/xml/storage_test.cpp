// SPDX-License-Identifier: GPL-2.0-or-later
// xml/storage: pool and volume golden round trips
// (tests/data/xml/storage/in/NAME.xml -> out/NAME.xml; AMBER_REGENERATE=1
// rewrites out/), units, and refusals.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "xml/domain/domain.h"
#include "xml/storage/pool.h"
#include "xml/storage/volume.h"

namespace amber::xml {
namespace {

const std::string kData = std::string(AMBER_XML_DATA) + "/storage";

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Parses and formats NAME with PARSE/FORMAT and compares with out/NAME.xml,
// then checks that the output is a fixed point.
template <typename Parse, typename Format>
void round_trip(const std::string& name, Parse parse, Format format) {
  const std::string in = read(kData + "/in/" + name + ".xml");
  ASSERT_FALSE(in.empty()) << name;
  auto parsed = parse(in);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  const std::string formatted = format(*parsed);
  const std::string out_path = kData + "/out/" + name + ".xml";
  if (std::getenv("AMBER_REGENERATE") != nullptr) std::ofstream(out_path) << formatted;
  const std::string out = read(out_path);
  EXPECT_EQ(formatted, out);
  auto again = parse(out);
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(format(*again), out);
  EXPECT_TRUE(*again == *parsed);
}

class PoolGolden : public ::testing::TestWithParam<std::string> {};
TEST_P(PoolGolden, RoundTrip) {
  round_trip(GetParam(), parse_storage_pool, format_storage_pool);
}
INSTANTIATE_TEST_SUITE_P(Storage, PoolGolden,
                         ::testing::Values("pool-dir", "pool-netfs", "pool-fs"));

class VolumeGolden : public ::testing::TestWithParam<std::string> {};
TEST_P(VolumeGolden, RoundTrip) {
  round_trip(GetParam(), parse_storage_volume, format_storage_volume);
}
INSTANTIATE_TEST_SUITE_P(Storage, VolumeGolden,
                         ::testing::Values("volume-qcow2", "volume-clone", "volume-luks"));

TEST(StoragePool, Fields) {
  auto pool = parse_storage_pool(read(kData + "/in/pool-dir.xml"));
  ASSERT_TRUE(pool.ok());
  EXPECT_EQ(pool->type, PoolType::kDir);
  EXPECT_EQ(pool->target_path, "/var/lib/libvirt/images");  // trailing slash dropped
  EXPECT_EQ(pool->capacity, 10ull << 30);
  ASSERT_TRUE(pool->permissions && pool->permissions->mode);
  EXPECT_EQ(*pool->permissions->mode, 0711u);
}

TEST(StoragePool, OtherTypesAreRefusedByName) {
  auto pool = parse_storage_pool(
      "<pool type='logical'><name>vg</name><target><path>/dev/vg</path></target></pool>");
  ASSERT_FALSE(pool.ok());
  EXPECT_EQ(pool.error().kind(), ErrorKind::kUnsupported);
  EXPECT_NE(pool.error().message().find("'logical'"), std::string::npos);
  EXPECT_TRUE(pool.error().message().starts_with("unsupported configuration: "));
}

TEST(StoragePool, MalformedIsAnXmlError) {
  for (const char* text : {
           "<pool type='dir'><name>x</name></pool>",                    // no target
           "<pool type='dir'><target><path>/a</path></target></pool>",  // no name
           "<pool type='dir'><name>x</name><target><path>rel</path></target></pool>",
           "<pool type='fs'><name>x</name><target><path>/a</path></target></pool>",
           "<pool "
           "type='dir'><name>x</name><uuid>nope</uuid><target><path>/a</path></target></pool>",
           "<volume/>",
           "<pool type='dir'",
       }) {
    auto pool = parse_storage_pool(text);
    ASSERT_FALSE(pool.ok()) << text;
    EXPECT_EQ(pool.error().kind(), ErrorKind::kCorrupt) << text;
  }
}

TEST(StoragePool, MissingUuidGetsOne) {
  auto a =
      parse_storage_pool("<pool type='dir'><name>x</name><target><path>/a</path></target></pool>");
  auto b =
      parse_storage_pool("<pool type='dir'><name>x</name><target><path>/a</path></target></pool>");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_FALSE(a->uuid == b->uuid);
}

TEST(StorageVolume, FieldsAndUnits) {
  auto volume = parse_storage_volume(read(kData + "/in/volume-qcow2.xml"));
  ASSERT_TRUE(volume.ok());
  EXPECT_EQ(volume->capacity, 40ull << 30);
  EXPECT_EQ(volume->format, "qcow2");
  EXPECT_TRUE(volume->lazy_refcounts);
  EXPECT_TRUE(volume->extended_l2);
  auto clone = parse_storage_volume(read(kData + "/in/volume-clone.xml"));
  ASSERT_TRUE(clone.ok());
  ASSERT_TRUE(clone->backing);
  EXPECT_EQ(clone->backing->path, "/var/lib/libvirt/images/win7_base.qcow2");
  auto luks = parse_storage_volume(read(kData + "/in/volume-luks.xml"));
  ASSERT_TRUE(luks.ok());
  ASSERT_TRUE(luks->encryption);
  EXPECT_EQ(luks->encryption->format, "luks");
  EXPECT_EQ(luks->capacity, 512ull << 20);
}

TEST(StorageVolume, Units) {
  const auto capacity = [](const std::string& unit, const std::string& value) {
    auto v = parse_storage_volume("<volume><name>a</name><capacity unit='" + unit + "'>" + value +
                                  "</capacity></volume>");
    return v.ok() ? v->capacity.value_or(0) : UINT64_MAX;
  };
  EXPECT_EQ(capacity("bytes", "513"), 513u);
  EXPECT_EQ(capacity("KiB", "1"), 1024u);
  EXPECT_EQ(capacity("KB", "1"), 1000u);
  EXPECT_EQ(capacity("M", "2"), 2u << 20);
  EXPECT_EQ(capacity("GB", "1"), 1000000000u);
  EXPECT_EQ(capacity("T", "1"), 1ull << 40);
  EXPECT_EQ(capacity("furlong", "1"), UINT64_MAX);  // unknown unit
  EXPECT_EQ(capacity("E", "100"), UINT64_MAX);      // overflow
  EXPECT_EQ(capacity("bytes", "-1"), UINT64_MAX);   // not a number
}

}  // namespace
}  // namespace amber::xml

namespace amber::xml {
namespace {

TEST(VolumeDisk, RoundTripsAndNeedsPoolAndVolume) {
  const std::string xml =
      "<domain type='kvm'><name>v</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
      "<os><type arch='x86_64' machine='pc'>hvm</type></os><devices>"
      "<disk type='volume' device='disk'><driver name='qemu' type='qcow2'/>"
      "<source pool='default' volume='clone1.qcow2'/><target dev='vda' bus='virtio'/></disk>"
      "</devices></domain>";
  auto domain = parse_domain(xml);
  ASSERT_TRUE(domain.ok()) << domain.error().message();
  ASSERT_EQ(domain->devices.disks.size(), 1u);
  const Disk& disk = domain->devices.disks[0];
  EXPECT_EQ(disk.type, DiskType::kVolume);
  EXPECT_EQ(disk.source_pool, "default");
  EXPECT_EQ(disk.source_volume, "clone1.qcow2");
  const std::string formatted = format_domain(*domain, FormatFlags::kInactive);
  EXPECT_NE(formatted.find("<disk type='volume' device='disk'>"), std::string::npos);
  EXPECT_NE(formatted.find("<source pool='default' volume='clone1.qcow2'/>"), std::string::npos);
  auto again = parse_domain(formatted);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(format_domain(*again, FormatFlags::kInactive), formatted);

  std::string no_volume = xml;
  no_volume.replace(no_volume.find(" volume='clone1.qcow2'"), 22, "");
  auto refused = parse_domain(no_volume);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("volume"), std::string::npos);
}

}  // namespace
}  // namespace amber::xml
