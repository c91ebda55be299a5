// SPDX-License-Identifier: GPL-2.0-or-later
// Unit tests for amber-img's size, number, boolean and -o list parsing.
#include "block/tool/options.h"

#include <gtest/gtest.h>

namespace amber::block::tool {
namespace {

uint64_t size_of(const char* text) {
  auto r = parse_size(text);
  EXPECT_TRUE(r.ok()) << text;
  return r.ok() ? *r : 0;
}

TEST(ParseSize, PlainAndSuffixes) {
  EXPECT_EQ(size_of("0"), 0u);
  EXPECT_EQ(size_of("1000"), 1000u);
  EXPECT_EQ(size_of("1b"), 1u);
  EXPECT_EQ(size_of("1B"), 1u);
  EXPECT_EQ(size_of("1k"), 1024u);
  EXPECT_EQ(size_of("1K"), 1024u);
  EXPECT_EQ(size_of("1m"), 1048576u);
  EXPECT_EQ(size_of("1M"), 1048576u);
  EXPECT_EQ(size_of("1G"), 1073741824u);
  EXPECT_EQ(size_of("1T"), 1099511627776u);
  EXPECT_EQ(size_of("1P"), 1ull << 50);
  EXPECT_EQ(size_of("1E"), 1ull << 60);
  EXPECT_EQ(size_of(" 1"), 1u);
  EXPECT_EQ(size_of("0x10"), 16u);
}

TEST(ParseSize, Fractions) {
  EXPECT_EQ(size_of("1.5M"), 1572864u);
  EXPECT_EQ(size_of("1.1k"), 1126u);  // floor, as qemu-img
  EXPECT_EQ(size_of("0.5k"), 512u);
  EXPECT_EQ(size_of("1.k"), 1024u);
  EXPECT_EQ(size_of("1.0"), 1u);  // a zero fraction on bytes is fine
  EXPECT_FALSE(parse_size("1.5").ok());
}

TEST(ParseSize, Errors) {
  for (const char* bad : {"", "x", "1Z", "1k5", "1kb", "-1", "-0", "1KiB", "k"}) {
    auto r = parse_size(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidArgument) << bad;
  }
  auto big = parse_size("16E");
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().kind(), ErrorKind::kOutOfRange);
  EXPECT_FALSE(parse_size("99999999999999999999").ok());
}

TEST(ParseImageSize, QemuMessages) {
  EXPECT_EQ(*parse_image_size("9223372036854775807"), 9223372036854775807ull);
  auto range = parse_image_size("8E");
  ASSERT_FALSE(range.ok());
  EXPECT_EQ(range.error().context(),
            "Invalid image size specified. Must be between 0 and 9223372036854775807.");
  auto syntax = parse_image_size("1Z");
  ASSERT_FALSE(syntax.ok());
  EXPECT_EQ(syntax.error().context(),
            "Invalid image size specified. You may use k, M, G, T, P or E suffixes for\n"
            "kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.");
}

TEST(ParseNumber, DigitsOnly) {
  EXPECT_EQ(*parse_number("75000"), 75000u);
  EXPECT_FALSE(parse_number("").ok());
  EXPECT_FALSE(parse_number("1k").ok());
  EXPECT_FALSE(parse_number("-1").ok());
  EXPECT_EQ(*parse_number("0x5a"), 0x5au);
  EXPECT_EQ(*parse_number("0XFF"), 0xffu);
  EXPECT_EQ(*parse_number("010"), 8u);
  EXPECT_EQ(*parse_number("0"), 0u);
  EXPECT_FALSE(parse_number("0x").ok());
  EXPECT_FALSE(parse_number("09").ok());
  EXPECT_FALSE(parse_number("12a").ok());
}

TEST(ParseBool, Words) {
  EXPECT_TRUE(*parse_bool("on", "x"));
  EXPECT_TRUE(*parse_bool("yes", "x"));
  EXPECT_TRUE(*parse_bool("true", "x"));
  EXPECT_FALSE(*parse_bool("off", "x"));
  EXPECT_FALSE(*parse_bool("no", "x"));
  EXPECT_FALSE(parse_bool("maybe", "x").ok());
}

TEST(ParseOptionList, KeyValues) {
  auto r = parse_option_list("cluster_size=64k,lazy_refcounts=on,backing_file=a,,b");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].key, "cluster_size");
  EXPECT_EQ((*r)[0].value, "64k");
  EXPECT_EQ((*r)[2].value, "a,b");
}

TEST(ParseOptionList, HelpAndBareWords) {
  auto r = parse_option_list("help");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].key, "help");
  auto q = parse_option_list("?,lazy_refcounts,,");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ((*q)[0].key, "help");
  auto b = parse_option_list("lazy_refcounts");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ((*b)[0].value, "on");
  EXPECT_TRUE(parse_option_list("").value().empty());
}

}  // namespace
}  // namespace amber::block::tool
