// SPDX-License-Identifier: GPL-2.0-or-later
// xml/capabilities.h: both documents validate against libvirt's own
// schemas and say what Amber supports.
#include "xml/capabilities.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "xml/node.h"

namespace amber::xml {
namespace {

void expect_valid(const std::string& xml, const std::string& schema) {
  struct stat st {};
  if (stat(schema.c_str(), &st) != 0) GTEST_SKIP() << schema << " is missing (install libvirt0)";
  auto doc = Document::parse(xml);
  ASSERT_TRUE(doc.ok()) << doc.error().message();
  auto v = doc->validate_relaxng(schema);
  EXPECT_TRUE(v.ok()) << v.error().message() << "\n" << xml;
}

TEST(Capabilities, HostCapabilities) {
  HostCapabilities caps{"6f9a3c2e-0b1d-4e5f-8a7b-9c0d1e2f3a4b", "/usr/bin/amber-vmm", 255, 1, 2, 1};
  const std::string xml = format_capabilities(caps);
  EXPECT_NE(xml.find("<os_type>hvm</os_type>"), std::string::npos);
  EXPECT_NE(xml.find("<arch name='x86_64'>"), std::string::npos);
  EXPECT_NE(xml.find("<wordsize>64</wordsize>"), std::string::npos);
  EXPECT_NE(xml.find("<emulator>/usr/bin/amber-vmm</emulator>"), std::string::npos);
  EXPECT_NE(xml.find("<machine canonical='pc-i440fx-7.2' maxCpus='255'>pc</machine>"),
            std::string::npos);
  EXPECT_NE(xml.find("<domain type='kvm'/>"), std::string::npos);
  EXPECT_EQ(xml.find("type='qemu'"), std::string::npos);
  expect_valid(xml, "/usr/share/libvirt/schemas/capability.rng");
}

TEST(Capabilities, DomainCapabilities) {
  const std::string xml = format_domain_capabilities(
      {"/usr/bin/amber-vmm", "pc", 255, {"/usr/share/seabios/bios-256k.bin"}});
  EXPECT_NE(xml.find("<machine>pc-i440fx-7.2</machine>"), std::string::npos);
  EXPECT_NE(xml.find("<domain>kvm</domain>"), std::string::npos);
  EXPECT_NE(xml.find("<enum name='bus'>\n        <value>ide</value>\n        "
                     "<value>scsi</value>\n        <value>virtio</value>\n      </enum>"),
            std::string::npos)
      << xml;
  EXPECT_NE(xml.find("<enum name='diskDevice'>\n        <value>disk</value>\n        "
                     "<value>cdrom</value>\n      </enum>"),
            std::string::npos);
  expect_valid(xml, "/usr/share/libvirt/schemas/domaincaps.rng");
}

TEST(Capabilities, QueryChecks) {
  EXPECT_TRUE(check_domain_capabilities_query("", "", "").ok());
  EXPECT_TRUE(check_domain_capabilities_query("x86_64", "kvm", "pc-i440fx-6.0").ok());
  EXPECT_FALSE(check_domain_capabilities_query("aarch64", "", "").ok());
  EXPECT_FALSE(check_domain_capabilities_query("", "qemu", "").ok());
  EXPECT_FALSE(check_domain_capabilities_query("", "", "q35").ok());
}

}  // namespace
}  // namespace amber::xml
