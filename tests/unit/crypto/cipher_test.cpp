// SPDX-License-Identifier: GPL-2.0-or-later
// Known-answer tests of the sector cipher (IEEE 1619 XTS-AES vectors) and
// PBKDF2-HMAC-SHA256 (RFC 7914 section 11 and the common RFC 6070-style
// vectors), and the AFsplit round trip.
#include "block/crypto/cipher.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace amber::block::crypto {
namespace {

std::vector<uint8_t> from_hex(const std::string& hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoul(hex.substr(i, 2), nullptr, 16)));
  return out;
}

std::string to_hex(std::span<const uint8_t> bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s;
  for (uint8_t b : bytes) {
    s += kDigits[b >> 4];
    s += kDigits[b & 15];
  }
  return s;
}

// IEEE 1619-2007 annex B: the 512-byte plaintext of vectors 4 to 14.
std::vector<uint8_t> ieee_plaintext() {
  std::vector<uint8_t> pt(512);
  for (size_t i = 0; i < pt.size(); ++i) pt[i] = static_cast<uint8_t>(i);
  return pt;
}

const std::string kKey1 = "2718281828459045235360287471352662497757247093699959574966967627";
const std::string kKey2 = "3141592653589793238462643383279502884197169399375105820974944592";

TEST(SectorCipher, XtsAes256Vector10) {
  // Vector 10: XTS-AES-256, data unit sequence number 0xff. plain64 puts
  // the sector number little-endian into the tweak, as the vector does.
  const std::string expected =
      "1c3b3a102f770386e4836c99e370cf9bea00803f5e482357a4ae12d414a3e63b"
      "5d31e276f8fe4a8d66b317f9ac683f44680a86ac35adfc3345befecb4bb188fd"
      "5776926c49a3095eb108fd1098baec70aaa66999a72a82f27d848b21d4a741b0"
      "c5cd4d5fff9dac89aeba122961d03a757123e9870f8acf1000020887891429ca"
      "2a3e7a7d7df7b10355165c8b9a6d0a7de8b062c4500dc4cd120c0f7418dae3d0"
      "b5781c34803fa75421c790dfe1de1834f280d7667b327f6c8cd7557e12ac3a0f"
      "93ec05c52e0493ef31a12d3d9260f79a289d6a379bc70c50841473d1a8cc81ec"
      "583e9645e07b8d9670655ba5bbcfecc6dc3966380ad8fecb17b6ba02469a020a"
      "84e18e8f84252070c13e9f1f289be54fbc481457778f616015e1327a02b140f1"
      "505eb309326d68378f8374595c849d84f4c333ec4423885143cb47bd71c5edae"
      "9be69a2ffeceb1bec9de244fbe15992b11b77c040f12bd8f6a975a44a0f90c29"
      "a9abc3d4d893927284c58754cce294529f8614dcd2aba991925fedc4ae74ffac"
      "6e333b93eb4aff0479da9a410e4450e0dd7ae4c6e2910900575da401fc07059f"
      "645e8b7e9bfdef33943054ff84011493c27b3429eaedb4ed5376441a77ed4385"
      "1ad77f16f541dfd269d50d6a5f14fb0aab1cbb4c1550be97f7ab4066193c4caa"
      "773dad38014bd2092fa755c824bb5e54c4f36ffda9fcea70b9c6e693e148c151";
  ASSERT_EQ(expected.size(), 1024u);
  CipherSpec spec;  // aes-256 xts plain64
  auto cipher = SectorCipher::make(spec, from_hex(kKey1 + kKey2));
  ASSERT_TRUE(cipher.ok()) << cipher.error().message();
  std::vector<uint8_t> data = ieee_plaintext();
  ASSERT_TRUE((*cipher)->encrypt(0xff, data.data(), data.size()).ok());
  EXPECT_EQ(to_hex(data), expected);
  ASSERT_TRUE((*cipher)->decrypt(0xff, data.data(), data.size()).ok());
  EXPECT_EQ(data, ieee_plaintext());
}

TEST(SectorCipher, XtsAes128Vector4) {
  // Vector 4: XTS-AES-128, the first halves of the same keys, sequence 0.
  CipherSpec spec;
  spec.alg = CipherAlg::kAes128;
  auto cipher = SectorCipher::make(spec, from_hex(kKey1.substr(0, 32) + kKey2.substr(0, 32)));
  ASSERT_TRUE(cipher.ok()) << cipher.error().message();
  std::vector<uint8_t> data = ieee_plaintext();
  ASSERT_TRUE((*cipher)->encrypt(0, data.data(), data.size()).ok());
  EXPECT_EQ(to_hex(std::span(data).first(32)),
            "27a7479befa1d476489f308cd4cfa6e2a96e4bbe3208ff25287dd3819616e89c");
}

TEST(SectorCipher, EachSectorHasItsOwnTweak) {
  CipherSpec spec;
  auto cipher = SectorCipher::make(spec, from_hex(kKey1 + kKey2));
  ASSERT_TRUE(cipher.ok());
  // Two sectors in one call are sectors 7 and 8, as two calls would be.
  std::vector<uint8_t> both(1024, 0x5a), one(512, 0x5a), two(512, 0x5a);
  ASSERT_TRUE((*cipher)->encrypt(7, both.data(), both.size()).ok());
  ASSERT_TRUE((*cipher)->encrypt(7, one.data(), one.size()).ok());
  ASSERT_TRUE((*cipher)->encrypt(8, two.data(), two.size()).ok());
  EXPECT_EQ(std::vector<uint8_t>(both.begin(), both.begin() + 512), one);
  EXPECT_EQ(std::vector<uint8_t>(both.begin() + 512, both.end()), two);
  EXPECT_NE(one, two);
}

TEST(SectorCipher, RejectsBadKeysAndLengths) {
  CipherSpec spec;
  EXPECT_FALSE(SectorCipher::make(spec, std::vector<uint8_t>(32, 1)).ok());  // XTS-256 needs 64
  spec.alg = CipherAlg::kAes192;
  EXPECT_EQ(SectorCipher::make(spec, std::vector<uint8_t>(48, 1)).error().kind(),
            ErrorKind::kUnsupported);
  CipherSpec good;
  auto cipher = SectorCipher::make(good, from_hex(kKey1 + kKey2));
  ASSERT_TRUE(cipher.ok());
  std::vector<uint8_t> odd(500);
  EXPECT_FALSE((*cipher)->encrypt(0, odd.data(), odd.size()).ok());
}

TEST(SectorCipher, CbcEssivRoundTrips) {
  CipherSpec spec;
  spec.mode = CipherMode::kCbc;
  spec.ivgen = IvGenAlg::kEssiv;
  spec.ivgen_hash = HashAlg::kSha256;
  auto cipher = SectorCipher::make(spec, from_hex(kKey1));
  ASSERT_TRUE(cipher.ok()) << cipher.error().message();
  std::vector<uint8_t> data(1024, 0x33);
  ASSERT_TRUE((*cipher)->encrypt(3, data.data(), data.size()).ok());
  EXPECT_NE(data, std::vector<uint8_t>(1024, 0x33));
  ASSERT_TRUE((*cipher)->decrypt(3, data.data(), data.size()).ok());
  EXPECT_EQ(data, std::vector<uint8_t>(1024, 0x33));
}

std::string pbkdf2_hex(std::string_view password, std::string_view salt, uint64_t iterations,
                       size_t bytes) {
  std::vector<uint8_t> out(bytes);
  auto r = pbkdf2(HashAlg::kSha256,
                  std::span(reinterpret_cast<const uint8_t*>(password.data()), password.size()),
                  std::span(reinterpret_cast<const uint8_t*>(salt.data()), salt.size()), iterations,
                  out);
  EXPECT_TRUE(r.ok());
  return to_hex(out);
}

TEST(Pbkdf2, Sha256KnownAnswers) {
  EXPECT_EQ(pbkdf2_hex("password", "salt", 1, 32),
            "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b");
  EXPECT_EQ(pbkdf2_hex("password", "salt", 4096, 32),
            "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a");
  // RFC 7914 section 11.
  EXPECT_EQ(pbkdf2_hex("passwd", "salt", 1, 64),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
            "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783");
}

TEST(Pbkdf2, RejectsZeroIterations) {
  std::vector<uint8_t> out(32);
  EXPECT_FALSE(pbkdf2(HashAlg::kSha256, {}, {}, 0, out).ok());
}

TEST(AfSplit, RoundTripsAndDependsOnEveryStripe) {
  std::vector<uint8_t> key(64);
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i * 3 + 1);
  for (uint32_t stripes : {1u, 2u, 4000u}) {
    std::vector<uint8_t> split(key.size() * stripes);
    ASSERT_TRUE(afsplit_encode(HashAlg::kSha256, key, stripes, split).ok());
    std::vector<uint8_t> back(key.size());
    ASSERT_TRUE(afsplit_decode(HashAlg::kSha256, split, stripes, back).ok());
    EXPECT_EQ(back, key) << stripes << " stripes";
    if (stripes > 1) {
      split[0] ^= 1;  // one bit of the first stripe spoils the key
      ASSERT_TRUE(afsplit_decode(HashAlg::kSha256, split, stripes, back).ok());
      EXPECT_NE(back, key);
    }
  }
  // A key that is not a whole number of digests (32-byte sha256, 20-byte key).
  std::vector<uint8_t> small(20, 0x77), split(20 * 10), back(20);
  ASSERT_TRUE(afsplit_encode(HashAlg::kSha1, small, 10, split).ok());
  ASSERT_TRUE(afsplit_decode(HashAlg::kSha1, split, 10, back).ok());
  EXPECT_EQ(back, small);
}

TEST(AfSplit, RejectsBadGeometry) {
  std::vector<uint8_t> key(32), split(32 * 3), out(32);
  EXPECT_FALSE(afsplit_encode(HashAlg::kSha256, key, 0, split).ok());
  EXPECT_FALSE(afsplit_encode(HashAlg::kSha256, key, 4, split).ok());
  EXPECT_FALSE(afsplit_decode(HashAlg::kSha256, split, 0, out).ok());
}

}  // namespace
}  // namespace amber::block::crypto
