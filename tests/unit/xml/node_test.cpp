// SPDX-License-Identifier: GPL-2.0-or-later
// xml/node.h: hostile-input limits, error line numbers, consumed tracking,
// and the writer's libvirt formatting.
#include "xml/node.h"

#include <gtest/gtest.h>

#include "xml/writer.h"

namespace amber::xml {
namespace {

TEST(Node, MalformedDocumentNamesTheLine) {
  auto doc = Document::parse("<domain>\n  <name>x</name>\n  <memory>1</memroy>\n</domain>\n");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.error().kind(), ErrorKind::kCorrupt);
  EXPECT_NE(doc.error().context().find("XML error: line 3:"), std::string::npos)
      << doc.error().context();
  EXPECT_NE(doc.error().context().find("mismatch"), std::string::npos) << doc.error().context();
}

TEST(Node, EmptyAndGarbageRefused) {
  EXPECT_FALSE(Document::parse("").ok());
  EXPECT_FALSE(Document::parse("not xml at all").ok());
  EXPECT_FALSE(Document::parse(std::string("<a>\0</a>", 8)).ok());
}

TEST(Node, EntityBombRefused) {
  const std::string bomb =
      "<?xml version='1.0'?>\n<!DOCTYPE lolz [\n <!ENTITY lol 'lol'>\n"
      " <!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>\n"
      " <!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>\n]>\n"
      "<domain><name>&lol3;</name></domain>\n";
  auto doc = Document::parse(bomb);
  ASSERT_FALSE(doc.ok());
  EXPECT_NE(doc.error().context().find("line 2: DOCTYPE declarations are not allowed"),
            std::string::npos)
      << doc.error().context();
}

TEST(Node, ExternalEntityRefused) {
  const std::string xxe =
      "<!DOCTYPE domain [<!ENTITY xxe SYSTEM "
      "'file:///etc/passwd'>]>\n<domain><name>&xxe;</name></domain>";
  auto doc = Document::parse(xxe);
  ASSERT_FALSE(doc.ok());
  EXPECT_NE(doc.error().context().find("DOCTYPE"), std::string::npos);
  // An undeclared entity reference (no DTD) is an error too, never a read.
  auto bare = Document::parse("<domain><name>&xxe;</name></domain>");
  ASSERT_FALSE(bare.ok());
  EXPECT_NE(bare.error().context().find("xxe"), std::string::npos) << bare.error().context();
  // A DOCTYPE after a comment and XML declaration is still found.
  EXPECT_FALSE(
      Document::parse("<?xml version='1.0'?><!-- x --><!DOCTYPE d SYSTEM 'http://x/'><d/>").ok());
}

TEST(Node, SizeCap) {
  std::string big =
      "<domain><description>" + std::string(kMaxDocumentBytes, 'a') + "</description></domain>";
  auto doc = Document::parse(big);
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.error().kind(), ErrorKind::kInvalidArgument);
  EXPECT_NE(doc.error().context().find("limit"), std::string::npos);
  EXPECT_TRUE(Document::parse("<a/>", ParseLimits{4}).ok());
  EXPECT_FALSE(Document::parse("<ab/>", ParseLimits{4}).ok());
}

TEST(Node, TypedGettersAndUnconsumed) {
  auto doc =
      Document::parse("<d a='0x1f' b='12' c='yes' e='maybe' f='12x'><x>7</x><y/><z q='1'/></d>");
  ASSERT_TRUE(doc.ok()) << doc.error().message();
  Node root = doc->root();
  EXPECT_EQ(root.attribute_uint("a").value(), 31u);
  EXPECT_EQ(root.attribute_uint("b").value(), 12u);
  EXPECT_EQ(root.attribute_bool("c").value(), true);
  EXPECT_FALSE(root.attribute_bool("e").ok());
  EXPECT_FALSE(root.attribute_uint("f").ok());
  EXPECT_FALSE(root.attribute_uint("missing").value().has_value());
  EXPECT_FALSE(root.required_attribute("missing").ok());
  EXPECT_EQ(root.child("x")->text_uint().value(), 7u);
  auto z = root.child("z");
  ASSERT_TRUE(z.has_value());
  EXPECT_EQ(z->path(), "/d/z");
  auto left = doc->unconsumed();
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].path, "/d/y");
  EXPECT_EQ(left[0].attribute, "");
  EXPECT_EQ(left[1].path, "/d/z");
  EXPECT_EQ(left[1].attribute, "q");
}

TEST(Writer, LibvirtFormatting) {
  Element root("domain");
  root.attr("type", "kvm");
  root.add_text("name", "a<b>&'\"");
  root.add("on").attr("x", "it's");
  Element& devices = root.add("devices");
  devices.add("disk").add("target").attr("dev", "vda");
  EXPECT_EQ(root.render(),
            "<domain type='kvm'>\n"
            "  <name>a&lt;b&gt;&amp;&apos;&quot;</name>\n"
            "  <on x='it&apos;s'/>\n"
            "  <devices>\n"
            "    <disk>\n"
            "      <target dev='vda'/>\n"
            "    </disk>\n"
            "  </devices>\n"
            "</domain>\n");
}

}  // namespace
}  // namespace amber::xml
