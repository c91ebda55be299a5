// SPDX-License-Identifier: GPL-2.0-or-later
// Unit tests for driver/rpc/xdr: round trips, and hostile lengths, counts
// and truncations that must be errors naming the field, never crashes.
#include "driver/rpc/xdr.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace amber::driver::rpc {
namespace {

std::vector<uint8_t> bytes_of(std::initializer_list<uint8_t> list) {
  return list;
}

TEST(Xdr, IntegersRoundTripBigEndian) {
  XdrWriter writer;
  writer.write_u32(0x01020304);
  writer.write_i32(-2);
  writer.write_u64(0x1122334455667788ull);
  writer.write_i64(-5);
  writer.write_bool(true);
  ASSERT_EQ(writer.size(), 4u + 4 + 8 + 8 + 4);
  EXPECT_EQ(writer.bytes()[0], 0x01);
  EXPECT_EQ(writer.bytes()[3], 0x04);
  XdrReader reader(writer.bytes());
  EXPECT_EQ(*reader.read_u32("a"), 0x01020304u);
  EXPECT_EQ(*reader.read_i32("b"), -2);
  EXPECT_EQ(*reader.read_u64("c"), 0x1122334455667788ull);
  EXPECT_EQ(*reader.read_i64("d"), -5);
  EXPECT_TRUE(*reader.read_bool("e"));
  EXPECT_TRUE(reader.expect_end("test").ok());
}

TEST(Xdr, TruncatedIntegerIsAnErrorNamingTheField) {
  auto data = bytes_of({0, 0, 1});
  XdrReader reader(data);
  auto value = reader.read_u32("serial");
  ASSERT_FALSE(value.ok());
  EXPECT_EQ(value.error().kind(), ErrorKind::kCorrupt);
  EXPECT_NE(value.error().message().find("serial"), std::string::npos);
}

TEST(Xdr, TruncatedHyperFails) {
  auto data = bytes_of({0, 0, 0, 1, 0, 0});
  XdrReader reader(data);
  EXPECT_FALSE(reader.read_u64("x").ok());
}

TEST(Xdr, BoolOtherThanZeroOrOneFails) {
  auto data = bytes_of({0, 0, 0, 2});
  XdrReader reader(data);
  EXPECT_FALSE(reader.read_bool("flag").ok());
}

TEST(Xdr, StringsArePaddedAndRoundTrip) {
  XdrWriter writer;
  writer.write_string("hello");
  writer.write_optional_string(std::nullopt);
  writer.write_optional_string(std::string("ab"));
  ASSERT_EQ(writer.size(), 4u + 8 + 4 + 4 + 4 + 4);
  XdrReader reader(writer.bytes());
  EXPECT_EQ(*reader.read_string("s", 100), "hello");
  EXPECT_FALSE(reader.read_optional_string("o", 100)->has_value());
  EXPECT_EQ(**reader.read_optional_string("o", 100), "ab");
  EXPECT_TRUE(reader.expect_end("test").ok());
}

TEST(Xdr, StringOverMaxLengthFailsBeforeReading) {
  XdrWriter writer;
  writer.write_string("hello");
  XdrReader reader(writer.bytes());
  auto text = reader.read_string("name", 4);
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.error().message().find("exceeds the maximum 4"), std::string::npos);
}

TEST(Xdr, StringLengthBeyondBufferFails) {
  // Claims 0xfffffff0 bytes with four present: no allocation, an error.
  auto data = bytes_of({0xff, 0xff, 0xff, 0xf0, 'a', 'b', 'c', 'd'});
  XdrReader reader(data);
  auto text = reader.read_string("uri", 0xffffffff);
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.error().message().find("uri"), std::string::npos);
}

TEST(Xdr, StringMissingPaddingFails) {
  auto data = bytes_of({0, 0, 0, 3, 'a', 'b', 'c'});
  XdrReader reader(data);
  EXPECT_FALSE(reader.read_string("s", 10).ok());
}

TEST(Xdr, StringWithNulFails) {
  auto data = bytes_of({0, 0, 0, 2, 'a', 0, 0, 0});
  XdrReader reader(data);
  EXPECT_FALSE(reader.read_string("s", 10).ok());
}

TEST(Xdr, OpaqueFixedAndVariable) {
  XdrWriter writer;
  std::vector<uint8_t> uuid(16, 0xab);
  writer.write_opaque_fixed(uuid);
  writer.write_opaque(std::vector<uint8_t>{1, 2, 3});
  XdrReader reader(writer.bytes());
  EXPECT_EQ(*reader.read_opaque_fixed("uuid", 16), uuid);
  EXPECT_EQ(*reader.read_opaque("blob", 3), (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_TRUE(reader.expect_end("t").ok());
  XdrReader short_reader{std::span(uuid).first(10)};
  EXPECT_FALSE(short_reader.read_opaque_fixed("uuid", 16).ok());
}

TEST(Xdr, ArrayCountCheckedAgainstMaxAndRemainingBytes) {
  XdrWriter writer;
  writer.write_u32(3);
  writer.write_u32(7);
  writer.write_u32(8);
  writer.write_u32(9);
  XdrReader reader(writer.bytes());
  EXPECT_EQ(*reader.read_array_count("ids", 10), 3u);

  XdrReader over_max(writer.bytes());
  EXPECT_FALSE(over_max.read_array_count("ids", 2).ok());

  auto lying = bytes_of({0, 0x10, 0, 0, 0, 0, 0, 1});
  XdrReader lying_reader(lying);
  auto count = lying_reader.read_array_count("ids", 0x100000);
  ASSERT_FALSE(count.ok());
  EXPECT_NE(count.error().message().find("bytes left"), std::string::npos);
}

TEST(Xdr, TrailingBytesAreReported) {
  auto data = bytes_of({0, 0, 0, 1, 0, 0, 0, 2});
  XdrReader reader(data);
  ASSERT_TRUE(reader.read_u32("a").ok());
  EXPECT_FALSE(reader.expect_end("body").ok());
}

TEST(Xdr, GarbageNeverCrashes) {
  // Every prefix of a pseudo-random buffer, read as a string, an optional
  // string, an opaque and an array count: errors are fine, crashes are not.
  std::vector<uint8_t> garbage(64);
  uint32_t seed = 12345;
  for (auto& byte : garbage) {
    seed = seed * 1103515245 + 12345;
    byte = static_cast<uint8_t>(seed >> 16);
  }
  for (size_t length = 0; length <= garbage.size(); ++length) {
    XdrReader reader{std::span(garbage).first(length)};
    (void)reader.read_string("s", 1024);
    (void)reader.read_optional_string("o", 1024);
    (void)reader.read_opaque("b", 1024);
    (void)reader.read_array_count("a", 1024);
    EXPECT_LE(reader.offset(), length);
  }
}

}  // namespace
}  // namespace amber::driver::rpc
