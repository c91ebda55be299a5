// SPDX-License-Identifier: GPL-2.0-or-later
// The DSDT body of QEMU 7.2 `pc` as far as amber-vmm's platform has the
// devices: \_SB.PCI0 (PNP0A03) with its _CRS and _PRT, the PIIX3 ISA
// bridge with RTC, keyboard, mouse, floppy controller and COM1, the PCI
// interrupt links LNKA-D / LNKS, the processor container \_SB.CPUS and
// \_S5 and the GPE0 port reservation. No S3/S4 (suspend is not implemented), no hotplug, no LPT
// (QEMU declares it only with a parallel port). Thread-safety: pure functions.
#include <cstdio>

#include "hv/acpi/tables.h"

namespace amber::hv::acpi {
namespace {
constexpr unsigned kIsaSlot = 1;  // 00:01.0 PIIX3
constexpr uint8_t kByteAcc = 1;

Bytes sta(uint8_t value) {
  return method("_STA", 0, false, ret(integer(value)));
}

Bytes isa_devices() {
  Bytes rtc = device(
      "RTC",
      cat({name("_HID", eisa_id("PNP0B00")),
           name("_CRS", ResourceTemplate().io(0x70, 0x70, 1, 8).irq_no_flags({8}).buffer())}));
  Bytes kbd = device("KBD", cat({name("_HID", eisa_id("PNP0303")), sta(0x0F),
                                 name("_CRS", ResourceTemplate()
                                                  .io(0x60, 0x60, 1, 1)
                                                  .io(0x64, 0x64, 1, 1)
                                                  .irq_no_flags({1})
                                                  .buffer())}));
  Bytes mouse = device("MOU", cat({name("_HID", eisa_id("PNP0F13")), sta(0x0F),
                                   name("_CRS", ResourceTemplate().irq_no_flags({12}).buffer())}));
  Bytes fdc =
      device("FDC0", cat({name("_HID", eisa_id("PNP0700")), name("_CRS", ResourceTemplate()
                                                                             .io(0x3F2, 0x3F2, 0, 4)
                                                                             .io(0x3F7, 0x3F7, 0, 1)
                                                                             .irq_no_flags({6})
                                                                             .dma(1u << 2, 0)
                                                                             .buffer())}));
  Bytes com1 = device(
      "COM1",
      cat({name("_HID", eisa_id("PNP0501")), name("_UID", integer(1)), sta(0x0F),
           name("_CRS", ResourceTemplate().io(0x3F8, 0x3F8, 0, 8).irq_no_flags({4}).buffer())}));
  return cat({rtc, kbd, mouse, fdc, com1});
}

Bytes pci0_crs(const AcpiSettings& settings) {
  return ResourceTemplate()
      .word_bus(0x00, 0xFF)
      .word_io(0x0000, 0x0CF7)
      .word_io(0x0D00, 0xFFFF)
      .dword_memory(0x000A0000, 0x000BFFFF, true)
      .dword_memory(settings.pci_hole_start, kIoApicAddress - 1, false)
      .buffer();
}

// Slot S pin P (0 = INTA) -> link (S + P) mod 4 with 0 = LNKD, as PIIX3
// routes it (PIRQ (S - 1 + P) mod 4); slot 1 INTA is the PM function's
// SCI, wired to GSI 9 (LNKS).
Bytes pci0_prt() {
  static const char* const kLinks[4] = {"LNKD", "LNKA", "LNKB", "LNKC"};
  std::vector<Bytes> entries;
  for (unsigned slot = 0; slot < 32; ++slot) {
    for (unsigned pin = 0; pin < 4; ++pin) {
      const char* link = slot == 1 && pin == 0 ? "LNKS" : kLinks[(slot + pin) % 4];
      entries.push_back(
          package({integer((slot << 16) | 0xFFFF), integer(pin), name_string(link), integer(0)}));
    }
  }
  return name("_PRT", package(entries));
}

// QEMU's "GPE0 resources" container: reserves the GPE0 block's ports so
// the OS assigns them to nothing else.
Bytes gpe0_resources() {
  return device("GPE0",
                cat({name("_HID", string("PNP0A06")), name("_UID", string("GPE0 resources")),
                     name("_STA", integer(0x0B)),
                     name("_CRS", ResourceTemplate().io(kGpe0Base, kGpe0Base, 1, 4).buffer())}));
}

Bytes pci0(const AcpiSettings& settings) {
  Bytes isa = device(
      "ISA", cat({name("_ADR", integer(kIsaSlot << 16)),
                  operation_region("P40C", RegionSpace::kPciConfig, 0x60, 4), isa_devices()}));
  return device("PCI0", cat({name("_HID", eisa_id("PNP0A03")), name("_ADR", integer(0)),
                             name("_UID", integer(settings.pci_root_uid)),
                             name("_CRS", pci0_crs(settings)), pci0_prt(), isa, gpe0_resources()}));
}

// The PIIX3 PIRQ route registers 0x60-0x63 (bit 7 = disabled) behind
// LNKA-D, with QEMU's helpers IQST (status) and IQCR (current resource).
Bytes interrupt_links() {
  Bytes out =
      field("\\_SB.PCI0.ISA.P40C", kByteAcc, {{"PRQ0", 8}, {"PRQ1", 8}, {"PRQ2", 8}, {"PRQ3", 8}});
  append(out,
         method("IQST", 1, false,
                cat({if_(and_(integer(0x80), arg(0)), ret(integer(0x09))), ret(integer(0x0B))})));
  append(out, method("IQCR", 1, true,
                     cat({name("PRR0", ResourceTemplate().interrupt({0}).buffer()),
                          create_dword_field(name_string("PRR0"), integer(5), "PRRI"),
                          if_(lless(arg(0), integer(0x80)), store(arg(0), name_string("PRRI"))),
                          ret(name_string("PRR0"))})));
  const char* const links[4] = {"LNKA", "LNKB", "LNKC", "LNKD"};
  for (unsigned i = 0; i < 4; ++i) {
    char reg[8];
    std::snprintf(reg, sizeof(reg), "PRQ%u", i);
    const Bytes prq = name_string(reg);
    append(out,
           device(links[i], cat({name("_HID", eisa_id("PNP0C0F")), name("_UID", integer(i)),
                                 name("_PRS", ResourceTemplate().interrupt({5, 10, 11}).buffer()),
                                 method("_STA", 0, false, ret(cat({name_string("IQST"), prq}))),
                                 method("_DIS", 0, false, or_(prq, integer(0x80), prq)),
                                 method("_CRS", 0, false, ret(cat({name_string("IQCR"), prq}))),
                                 method("_SRS", 1, false,
                                        cat({create_dword_field(arg(0), integer(5), "PRRI"),
                                             store(name_string("PRRI"), prq)}))})));
  }
  append(out, device("LNKS", cat({name("_HID", eisa_id("PNP0C0F")), name("_UID", integer(4)),
                                  name("_PRS", ResourceTemplate().interrupt({9}).buffer()),
                                  sta(0x0B), method("_SRS", 1, false, {}),
                                  method("_CRS", 0, false, ret(name_string("_PRS"))),
                                  method("_DIS", 0, false, {})})));
  return out;
}

// Processor objects as QEMU 7.2 (ACPI 1.0 compatible form): one per vCPU,
// processor id = APIC id = the vCPU index, no P_BLK.
Bytes cpus(const AcpiSettings& settings) {
  Bytes body = cat({name("_HID", string("ACPI0010")), name("_CID", eisa_id("PNP0A05"))});
  for (unsigned cpu = 0; cpu < settings.cpus; ++cpu) {
    char path[8];
    std::snprintf(path, sizeof(path), "C%03X", cpu & 0xFFF);
    const uint8_t id = static_cast<uint8_t>(cpu);
    const Bytes lapic{0, 8, id, id, 1, 0, 0, 0};  // the MADT entry
    append(body, processor(path, id, 0, 0, cat({sta(0x0F), name("_MAT", buffer(lapic))})));
  }
  return device("CPUS", body);
}

Bytes hpet_device() {
  return device("HPET",
                cat({name("_HID", eisa_id("PNP0103")), name("_UID", integer(0)), sta(0x0F),
                     name("_CRS", ResourceTemplate().memory32_fixed(0xFED00000, 0x400).buffer())}));
}
}  // namespace

Bytes build_dsdt_body(const AcpiSettings& settings) {
  Bytes sb = cat({pci0(settings), interrupt_links(), cpus(settings)});
  if (settings.hpet) append(sb, hpet_device());
  return cat({scope("\\_SB", sb), scope("\\_GPE", name("_HID", string("ACPI0006"))),
              name("\\_S5", package({integer(0), integer(0), integer(0), integer(0)}))});
}

}  // namespace amber::hv::acpi
