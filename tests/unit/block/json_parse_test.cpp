// SPDX-License-Identifier: GPL-2.0-or-later
// The json: name parser against hostile input: deep nesting, huge numbers,
// bad escapes, NUL bytes, truncation; every refusal is an error, never a
// crash. Thread-safety: single-threaded test.
#include "block/json_parse.h"

#include <gtest/gtest.h>

#include <string>

#include "block/json_name.h"

namespace amber::block {
namespace {

std::string error_of(std::string_view text) {
  auto r = json::parse(text);
  return r.ok() ? std::string("OK") : r.error().message();
}

TEST(JsonParse, ParsesObjectsAndFlattens) {
  auto v = json::parse(R"({"driver":"qcow2","file":{"driver":"file","filename":"a b"}})");
  ASSERT_TRUE(v.ok());
  auto flat = json::flatten(*v);
  ASSERT_EQ(flat.size(), 3u);
  EXPECT_EQ(flat[2].first, "file.filename");
  EXPECT_EQ(flat[2].second.text, "a b");
  auto spec = parse_json_name(R"(json:{'file.filename':'x\u00e9'})");
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->filename, "x\xc3\xa9");
}

TEST(JsonParse, DeepNestingIsRefused) {
  const std::string deep = std::string(5000, '[') + std::string(5000, ']');
  EXPECT_EQ(error_of(deep), "JSON nesting depth limit exceeded");
  const std::string ok = std::string(1024, '[') + std::string(1024, ']');
  EXPECT_EQ(error_of(ok), "OK");
}

TEST(JsonParse, HugeNumbersAndInputs) {
  EXPECT_EQ(error_of("{\"a\":1e99999999999999999999}"), "OK");
  EXPECT_EQ(error_of("{\"a\":" + std::string(100000, '9') + "}"), "OK");
  EXPECT_EQ(error_of("\"" + std::string(json::kMaxInputBytes, 'a') + "\""),
            "JSON token size limit exceeded");
}

TEST(JsonParse, BadEscapesAndUnicode) {
  EXPECT_EQ(error_of(R"({"a":"\q"})"), "JSON parse error, invalid escape sequence in string");
  EXPECT_EQ(error_of(R"({"a":"\u12"})"),
            "JSON parse error, \\u12\" is not a valid Unicode character");
  EXPECT_EQ(error_of(R"({"a":"\ud800"})"),
            "JSON parse error, \\ud800 is not a valid Unicode character");
  EXPECT_EQ(error_of("{\"a\":\"\xff\"}"), "JSON parse error, stray '\"\xff'");
  EXPECT_EQ(error_of("{\"a\":\"\xc3\"}"), "JSON parse error, invalid UTF-8 sequence in string");
  EXPECT_EQ(error_of("{\"a\":\"\xc0\xaf\"}"), "JSON parse error, invalid UTF-8 sequence in string");
}

TEST(JsonParse, NulBytes) {
  using namespace std::string_literals;
  EXPECT_NE(error_of("{\"a\":\"x\0y\"}"s), "OK");
  EXPECT_NE(error_of("{\"a\":1}\0"s), "OK");
  auto v = json::parse(R"({"a":"\u0000"})");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->members[0].second.text.find('\0'), std::string::npos);
}

TEST(JsonParse, Truncated) {
  const std::string full = R"({"driver":"qcow2","file":{"filename":"a.qcow2"},"l":[1,2.5e3,true]})";
  for (size_t n = 0; n < full.size(); ++n) EXPECT_NE(error_of(full.substr(0, n)), "OK") << n;
  EXPECT_EQ(error_of(full), "OK");
  EXPECT_EQ(error_of("{"), "JSON parse error, premature EOI");
  EXPECT_EQ(error_of(""), "Expecting a JSON value");
  EXPECT_EQ(error_of("{} {}"), "Expecting at most one JSON value");
  EXPECT_EQ(error_of(R"({"a":1,})"), "JSON parse error, expecting value");
  EXPECT_EQ(error_of(R"({"a":1,"a":2})"), "JSON parse error, duplicate key");
}

// The node options of a json: name change how the image is opened.
OpenOptions opened_with(std::string_view options, io::Access access = io::Access::kReadOnly,
                        io::CacheMode cache = io::CacheMode::kWriteback) {
  auto spec =
      parse_json_name(std::string(R"(json:{"file.filename":"x",)") + std::string(options) + "}");
  EXPECT_TRUE(spec.ok()) << spec.error().message();
  OpenOptions o;
  o.access = access;
  o.cache = cache;
  if (spec.ok()) {
    auto applied = apply_json_options(*spec, o);
    EXPECT_TRUE(applied.ok()) << applied.error().message();
  }
  return o;
}

TEST(JsonName, NodeOptionsApplied) {
  EXPECT_EQ(opened_with(R"("cache.direct":true)").cache, io::CacheMode::kNone);
  EXPECT_EQ(
      opened_with(R"("cache":{"direct":"on"})", io::Access::kReadOnly, io::CacheMode::kWritethrough)
          .cache,
      io::CacheMode::kDirectSync);
  EXPECT_EQ(
      opened_with(R"("cache.direct":false)", io::Access::kReadOnly, io::CacheMode::kNone).cache,
      io::CacheMode::kWriteback);
  EXPECT_EQ(opened_with(R"("cache":{"no-flush":true})").cache, io::CacheMode::kUnsafe);
  EXPECT_EQ(opened_with(R"("file.locking":"off")").locking, Locking::kOff);
  EXPECT_EQ(opened_with(R"("file":{"filename":"x","aio":"io_uring"})").aio,
            io::AioBackend::kIoUring);
  EXPECT_EQ(opened_with(R"("discard":"ignore")").discard, DiscardMode::kIgnore);
  EXPECT_EQ(opened_with(R"("backing":null)").backing, BackingMode::kDetached);
  EXPECT_EQ(opened_with(R"("force-share":true)").sharing, Sharing::kForceShare);
  EXPECT_EQ(opened_with(R"("read-only":"on")").access, io::Access::kReadOnly);
}

TEST(JsonName, NodeOptionsRefusedForWriters) {
  auto spec = parse_json_name(R"(json:{"file.filename":"x","read-only":true})");
  ASSERT_TRUE(spec.ok());
  OpenOptions o;
  o.access = io::Access::kReadWrite;
  auto r = apply_json_options(*spec, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "Block node is read-only");
  spec = parse_json_name(R"(json:{"file.filename":"x","force-share":"on"})");
  ASSERT_TRUE(spec.ok());
  r = apply_json_options(*spec, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "force-share=on can only be used with read-only images");
}

}  // namespace
}  // namespace amber::block
