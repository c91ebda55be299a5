// SPDX-License-Identifier: GPL-2.0-or-later
// SMBIOS builder: the bytes QEMU 7.2 `-machine pc -m 128 -smp 2 -uuid U`
// hands SeaBIOS (read back from a QEMU guest's memory), entry point
// checksums, structure lengths and string sets, UUID byte order, DIMM
// split, and the --uuid/--smbios options.
// Thread-safety: single-threaded tests.
#include "hv/smbios/smbios.h"

#include <gtest/gtest.h>

#include <string>

#include "vmmctl/launch.h"

namespace amber::hv::smbios {
namespace {

std::string hex(const std::vector<uint8_t>& bytes, size_t at, size_t n) {
  std::string out;
  char b[3];
  for (size_t i = 0; i < n; ++i) {
    std::snprintf(b, sizeof(b), "%02x", bytes.at(at + i));
    out += b;
  }
  return out;
}

struct Walked {
  uint8_t type;
  uint16_t handle;
  size_t offset;
  size_t length;  // formatted area
  std::vector<std::string> strings;
};

std::vector<Walked> walk(const std::vector<uint8_t>& t) {
  std::vector<Walked> out;
  size_t p = 0;
  while (p < t.size()) {
    Walked w{t[p], static_cast<uint16_t>(t[p + 2] | t[p + 3] << 8), p, t[p + 1], {}};
    size_t s = p + w.length;
    if (t[s] == 0) {
      s += 2;
    } else {
      while (t[s] != 0) {
        std::string one(reinterpret_cast<const char*>(&t[s]));
        w.strings.push_back(one);
        s += one.size() + 1;
      }
      ++s;
    }
    out.push_back(w);
    p = s;
  }
  return out;
}

SmbiosInputs qemu_inputs() {
  SmbiosInputs in;
  auto uuid = vmmctl::parse_uuid("12345678-9abc-def0-1122-334455667788");
  in.uuid = uuid.value();
  in.cores_per_socket = in.threads_per_socket = 2;
  in.cpuid_version = 0x00060fb1;  // QEMU's qemu64 under TCG
  in.cpuid_features = 0x078bfbfd;
  in.ram_size = 128ULL << 20;
  in.ram_regions = {{0, 128ULL << 20}};
  return in;
}

TEST(Smbios, MatchesQemuBytes) {
  SmbiosBlobs b = build_smbios(qemu_inputs());
  auto s = walk(b.tables);
  ASSERT_EQ(s.size(), 8u);  // QEMU sends no type 0: SeaBIOS adds it
  EXPECT_EQ(hex(b.tables, s[0].offset, s[0].length),
            "011b00010102030078563412bc9af0de1122334455667788060000");
  EXPECT_EQ(s[0].strings, (std::vector<std::string>{"QEMU", "Standard PC (i440FX + PIIX, 1996)",
                                                    "pc-i440fx-7.2"}));
  EXPECT_EQ(hex(b.tables, s[1].offset, s[1].length),
            "03160003010102000003030302000000000000000000");
  EXPECT_EQ(s[1].strings, (std::vector<std::string>{"QEMU", "pc-i440fx-7.2"}));
  EXPECT_EQ(hex(b.tables, s[2].offset, s[2].length),
            "042a000401030102b10f0600fdfb8b0703000000d007d0074101ffffffffffff00000002020202000100");
  EXPECT_EQ(s[2].strings, (std::vector<std::string>{"CPU 0", "QEMU", "pc-i440fx-7.2"}));
  EXPECT_EQ(hex(b.tables, s[3].offset, s[3].length),
            "1017001001030600000200feff01000000000000000000");
  EXPECT_EQ(hex(b.tables, s[4].offset, s[4].length),
            "112800110010feffffffffff80000900010007020000000200000000000000000000000000000000");
  EXPECT_EQ(s[4].strings, (std::vector<std::string>{"DIMM 0", "QEMU"}));
  EXPECT_EQ(hex(b.tables, s[5].offset, s[5].length),
            "131f001300000000ffff010000100100000000000000000000000000000000");
  EXPECT_EQ(hex(b.tables, s[6].offset, s[6].length), "200b002000000000000000");
  EXPECT_EQ(hex(b.tables, s[7].offset, s[7].length + 2), "7f04007f0000");
  // SeaBIOS's copy had 388 bytes with its 55-byte type 0, 81 max (type 1).
  EXPECT_EQ(b.tables.size(), 388u - (24 + 8 + 23 + 11 + 1));
}

TEST(Smbios, EntryPointChecksums) {
  SmbiosBlobs b = build_smbios(qemu_inputs());
  ASSERT_EQ(b.anchor.size(), 31u);
  EXPECT_EQ(std::string(b.anchor.begin(), b.anchor.begin() + 4), "_SM_");
  EXPECT_EQ(std::string(b.anchor.begin() + 16, b.anchor.begin() + 21), "_DMI_");
  uint8_t sum = 0;
  for (uint8_t x : b.anchor) sum = static_cast<uint8_t>(sum + x);
  EXPECT_EQ(sum, 0);
  sum = 0;
  for (size_t i = 16; i < 31; ++i) sum = static_cast<uint8_t>(sum + b.anchor[i]);
  EXPECT_EQ(sum, 0);
  EXPECT_EQ(b.anchor[6], 2);
  EXPECT_EQ(b.anchor[7], 8);
  EXPECT_EQ(b.anchor[30], 0x28);
  EXPECT_EQ(b.anchor[8] | b.anchor[9] << 8, 81);  // type 1 with its strings
  EXPECT_EQ(static_cast<size_t>(b.anchor[0x16] | b.anchor[0x17] << 8), b.tables.size());
  EXPECT_EQ(b.anchor[0x1c], 8);
}

TEST(Smbios, UuidByteOrderAndAbsence) {
  std::array<uint8_t, 16> u{};
  for (int i = 0; i < 16; ++i) u[i] = static_cast<uint8_t>(i);
  auto s = smbios_uuid_bytes(u);
  EXPECT_EQ(hex(std::vector<uint8_t>(s.begin(), s.end()), 0, 16),
            "030201000504070608090a0b0c0d0e0f");
  SmbiosInputs in = qemu_inputs();
  in.uuid.reset();
  SmbiosBlobs b = build_smbios(in);
  EXPECT_EQ(hex(b.tables, 8, 16), std::string(32, '0'));
}

TEST(Smbios, UserStringsAndOptionalTypes) {
  SmbiosInputs in = qemu_inputs();
  in.strings.bios_vendor = "Acme BIOS";
  in.strings.bios_date = "01/02/2023";
  in.strings.system_manufacturer = "Acme";
  in.strings.system_serial = "S123";
  in.strings.system_family = "Fam";
  in.strings.board_product = "Board";
  in.strings.chassis_asset = "Tag";
  auto s = walk(build_smbios(in).tables);
  ASSERT_EQ(s[0].type, 0);
  EXPECT_EQ(s[0].length, 24u);
  EXPECT_EQ(s[0].strings, (std::vector<std::string>{"Acme BIOS", "01/02/2023"}));
  EXPECT_EQ(s[1].type, 1);
  EXPECT_EQ(s[1].strings, (std::vector<std::string>{"Acme", "Standard PC (i440FX + PIIX, 1996)",
                                                    "pc-i440fx-7.2", "S123", "Fam"}));
  EXPECT_EQ(s[2].type, 2);
  EXPECT_EQ(s[2].handle, 0x200);
  EXPECT_EQ(s[2].length, 15u);
  // QEMU's type 2 defaults: its manufacturer and version, the given product.
  EXPECT_EQ(s[2].strings, (std::vector<std::string>{"QEMU", "Board", "pc-i440fx-7.2"}));
  EXPECT_EQ(s[3].type, 3);
  EXPECT_EQ(s[3].strings, (std::vector<std::string>{"QEMU", "pc-i440fx-7.2", "Tag"}));
}

TEST(Smbios, DimmsPer16GiBAndHighRam) {
  SmbiosInputs in = qemu_inputs();
  in.ram_size = 40ULL << 30;
  in.ram_regions = {{0, 3ULL << 30}, {1ULL << 32, 37ULL << 30}};
  auto s = walk(build_smbios(in).tables);
  std::vector<uint16_t> dimms, regions;
  for (const Walked& w : s) {
    if (w.type == 17) dimms.push_back(w.handle);
    if (w.type == 19) regions.push_back(w.handle);
  }
  EXPECT_EQ(dimms, (std::vector<uint16_t>{0x1100, 0x1101, 0x1102}));
  EXPECT_EQ(regions, (std::vector<uint16_t>{0x1300, 0x1301}));
}

TEST(SmbiosOptions, ParseAndRoundTrip) {
  std::vector<std::string> args = {"--uuid",   "12345678-9ABC-def0-1122-334455667788",
                                   "--smbios", "type=1,manufacturer=Acme,,Inc,family=F",
                                   "--smbios", "type=0,vendor=V,date=D"};
  auto parsed = vmmctl::parse_argv(args);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed.value().uuid, "12345678-9abc-def0-1122-334455667788");
  EXPECT_EQ(parsed.value().smbios.system_manufacturer, "Acme,Inc");
  auto argv = vmmctl::to_argv(parsed.value());
  ASSERT_TRUE(argv.ok());
  auto again = vmmctl::parse_argv(argv.value());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.value(), parsed.value());
  for (const char* bad : {"type=5", "type=1,foo=x", "vendor=x", "type=1,uuid=nope"}) {
    std::vector<std::string> one = {"--smbios", bad};
    EXPECT_FALSE(vmmctl::parse_argv(one).ok()) << bad;
  }
  std::vector<std::string> bad_uuid = {"--uuid", "1234"};
  EXPECT_FALSE(vmmctl::parse_argv(bad_uuid).ok());
}

}  // namespace
}  // namespace amber::hv::smbios
