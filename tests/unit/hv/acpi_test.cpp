// SPDX-License-Identifier: GPL-2.0-or-later
// The AML encoder (package lengths, name strings, integers, terms) and the
// ACPI blobs: a small model of SeaBIOS's table loader places them, then
// every table's length and checksum, the RSDT's pointers, the FADT, MADT
// and DSDT contents are checked. With iasl on PATH the DSDT must also
// disassemble and recompile without errors, and acpiexec must run its
// interrupt-link and device methods.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <string>

#include "hv/acpi/aml.h"
#include "hv/acpi/tables.h"
#include "vmmctl/launch.h"

namespace amber::hv::acpi {
namespace {

uint32_t le32(const Bytes& b, size_t at) {
  return b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (uint32_t{b[at + 3]} << 24);
}
uint16_t le16(const Bytes& b, size_t at) {
  return static_cast<uint16_t>(b[at] | (b[at + 1] << 8));
}

Bytes text(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

TEST(Aml, PackageLengthEncodings) {
  EXPECT_EQ(pkg_length(0), (Bytes{0x01}));
  EXPECT_EQ(pkg_length(62), (Bytes{0x3F}));
  EXPECT_EQ(pkg_length(63), (Bytes{0x41, 0x04}));  // 65 with 2 bytes
  EXPECT_EQ(pkg_length(4093), (Bytes{0x4F, 0xFF}));
  EXPECT_EQ(pkg_length(4094), (Bytes{0x81, 0x00, 0x01}));  // 4097
  EXPECT_EQ(pkg_length(0xFFFFC), (Bytes{0x8F, 0xFF, 0xFF}));
  EXPECT_EQ(pkg_length(0xFFFFD), (Bytes{0xC1, 0x00, 0x00, 0x01}));
  // Field widths count only the field.
  EXPECT_EQ(pkg_length(8, false), (Bytes{0x08}));
  EXPECT_EQ(pkg_length(63, false), (Bytes{0x3F}));
  EXPECT_EQ(pkg_length(64, false), (Bytes{0x40, 0x04}));
}

TEST(Aml, NameStrings) {
  EXPECT_EQ(name_string("_HID"), text("_HID"));
  EXPECT_EQ(name_string("ISA"), text("ISA_"));
  EXPECT_EQ(name_string("\\_SB"), cat({Bytes{0x5C}, text("_SB_")}));
  EXPECT_EQ(name_string("\\_SB.PCI0"), cat({Bytes{0x5C, 0x2E}, text("_SB_PCI0")}));
  EXPECT_EQ(name_string("\\_SB.PCI0.ISA.P40C"),
            cat({Bytes{0x5C, 0x2F, 0x04}, text("_SB_PCI0ISA_P40C")}));
  EXPECT_EQ(name_string("^^LNKA"), cat({Bytes{0x5E, 0x5E}, text("LNKA")}));
  EXPECT_EQ(name_string("\\"), (Bytes{0x5C, 0x00}));
}

TEST(Aml, Integers) {
  EXPECT_EQ(integer(0), (Bytes{0x00}));
  EXPECT_EQ(integer(1), (Bytes{0x01}));
  EXPECT_EQ(integer(2), (Bytes{0x0A, 0x02}));
  EXPECT_EQ(integer(0xFF), (Bytes{0x0A, 0xFF}));
  EXPECT_EQ(integer(0x100), (Bytes{0x0B, 0x00, 0x01}));
  EXPECT_EQ(integer(0x1FFFF), (Bytes{0x0C, 0xFF, 0xFF, 0x01, 0x00}));
  EXPECT_EQ(integer(uint64_t{1} << 32), (Bytes{0x0E, 0, 0, 0, 0, 1, 0, 0, 0}));
  EXPECT_EQ(eisa_id_value("PNP0A03"), 0x030AD041u);
  EXPECT_EQ(eisa_id("PNP0501"), (Bytes{0x0C, 0x41, 0xD0, 0x05, 0x01}));
  EXPECT_EQ(string("ACPI0010"), cat({Bytes{0x0D}, text("ACPI0010"), Bytes{0}}));
}

TEST(Aml, Terms) {
  EXPECT_EQ(method("_STA", 0, false, ret(integer(0x0F))),
            (Bytes{0x14, 0x09, '_', 'S', 'T', 'A', 0x00, 0xA4, 0x0A, 0x0F}));
  EXPECT_EQ(method("IQCR", 1, true, {}), (Bytes{0x14, 0x06, 'I', 'Q', 'C', 'R', 0x09}));
  EXPECT_EQ(name("_UID", integer(0)), (Bytes{0x08, '_', 'U', 'I', 'D', 0x00}));
  EXPECT_EQ(package({integer(0), integer(5)}), (Bytes{0x12, 0x05, 0x02, 0x00, 0x0A, 0x05}));
  EXPECT_EQ(buffer({1, 2}), (Bytes{0x11, 0x05, 0x0A, 0x02, 1, 2}));
  EXPECT_EQ(device("RTC", {}), (Bytes{0x5B, 0x82, 0x05, 'R', 'T', 'C', '_'}));
  EXPECT_EQ(processor("C000", 1, 0, 0, {}),
            (Bytes{0x5B, 0x83, 0x0B, 'C', '0', '0', '0', 1, 0, 0, 0, 0, 0}));
  EXPECT_EQ(field("P40C", 1, {{"PRQ0", 8}, {"", 8}}),
            (Bytes{0x5B, 0x81, 0x0D, 'P', '4', '0', 'C', 0x01, 'P', 'R', 'Q', '0', 8, 0, 8}));
  EXPECT_EQ(operation_region("P40C", RegionSpace::kPciConfig, 0x60, 4),
            (Bytes{0x5B, 0x80, 'P', '4', '0', 'C', 0x02, 0x0A, 0x60, 0x0A, 0x04}));
  EXPECT_EQ(or_(text("PRQ0"), integer(0x80), text("PRQ0")),
            (Bytes{0x7D, 'P', 'R', 'Q', '0', 0x0A, 0x80, 'P', 'R', 'Q', '0'}));
  // A body over 63 bytes takes a 2-byte PkgLength.
  Bytes big = scope("\\", Bytes(100, 0xA3));
  EXPECT_EQ(big.size(), 1u + 2 + 2 + 100);
  EXPECT_EQ(big[1], 0x40 | ((2 + 2 + 100) & 0xF));
  EXPECT_EQ(big[2], (2 + 2 + 100) >> 4);
}

TEST(Aml, ResourceTemplates) {
  EXPECT_EQ(ResourceTemplate().io(0x3F8, 0x3F8, 0, 8).irq_no_flags({4}).bytes(),
            (Bytes{0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x00, 0x08, 0x22, 0x10, 0x00, 0x79, 0}));
  EXPECT_EQ(ResourceTemplate().interrupt({5, 10, 11}).bytes(),
            (Bytes{0x89, 14, 0, 0x09, 3, 5, 0, 0, 0, 10, 0, 0, 0, 11, 0, 0, 0, 0x79, 0}));
  const Bytes bus = ResourceTemplate().word_bus(0, 0xFF).bytes();
  EXPECT_EQ(bus, (Bytes{0x88, 0x0D, 0, 2, 0x0C, 0, 0, 0, 0, 0, 0xFF, 0, 0, 0, 0, 0x01, 0x79, 0}));
  const Bytes mem = ResourceTemplate().dword_memory(0xA0000, 0xBFFFF, true).bytes();
  ASSERT_EQ(mem.size(), 26u + 2);
  EXPECT_EQ(le32(mem, 10), 0xA0000u);
  EXPECT_EQ(le32(mem, 14), 0xBFFFFu);
  EXPECT_EQ(le32(mem, 22), 0x20000u);
  EXPECT_EQ(mem[5], 0x03);
}

// SeaBIOS's romfile_loader, reduced: each file gets a fixed address.
struct Placed {
  std::map<std::string, Bytes> files;
  std::map<std::string, uint32_t> address;
};

std::string entry_name(const Bytes& script, size_t at) {
  const char* p = reinterpret_cast<const char*>(&script[at]);
  return std::string(p, strnlen(p, 56));
}

Placed run_loader(const AcpiBlobs& blobs) {
  Placed out;
  std::map<std::string, const Bytes*> source{{kRsdpFile, &blobs.rsdp},
                                             {kTablesFile, &blobs.tables}};
  EXPECT_EQ(blobs.loader.size() % TableLoader::kEntrySize, 0u);
  for (size_t at = 0; at + 128 <= blobs.loader.size(); at += 128) {
    const uint32_t command = le32(blobs.loader, at);
    if (command == TableLoader::kAllocate) {
      const std::string file = entry_name(blobs.loader, at + 4);
      const uint32_t align = le32(blobs.loader, at + 60);
      const uint8_t zone = blobs.loader[at + 64];
      EXPECT_TRUE(source.count(file)) << file;
      EXPECT_EQ(out.files.count(file), 0u) << "allocated twice: " << file;
      out.files[file] = *source[file];
      out.address[file] = zone == TableLoader::kZoneFseg ? 0xF5A00 : 0x07FE0000;
      EXPECT_EQ(out.address[file] % align, 0u);
      EXPECT_EQ(file == kRsdpFile, zone == TableLoader::kZoneFseg);
    } else if (command == TableLoader::kAddPointer) {
      const std::string dest = entry_name(blobs.loader, at + 4);
      const std::string src = entry_name(blobs.loader, at + 60);
      const uint32_t offset = le32(blobs.loader, at + 116);
      EXPECT_EQ(blobs.loader[at + 120], 4);
      EXPECT_TRUE(out.files.count(dest) && out.files.count(src)) << "pointer before allocate";
      Bytes& d = out.files[dest];
      EXPECT_LE(offset + 4, d.size());
      const uint32_t target = le32(d, offset);
      EXPECT_LT(target, out.files[src].size());
      const uint32_t value = target + out.address[src];
      for (int i = 0; i < 4; ++i) d[offset + i] = static_cast<uint8_t>(value >> (8 * i));
    } else if (command == TableLoader::kAddChecksum) {
      const std::string file = entry_name(blobs.loader, at + 4);
      Bytes& d = out.files[file];
      const uint32_t offset = le32(blobs.loader, at + 60);
      const uint32_t start = le32(blobs.loader, at + 64);
      const uint32_t length = le32(blobs.loader, at + 68);
      EXPECT_LE(uint64_t{start} + length, d.size());
      EXPECT_GE(offset, start);
      EXPECT_LT(offset, start + length);
      uint8_t sum = 0;
      for (uint32_t i = start; i < start + length; ++i) sum = static_cast<uint8_t>(sum + d[i]);
      d[offset] = static_cast<uint8_t>(d[offset] - sum);
    } else {
      ADD_FAILURE() << "unknown loader command " << command;
    }
  }
  return out;
}

uint8_t sum(const Bytes& b, size_t start, size_t length) {
  uint8_t s = 0;
  for (size_t i = start; i < start + length; ++i) s = static_cast<uint8_t>(s + b[i]);
  return s;
}

class AcpiTables : public ::testing::TestWithParam<unsigned> {};

TEST_P(AcpiTables, LoaderPlacesValidTables) {
  AcpiSettings settings;
  settings.cpus = GetParam();
  settings.pci_hole_start = 0x08000000;
  const AcpiBlobs blobs = build_acpi(settings);
  Placed placed = run_loader(blobs);
  ASSERT_EQ(placed.files.size(), 2u);
  const Bytes& rsdp = placed.files[kRsdpFile];
  const Bytes& tables = placed.files[kTablesFile];
  const uint32_t base = placed.address[kTablesFile];

  ASSERT_EQ(rsdp.size(), 20u);
  EXPECT_EQ(std::string(rsdp.begin(), rsdp.begin() + 8), "RSD PTR ");
  EXPECT_EQ(std::string(rsdp.begin() + 9, rsdp.begin() + 15), "BOCHS ");
  EXPECT_EQ(rsdp[15], 0);
  EXPECT_EQ(sum(rsdp, 0, 20), 0);

  std::map<std::string, TableSpan> by_sig;
  for (const TableSpan& span : blobs.spans) {
    by_sig[span.signature] = span;
    ASSERT_LE(span.offset + span.length, tables.size());
    EXPECT_EQ(std::string(tables.begin() + span.offset, tables.begin() + span.offset + 4),
              span.signature);
    EXPECT_EQ(le32(tables, span.offset + 4), span.length) << span.signature;
    if (span.signature == "FACS") continue;  // no checksum
    EXPECT_EQ(sum(tables, span.offset, span.length), 0) << span.signature;
    EXPECT_EQ(std::string(tables.begin() + span.offset + 10, tables.begin() + span.offset + 16),
              "BOCHS ");
  }
  ASSERT_EQ(by_sig.count("FACS") + by_sig.count("DSDT") + by_sig.count("FACP") +
                by_sig.count("APIC") + by_sig.count("WAET") + by_sig.count("RSDT"),
            6u);
  EXPECT_EQ(by_sig.count("HPET"), 0u);
  EXPECT_EQ(by_sig["FACS"].offset % 64, 0u);
  EXPECT_EQ(by_sig["FACS"].length, 64u);

  // RSDP -> RSDT -> FACP, APIC, WAET.
  EXPECT_EQ(le32(rsdp, 16), base + by_sig["RSDT"].offset);
  const TableSpan rsdt = by_sig["RSDT"];
  ASSERT_EQ(rsdt.length, 36u + 3 * 4);
  EXPECT_EQ(le32(tables, rsdt.offset + 36), base + by_sig["FACP"].offset);
  EXPECT_EQ(le32(tables, rsdt.offset + 40), base + by_sig["APIC"].offset);
  EXPECT_EQ(le32(tables, rsdt.offset + 44), base + by_sig["WAET"].offset);

  const size_t f = by_sig["FACP"].offset;
  EXPECT_EQ(by_sig["FACP"].length, 116u);
  EXPECT_EQ(tables[f + 8], 1);  // revision
  EXPECT_EQ(le32(tables, f + 36), base + by_sig["FACS"].offset);
  EXPECT_EQ(le32(tables, f + 40), base + by_sig["DSDT"].offset);
  EXPECT_EQ(le16(tables, f + 46), 9);
  EXPECT_EQ(le32(tables, f + 48), 0xB2u);
  EXPECT_EQ(tables[f + 52], 0xF1);
  EXPECT_EQ(tables[f + 53], 0xF0);
  EXPECT_EQ(le32(tables, f + 56), 0x600u);
  EXPECT_EQ(le32(tables, f + 64), 0x604u);
  EXPECT_EQ(le32(tables, f + 76), 0x608u);
  EXPECT_EQ(le32(tables, f + 80), 0xAFE0u);
  EXPECT_EQ(tables[f + 88], 4);
  EXPECT_EQ(tables[f + 89], 2);
  EXPECT_EQ(tables[f + 91], 4);
  EXPECT_EQ(tables[f + 92], 4);
  EXPECT_EQ(le32(tables, f + 112), 0x80A5u);

  const TableSpan madt = by_sig["APIC"];
  EXPECT_EQ(madt.length, 44u + 8 * settings.cpus + 12 + 5 * 10 + 6);
  EXPECT_EQ(le32(tables, madt.offset + 36), 0xFEE00000u);
  std::map<int, unsigned> types;
  unsigned next_cpu = 0;
  for (size_t at = madt.offset + 44; at < madt.offset + madt.length;) {
    const uint8_t type = tables[at], length = tables[at + 1];
    ASSERT_GE(length, 2);
    ++types[type];
    if (type == 0) {
      EXPECT_EQ(tables[at + 2], next_cpu);
      EXPECT_EQ(tables[at + 3], next_cpu++);
      EXPECT_EQ(le32(tables, at + 4), 1u);
    }
    if (type == 2 && tables[at + 3] == 0) {
      EXPECT_EQ(le32(tables, at + 4), 2u);  // IRQ0 -> GSI2
    }
    if (type == 2 && tables[at + 3] != 0) {
      EXPECT_EQ(le16(tables, at + 8), 0x0D);
    }
    at += length;
  }
  EXPECT_EQ(types[0], settings.cpus);
  EXPECT_EQ(types[1], 1u);
  EXPECT_EQ(types[2], 5u);
  EXPECT_EQ(types[4], 1u);

  // DSDT: PCI0's _HID then _UID 0; one Processor object per vCPU.
  const TableSpan dsdt = by_sig["DSDT"];
  const Bytes body(tables.begin() + dsdt.offset, tables.begin() + dsdt.offset + dsdt.length);
  const Bytes hid = cat({name("_HID", eisa_id("PNP0A03"))});
  auto found = std::search(body.begin(), body.end(), hid.begin(), hid.end());
  ASSERT_NE(found, body.end());
  const Bytes uid = name("_UID", integer(0));
  EXPECT_NE(std::search(found, body.end(), uid.begin(), uid.end()), body.end());
  const Bytes processor_op{0x5B, 0x83};
  unsigned processors = 0;
  for (auto it = body.begin();
       (it = std::search(it, body.end(), processor_op.begin(), processor_op.end())) != body.end();
       ++it)
    ++processors;
  EXPECT_EQ(processors, settings.cpus);
}

INSTANTIATE_TEST_SUITE_P(Cpus, AcpiTables, ::testing::Values(1u, 2u, 16u));

TEST(AcpiTablesOptions, HpetAndUid) {
  AcpiSettings settings;
  settings.hpet = true;
  settings.pci_root_uid = 1;
  const AcpiBlobs blobs = build_acpi(settings);
  Placed placed = run_loader(blobs);
  bool hpet = false;
  for (const TableSpan& span : blobs.spans) {
    if (span.signature != "HPET") continue;
    hpet = true;
    EXPECT_EQ(span.length, 56u);
    EXPECT_EQ(sum(placed.files[kTablesFile], span.offset, span.length), 0);
  }
  EXPECT_TRUE(hpet);
  const Bytes body = build_dsdt_body(settings);
  const Bytes uid = name("_UID", integer(1));
  const Bytes hid = name("_HID", eisa_id("PNP0103"));
  EXPECT_NE(std::search(body.begin(), body.end(), uid.begin(), uid.end()), body.end());
  EXPECT_NE(std::search(body.begin(), body.end(), hid.begin(), hid.end()), body.end());
}

TEST(AcpiTablesOptions, MachineTypeUid) {
  EXPECT_EQ(vmmctl::machine_pci_root_uid("pc"), 0);
  EXPECT_EQ(vmmctl::machine_pci_root_uid("pc-i440fx-7.2"), 0);
  EXPECT_EQ(vmmctl::machine_pci_root_uid("pc-i440fx-5.2"), 0);
  EXPECT_EQ(vmmctl::machine_pci_root_uid("pc-i440fx-10.0"), 0);
  EXPECT_EQ(vmmctl::machine_pci_root_uid("pc-i440fx-5.1"), 1);
  EXPECT_EQ(vmmctl::machine_pci_root_uid("pc-i440fx-1.6"), 1);
  EXPECT_EQ(vmmctl::machine_pci_root_uid("pc-1.3"), 1);
  EXPECT_EQ(vmmctl::machine_pci_root_uid("pc-0.15"), 1);
  EXPECT_EQ(vmmctl::machine_pci_root_uid("q35"), -1);
  EXPECT_EQ(vmmctl::machine_pci_root_uid("pc-q35-7.2"), -1);
  EXPECT_EQ(vmmctl::machine_pci_root_uid("pc-i440fx-7.2x"), -1);
  EXPECT_EQ(vmmctl::machine_pci_root_uid(""), -1);
}

// iasl (acpica-tools), where installed, must disassemble the DSDT cleanly.
TEST(AcpiTablesOptions, IaslDisassemblesDsdt) {
  if (std::system("command -v iasl >/dev/null 2>&1") != 0) GTEST_SKIP() << "no iasl";
  AcpiSettings settings;
  settings.cpus = 2;
  const AcpiBlobs blobs = build_acpi(settings);
  Placed placed = run_loader(blobs);
  const char* tmp = std::getenv("TMPDIR");
  const std::string dir =
      std::string(tmp ? tmp : "/tmp") + "/amber-acpi-test-" + std::to_string(::getpid());
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  for (const TableSpan& span : blobs.spans) {
    if (span.signature != "DSDT") continue;
    std::ofstream(dir + "/dsdt.aml", std::ios::binary)
        .write(reinterpret_cast<const char*>(&placed.files[kTablesFile][span.offset]), span.length);
  }
  const int rc = std::system(("cd " + dir + " && iasl -d dsdt.aml > log 2>&1").c_str());
  std::ifstream dsl(dir + "/dsdt.dsl");
  std::string source((std::istreambuf_iterator<char>(dsl)), std::istreambuf_iterator<char>());
  EXPECT_EQ(rc, 0);
  EXPECT_NE(source.find("PNP0A03"), std::string::npos);
  EXPECT_NE(source.find("Processor (C001"), std::string::npos);
  EXPECT_NE(source.find("Name (\\_S5, Package (0x04)"), std::string::npos);
  // Recompiling the disassembly finds the errors disassembly tolerates.
  EXPECT_EQ(std::system(("cd " + dir + " && iasl -p re dsdt.dsl >> log 2>&1").c_str()), 0);
  // acpiexec (same package) runs the link and device methods: PCI config
  // space reads 0 there, so LNKA is enabled on IRQ 0.
  if (std::system("command -v acpiexec >/dev/null 2>&1") == 0) {
    const std::string script =
        "evaluate \\_SB.LNKA._CRS; evaluate \\_SB.LNKA._STA; evaluate \\_SB.LNKA._DIS; "
        "evaluate \\_SB.LNKS._CRS; evaluate \\_SB.PCI0._CRS; evaluate \\_SB.CPUS.C001._STA; "
        "evaluate \\_S5; evaluate \\_SB.PCI0.ISA.COM1._CRS";
    EXPECT_EQ(std::system(("cd " + dir + " && timeout 60 acpiexec -b \"" + script +
                           "\" dsdt.aml > exec.log 2>&1")
                              .c_str()),
              0);
    std::ifstream log(dir + "/exec.log");
    std::string out((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    EXPECT_EQ(out.find("ACPI Error"), std::string::npos) << out;
    EXPECT_EQ(out.find("failed with status"), std::string::npos) << out;
    EXPECT_NE(out.find("89 06 00 09 01 00 00 00 00 79 00"), std::string::npos) << out;  // LNKA
    EXPECT_NE(out.find("89 06 00 09 01 09 00 00 00 79 00"), std::string::npos) << out;  // LNKS
    EXPECT_NE(out.find("[Integer] = 000000000000000B"), std::string::npos) << out;
  }
  EXPECT_EQ(std::system(("rm -rf " + dir).c_str()), 0);
}

}  // namespace
}  // namespace amber::hv::acpi
