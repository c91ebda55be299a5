// SPDX-License-Identifier: GPL-2.0-or-later
// xml/secret: golden round trips (tests/data/xml/secret/in/NAME.xml ->
// out/NAME.xml), the fields they carry, and refusals with the message that
// names what is wrong.
#include "xml/secret.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace amber::xml {
namespace {

const std::string kData = std::string(AMBER_XML_DATA) + "/secret";

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class SecretGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(SecretGolden, RoundTrip) {
  const std::string in = read(kData + "/in/" + GetParam() + ".xml");
  ASSERT_FALSE(in.empty());
  auto secret = parse_secret(in);
  ASSERT_TRUE(secret.ok()) << secret.error().message();
  const std::string formatted = format_secret(*secret);
  const std::string out_path = kData + "/out/" + GetParam() + ".xml";
  if (std::getenv("AMBER_REGENERATE") != nullptr) std::ofstream(out_path) << formatted;
  const std::string out = read(out_path);
  EXPECT_EQ(formatted, out);
  auto again = parse_secret(out);
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(format_secret(*again), out);
  // What we write is what libvirt's own schema accepts.
  struct stat st {};
  if (::stat(kSecretSchemaPath, &st) == 0) {
    auto valid = validate_secret(out);
    EXPECT_TRUE(valid.ok()) << valid.error().message();
  }
}

INSTANTIATE_TEST_SUITE_P(Xml, SecretGolden,
                         ::testing::Values("volume", "ceph", "iscsi", "tls", "vtpm", "no-usage",
                                           "usage-none"));

TEST(Secret, FieldsOfTheVolumeSecret) {
  auto s = parse_secret(read(kData + "/in/volume.xml"));
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(s->uuid.to_string(), "c7a5fdbd-cdaf-9455-926a-d65c16db1809");
  EXPECT_TRUE(s->uuid_given);
  EXPECT_FALSE(s->ephemeral);
  EXPECT_TRUE(s->private_value);
  ASSERT_TRUE(s->description.has_value());
  EXPECT_EQ(*s->description, "LUKS passphrase of win7.qcow2");
  EXPECT_EQ(s->usage_type, SecretUsageType::kVolume);
  EXPECT_EQ(s->usage_id, "/var/lib/libvirt/images/win7.qcow2");
}

TEST(Secret, EscapedTextAndUppercaseUuid) {
  auto s = parse_secret(read(kData + "/in/iscsi.xml"));
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_TRUE(s->ephemeral);
  EXPECT_EQ(*s->description, "CHAP & friends <target>");
  EXPECT_EQ(s->uuid.to_string(), "7d4e4c06-3c9f-4c53-8e7a-1e2b6b9d0a11");
  EXPECT_EQ(s->usage_type, SecretUsageType::kIscsi);
  EXPECT_NE(format_secret(*s).find("CHAP &amp; friends &lt;target&gt;"), std::string::npos);
}

TEST(Secret, CarriageReturnSurvivesTheRoundTrip) {
  auto s = parse_secret("<secret><description>a&#13;b</description></secret>");
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(*s->description, "a\rb");
  auto again = parse_secret(format_secret(*s));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again->description, "a\rb");
}

TEST(Secret, WithoutUuidGetsARandomOne) {
  auto a = parse_secret("<secret><usage type='ceph'><name>a</name></usage></secret>");
  auto b = parse_secret("<secret><usage type='ceph'><name>a</name></usage></secret>");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_FALSE(a->uuid_given);
  EXPECT_FALSE(a->uuid == b->uuid);
  EXPECT_EQ(a->uuid.bytes[6] >> 4, 4);  // version 4
}

TEST(Secret, SchemaRefusesWhatLibvirtRefuses) {
  struct stat st {};
  if (::stat(kSecretSchemaPath, &st) != 0) GTEST_SKIP() << "no " << kSecretSchemaPath;
  auto valid = validate_secret("<secret><usage type='volume'><name>x</name></usage></secret>");
  ASSERT_FALSE(valid.ok());
  EXPECT_EQ(valid.error().kind(), ErrorKind::kCorrupt);
}

TEST(Secret, UsageTypesAndNumbers) {
  EXPECT_EQ(to_string(SecretUsageType::kVtpm), "vtpm");
  EXPECT_EQ(secret_usage_type_from_string("iscsi"), SecretUsageType::kIscsi);
  EXPECT_FALSE(secret_usage_type_from_string("nfs").has_value());
  EXPECT_EQ(secret_usage_type_from_int(2), SecretUsageType::kCeph);
  EXPECT_FALSE(secret_usage_type_from_int(6).has_value());
  EXPECT_FALSE(secret_usage_type_from_int(-1).has_value());
}

struct Refused {
  const char* name;
  const char* xml;
  ErrorKind kind;
  const char* message;  // a part of the message
};

class SecretRefused : public ::testing::TestWithParam<Refused> {};

TEST_P(SecretRefused, NamesWhatIsWrong) {
  auto s = parse_secret(GetParam().xml);
  ASSERT_FALSE(s.ok()) << GetParam().name;
  EXPECT_EQ(s.error().kind(), GetParam().kind) << s.error().message();
  EXPECT_NE(s.error().message().find(GetParam().message), std::string::npos) << s.error().message();
}

INSTANTIATE_TEST_SUITE_P(
    Xml, SecretRefused,
    ::testing::Values(
        Refused{"BadUuid", "<secret><uuid>not-a-uuid</uuid></secret>", ErrorKind::kCorrupt,
                "XML error: /secret/uuid: malformed uuid 'not-a-uuid'"},
        Refused{"ShortUuid", "<secret><uuid>c7a5fdbd-cdaf-9455-926a</uuid></secret>",
                ErrorKind::kCorrupt, "malformed uuid"},
        Refused{"UnknownUsageType", "<secret><usage type='nfs'><name>x</name></usage></secret>",
                ErrorKind::kUnsupported,
                "unsupported configuration: /secret/usage/@type='nfs' (unknown secret usage "
                "type 'nfs'"},
        Refused{"UsageWithoutType", "<secret><usage><volume>/a</volume></usage></secret>",
                ErrorKind::kCorrupt, "unknown secret usage type"},
        Refused{"VolumeWithoutPath", "<secret><usage type='volume'/></secret>", ErrorKind::kCorrupt,
                "volume usage specified, but volume path is missing"},
        Refused{"CephWithEmptyName", "<secret><usage type='ceph'><name></name></usage></secret>",
                ErrorKind::kCorrupt, "Ceph usage specified, but name is missing"},
        Refused{"IscsiWithNameNotTarget",
                "<secret><usage type='iscsi'><name>x</name></usage></secret>", ErrorKind::kCorrupt,
                "iSCSI usage specified, but target is missing"},
        Refused{"BadEphemeral", "<secret ephemeral='maybe'/>", ErrorKind::kCorrupt,
                "invalid value of 'ephemeral'"},
        Refused{"BadPrivate", "<secret private='on'/>", ErrorKind::kCorrupt,
                "invalid value of 'private'"},
        Refused{"WrongRoot", "<domain type='kvm'/>", ErrorKind::kCorrupt,
                "unexpected root element <domain>, expecting <secret>"},
        Refused{"TwoUuids",
                "<secret><uuid>c7a5fdbd-cdaf-9455-926a-d65c16db1809</uuid>"
                "<uuid>c7a5fdbd-cdaf-9455-926a-d65c16db1809</uuid></secret>",
                ErrorKind::kCorrupt, "uuid"},
        Refused{"UnknownElement", "<secret><value>c2VjcmV0</value></secret>",
                ErrorKind::kUnsupported, "/secret/value (unknown element"},
        Refused{"UnknownAttribute", "<secret persistent='yes'/>", ErrorKind::kUnsupported,
                "/secret/@persistent (unknown attribute"},
        Refused{"Doctype", "<!DOCTYPE secret [<!ENTITY x 'y'>]><secret>&x;</secret>",
                ErrorKind::kCorrupt, "XML error"},
        Refused{"NotXml", "secret", ErrorKind::kCorrupt, "XML error"}),
    [](const ::testing::TestParamInfo<Refused>& param) { return std::string(param.param.name); });

}  // namespace
}  // namespace amber::xml
