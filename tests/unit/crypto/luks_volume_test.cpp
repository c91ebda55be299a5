// SPDX-License-Identifier: GPL-2.0-or-later
// LuksVolume: create then open with the right and the wrong passphrase;
// the unlocked cipher is the one create made.
#include <gtest/gtest.h>

#include "block/crypto/luks.h"
#include "tests/unit/crypto/luks_test_util.h"

namespace amber::block::crypto {
namespace {

TEST(LuksVolume, OpensWithTheRightPassphraseOnly) {
  io::MemoryFile file;
  auto made = make_volume(file, "correct horse", 65536);
  ASSERT_NE(made, nullptr);
  const uint64_t area = made->payload_bytes();
  EXPECT_EQ(area, 2068480u);
  EXPECT_EQ(*LuksVolume::area_size(made->params()), area);

  std::vector<uint8_t> sector(512, 0x5a), expected = sector;
  ASSERT_TRUE(made->cipher()->encrypt(42, sector.data(), sector.size()).ok());

  SecretBytes right("correct horse");
  auto opened = LuksVolume::open(file, 65536, area, &right);
  ASSERT_TRUE(opened.ok()) << opened.error().message();
  ASSERT_NE((*opened)->cipher(), nullptr);
  ASSERT_TRUE((*opened)->cipher()->decrypt(42, sector.data(), sector.size()).ok());
  EXPECT_EQ(sector, expected);
  EXPECT_EQ((*opened)->header().uuid, made->header().uuid);

  SecretBytes wrong("correct horse ");
  auto refused = LuksVolume::open(file, 65536, area, &wrong);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message(), "Invalid password, cannot unlock any keyslot");

  // Without a passphrase: metadata only.
  auto info = LuksVolume::open(file, 65536, area, nullptr);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ((*info)->cipher(), nullptr);
}

TEST(LuksVolume, DamagedKeyMaterialDoesNotUnlock) {
  io::MemoryFile file;
  auto made = make_volume(file, "pw");
  ASSERT_NE(made, nullptr);
  uint8_t byte = 0;
  ASSERT_TRUE(io::read_exact(file, 4096 + 1000, &byte, 1).ok());
  byte ^= 0xff;
  ASSERT_TRUE(io::write_exact(file, 4096 + 1000, &byte, 1).ok());
  SecretBytes pw("pw");
  auto opened = LuksVolume::open(file, 0, made->payload_bytes(), &pw);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().message(), "Invalid password, cannot unlock any keyslot");
}

// A header whose active slots ask for hours of PBKDF2 is refused before any
// of it is spent (two slots at the 32-bit maximum are over the budget).
TEST(LuksVolume, HostileIterationCountsAreRefusedUpFront) {
  io::MemoryFile file;
  auto made = make_volume(file, "pw");
  ASSERT_NE(made, nullptr);
  std::vector<uint8_t> h = header_bytes(file);
  for (unsigned slot : {0u, 5u}) {
    put_be32(h, slot_offset(slot), 0x00AC71F3);  // active
    put_be32(h, slot_offset(slot) + 4, 0xffffffffu);
  }
  ASSERT_TRUE(io::write_exact(file, 0, h.data(), h.size()).ok());
  SecretBytes pw("pw");
  auto opened = LuksVolume::open(file, 0, made->payload_bytes(), &pw);
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.error().message().find("PBKDF2 iterations in all"), std::string::npos)
      << opened.error().message();
  // Metadata alone (info) still opens: it spends no PBKDF2.
  EXPECT_TRUE(LuksVolume::open(file, 0, made->payload_bytes(), nullptr).ok());
}

}  // namespace
}  // namespace amber::block::crypto
