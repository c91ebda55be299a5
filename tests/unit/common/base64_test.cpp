// SPDX-License-Identifier: GPL-2.0-or-later
// common/base64.h: the strict (libvirt secret files) and glib (qemu-img
// --object format=base64) dialects side by side on the same inputs.
#include "common/base64.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace amber {
namespace {

Result<std::string> decode(std::string_view text, Base64Dialect dialect) {
  std::vector<uint8_t> out(base64_decoded_bound(text.size()));
  AMBER_TRY_ASSIGN(
      const size_t n,
      base64_decode_into(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()),
                         dialect, out));
  return std::string(out.begin(), out.begin() + static_cast<long>(n));
}

std::string encode(std::string_view text) {
  return base64_encode(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

TEST(Base64, RoundTripsEveryLengthInBothDialects) {
  std::string data;
  for (int i = 0; i < 40; ++i) {
    const std::string text = encode(data);
    EXPECT_EQ(text.size() % 4, 0u);
    for (Base64Dialect d : {Base64Dialect::kStrict, Base64Dialect::kGlib}) {
      auto back = decode(text, d);
      ASSERT_TRUE(back.ok()) << back.error().message();
      EXPECT_EQ(*back, data);
    }
    data += static_cast<char>(i * 37 + 200);
  }
  EXPECT_EQ(encode("hello"), "aGVsbG8=");
}

TEST(Base64, StrictRefusesWhatGlibTakes) {
  // A trailing partial group: glib drops it, strict refuses the length.
  EXPECT_EQ(*decode("aGVsbG8=aGU", Base64Dialect::kGlib), "hello");
  EXPECT_FALSE(decode("aGVsbG8=aGU", Base64Dialect::kStrict).ok());
  // '=' inside: glib ends that group's bytes early, strict refuses.
  EXPECT_EQ(*decode("aG==bG8=", Base64Dialect::kGlib), "hlo");
  auto r = decode("aG==bG8=", Base64Dialect::kStrict);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("misplaced '='"), std::string::npos);
  EXPECT_FALSE(decode("a===", Base64Dialect::kStrict).ok());
  EXPECT_FALSE(decode("aGVs=G8=", Base64Dialect::kStrict).ok());
}

TEST(Base64, WhitespaceAndForeignCharacters) {
  EXPECT_EQ(*decode("aGVs\nbG8=\n", Base64Dialect::kStrict), "hello");
  auto glib = decode("aGVs\nbG8=", Base64Dialect::kGlib);
  ASSERT_FALSE(glib.ok());
  EXPECT_EQ(glib.error().message(), "Base64 data contains invalid characters");
  auto strict = decode("aGV*bG8=", Base64Dialect::kStrict);
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(strict.error().kind(), ErrorKind::kCorrupt);
  // The message never quotes the secret.
  EXPECT_EQ(strict.error().message().find("aGV"), std::string::npos);
}

TEST(Base64, SmallBufferIsAnErrorNotAnOverflow) {
  std::vector<uint8_t> out(2);
  const std::string text = "aGVsbG8=";
  auto r = base64_decode_into(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()),
                              Base64Dialect::kStrict, out);
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace amber
