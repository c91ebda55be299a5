// SPDX-License-Identifier: GPL-2.0-or-later
// parse_luks_header treats the header as hostile: each damaged field is
// refused with a clear error rather than trusted.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "block/crypto/luks.h"
#include "tests/unit/crypto/luks_test_util.h"

namespace amber::block::crypto {
namespace {

class LuksHeaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(make_volume(file_, "secret"), nullptr);
    good_ = header_bytes(file_);
  }
  // Parses `bytes` and expects an error whose message contains `words`.
  void expect_refused(const std::vector<uint8_t>& bytes, const std::string& words) {
    auto h = parse_luks_header(bytes);
    ASSERT_FALSE(h.ok()) << "accepted a header that should say: " << words;
    EXPECT_NE(h.error().message().find(words), std::string::npos) << h.error().message();
  }
  void set_text(std::vector<uint8_t>& b, size_t at, const char* text) {
    std::memset(b.data() + at, 0, 32);
    std::memcpy(b.data() + at, text, std::strlen(text));
  }

  io::MemoryFile file_;
  std::vector<uint8_t> good_;
};

TEST_F(LuksHeaderTest, ParsesWhatCreateWrote) {
  auto h = parse_luks_header(good_);
  ASSERT_TRUE(h.ok()) << h.error().message();
  EXPECT_EQ(h->cipher_name, "aes");
  EXPECT_EQ(h->cipher_mode, "xts-plain64");
  EXPECT_EQ(h->hash_spec, "sha256");
  EXPECT_EQ(h->key_bytes, 64u);
  // QEMU 7.2's layout: slots every 504 sectors from sector 8, payload at 4040.
  EXPECT_EQ(h->payload_offset_sector, 4040u);
  for (unsigned i = 0; i < kLuksSlots; ++i) {
    EXPECT_EQ(h->slots[i].key_offset_sector, 8 + i * 504);
    EXPECT_EQ(h->slots[i].stripes, kLuksStripes);
    EXPECT_EQ(h->slots[i].active, i == 0 ? kLuksSlotActive : kLuksSlotDisabled);
  }
  EXPECT_EQ(h->uuid.size(), 36u);
  EXPECT_EQ(serialize_luks_header(*h), good_);
}

TEST_F(LuksHeaderTest, RefusesBadMagicAndShortInput) {
  auto b = good_;
  b[0] = 'X';
  expect_refused(b, "not in LUKS format");
  expect_refused(std::vector<uint8_t>(good_.begin(), good_.begin() + 100), "not in LUKS format");
}

TEST_F(LuksHeaderTest, RefusesOtherVersions) {
  auto b = good_;
  b[kOffVersion + 1] = 2;
  expect_refused(b, "Unsupported LUKS version 2");
  b[kOffVersion] = 0xff;
  expect_refused(b, "Unsupported LUKS version");
}

TEST_F(LuksHeaderTest, RefusesUnsupportedCiphers) {
  auto b = good_;
  set_text(b, kOffCipherName, "serpent");
  expect_refused(b, "Unsupported LUKS cipher 'serpent'");
  b = good_;
  set_text(b, kOffCipherMode, "ctr-plain64");
  expect_refused(b, "Unsupported LUKS cipher mode");
  b = good_;
  set_text(b, kOffCipherMode, "xts-benbi");
  expect_refused(b, "Unsupported LUKS IV generator");
  b = good_;
  set_text(b, kOffCipherMode, "cbc-essiv:md4");
  expect_refused(b, "ESSIV hash");
  b = good_;
  set_text(b, kOffHashSpec, "whirlpool");
  expect_refused(b, "Unsupported LUKS hash 'whirlpool'");
  // A name filling the whole field has no NUL: still bounded, still refused.
  b = good_;
  std::memset(b.data() + kOffCipherName, 'a', 32);
  expect_refused(b, "Unsupported LUKS cipher");
}

TEST_F(LuksHeaderTest, RefusesKeySizesTheCipherDoesNotHave) {
  for (uint32_t bytes : {0u, 1u, 17u, 65u, 0xffffffffu}) {
    auto b = good_;
    put_be32(b, kOffKeyBytes, bytes);
    expect_refused(b, "key size");
  }
}

TEST_F(LuksHeaderTest, RefusesZeroIterations) {
  auto b = good_;
  put_be32(b, kOffMkIterations, 0);
  expect_refused(b, "0 iterations");
  b = good_;
  put_be32(b, slot_offset(0) + 4, 0);
  expect_refused(b, "Keyslot 0 has 0 iterations");
}

TEST_F(LuksHeaderTest, RefusesBadStripes) {
  for (uint32_t stripes : {0u, 1u, 3999u, 4001u, 0xffffffffu}) {
    auto b = good_;
    put_be32(b, slot_offset(3) + 44, stripes);
    expect_refused(b, "Keyslot 3 is corrupted (stripes");
  }
}

TEST_F(LuksHeaderTest, RefusesCorruptSlotState) {
  auto b = good_;
  put_be32(b, slot_offset(5), 0x12345678);
  expect_refused(b, "Keyslot 5 state (active/disable) is corrupted");
}

TEST_F(LuksHeaderTest, RefusesSlotsOutsideTheirPlace) {
  auto b = good_;
  put_be32(b, slot_offset(0) + 40, 2);  // inside the header
  expect_refused(b, "Keyslot 0 is overlapping with the LUKS header");
  b = good_;
  put_be32(b, slot_offset(7) + 40, 4000);  // runs into the payload
  expect_refused(b, "Keyslot 7 is overlapping with the encrypted payload");
  b = good_;
  put_be32(b, slot_offset(7) + 40, 0xffffffffu);  // no wrap-around
  expect_refused(b, "Keyslot 7 is overlapping with the encrypted payload");
  b = good_;
  put_be32(b, slot_offset(2) + 40, 8 + 504 + 100);  // into slot 1's material
  expect_refused(b, "Keyslots 1 and 2 are overlapping");
  b = good_;
  put_be32(b, kOffPayload, 4);
  expect_refused(b, "LUKS payload is overlapping with the header");
}

TEST_F(LuksHeaderTest, OpenRefusesKeyMaterialBeyondTheArea) {
  // The header is fine, but the area it is given is too short for slot 0.
  auto v = LuksVolume::open(file_, 0, 4096 + 1000, nullptr);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.error().message().find("beyond the end of the LUKS area"), std::string::npos)
      << v.error().message();
  auto tiny = LuksVolume::open(file_, 0, 100, nullptr);
  ASSERT_FALSE(tiny.ok());
}

TEST_F(LuksHeaderTest, RandomDamageNeverCrashes) {
  // Every single-byte flip of the header either parses or gives an error.
  for (size_t i = 0; i < good_.size(); ++i) {
    auto b = good_;
    b[i] ^= 0xa5;
    auto h = parse_luks_header(b);
    if (!h.ok()) {
      EXPECT_FALSE(h.error().message().empty());
    }
  }
}

}  // namespace
}  // namespace amber::block::crypto
