// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ACPI probe, stage 2 (32-bit, flat): finds the RSDP in the BIOS area
 * E0000-FFFFF, walks the RSDT, checks every table's checksum and prints
 * one line per table and the FADT, MADT and DSDT facts the host compares
 * (with amber-vmm and with QEMU) on COM1; then reads PMBASE from the PIIX4
 * PM function and checks the PM timer at the FADT's address ticks.
 * "ACPI RESULT PASS" and exit code 0 through port 0x501 when every check
 * held, "ACPI RESULT FAIL" and 1 otherwise. Single-threaded.
 *
 * With the byte after "ACPIMODE=" patched from '0' to '1' (the power-button
 * test does), a passing walk goes on as an ACPI OS does with the power
 * button, from what the tables say: SLP_TYPa of \_S5 from the DSDT, ACPI
 * enabled by writing the FADT's ACPI_ENABLE to its SMI_CMD (SCI_EN must
 * then read 1 in PM1a_CNT), PWRBTN_EN set in PM1a_EN, the SCI's IRQ made
 * level-triggered in the ELCR and unmasked in the PICs, "ACPI POWER READY".
 * Interrupts stay off (this software KVM cannot return from a protected-mode
 * interrupt), so the probe sees the SCI as the slave PIC's request bit
 * (OCW3 read of IRR): once it is set, PWRBTN_STS must be set, writing 1
 * clears it and the request must drop (a level SCI follows the status);
 * then S5 through PM1a_CNT = SLP_TYPa | SLP_EN. A press before READY, a
 * request without PWRBTN_STS or a VM still running after S5 is a FAIL.
 */
#include "lib.h"

static int failures;

static void fail(const char* what) {
  print("ACPI FAIL %s\n", what);
  ++failures;
}

static u8 checksum(const u8* p, u32 n) {
  u8 s = 0;
  for (u32 i = 0; i < n; ++i) s = (u8)(s + p[i]);
  return s;
}

static u32 rd32(const u8* p) {
  return p[0] | (p[1] << 8) | (p[2] << 16) | ((u32)p[3] << 24);
}
static u16 rd16(const u8* p) {
  return (u16)(p[0] | (p[1] << 8));
}

static void sig_text(const u8* p, char* out) {
  for (int i = 0; i < 4; ++i) out[i] = (p[i] >= 0x20 && p[i] < 0x7F) ? (char)p[i] : '?';
  out[4] = 0;
}

static const u8* find_rsdp(void) {
  for (u32 a = 0xE0000; a < 0x100000; a += 16) {
    const u8* p = (const u8*)a;
    if (memcmp(p, "RSD PTR ", 8) == 0 && checksum(p, 20) == 0) return p;
  }
  return NULL;
}

/* Sane header: length at least 36, not beyond 4 GiB, and checksum 0. */
static int table_ok(const u8* t, const char* sig) {
  char s[5];
  sig_text(t, s);
  const u32 len = rd32(t + 4);
  const int ok = len >= 36 && len < 0x100000 && checksum(t, len) == 0;
  char oem[7];
  for (int i = 0; i < 6; ++i) oem[i] = (char)t[10 + i];
  oem[6] = 0;
  print("TABLE sig=%s len=%u rev=%u csum=%s oem=%s\n", s, len, t[8], ok ? "ok" : "bad", oem);
  if (!ok) fail(s);
  if (sig && memcmp(t, sig, 4) != 0) fail("signature");
  return ok;
}

static void walk_madt(const u8* t) {
  const u32 len = rd32(t + 4);
  u32 counts[6] = {0};
  u32 other = 0;
  print("MADT lapic_addr=0x%x flags=%u\n", rd32(t + 36), rd32(t + 40));
  for (u32 at = 44; at + 2 <= len;) {
    const u8* e = t + at;
    if (e[1] < 2 || at + e[1] > len) {
      fail("MADT entry length");
      break;
    }
    if (e[0] < 6)
      counts[e[0]]++;
    else
      other++;
    if (e[0] == 0) print("LAPIC uid=%u apic=%u flags=%u\n", e[2], e[3], rd32(e + 4));
    if (e[0] == 1) print("IOAPIC id=%u addr=0x%x gsi_base=%u\n", e[2], rd32(e + 4), rd32(e + 8));
    if (e[0] == 2) print("ISO irq=%u gsi=%u flags=0x%x\n", e[3], rd32(e + 4), rd16(e + 8));
    if (e[0] == 4) print("NMI uid=0x%x flags=0x%x lint=%u\n", e[2], rd16(e + 3), e[5]);
    at += e[1];
  }
  print("MADT lapic=%u ioapic=%u iso=%u nmi=%u other=%u\n", counts[0], counts[1], counts[2],
        counts[4], other + counts[3] + counts[5]);
}

/* \_SB.PCI0: Name(_HID, EisaId("PNP0A03")), then the first _UID after it. */
static void find_pci0_uid(const u8* t, u32 len) {
  static const u8 hid[] = {0x08, '_', 'H', 'I', 'D', 0x0C, 0x41, 0xD0, 0x0A, 0x03};
  for (u32 i = 36; i + sizeof hid <= len; ++i) {
    if (memcmp(t + i, hid, sizeof hid) != 0) continue;
    for (u32 j = i + sizeof hid; j + 7 <= len && j < i + 256; ++j) {
      if (memcmp(t + j, "\x08_UID", 5) != 0) continue;
      const u8* v = t + j + 5;
      u32 uid = v[0] == 0x0A ? v[1] : v[0] == 0x00 ? 0 : v[0] == 0x01 ? 1 : 0xFFFFFFFF;
      print("DSDT pci0_uid=%u\n", uid);
      return;
    }
  }
  fail("PCI0 _UID not found");
}

/* Every Name(_HID, ...) in the DSDT: EisaId or string, in stream order. */
static void list_hids(const u8* t, u32 len) {
  static const char hex[] = "0123456789ABCDEF";
  puts_serial("DSDT hids=");
  for (u32 i = 36; i + 10 <= len; ++i) {
    if (memcmp(t + i, "\x08_HID", 5) != 0) continue;
    const u8* v = t + i + 5;
    char id[16];
    if (v[0] == 0x0C) {
      const u32 vendor = (v[1] << 8) | v[2];
      id[0] = (char)('@' + ((vendor >> 10) & 0x1F));
      id[1] = (char)('@' + ((vendor >> 5) & 0x1F));
      id[2] = (char)('@' + (vendor & 0x1F));
      id[3] = hex[v[3] >> 4];
      id[4] = hex[v[3] & 15];
      id[5] = hex[v[4] >> 4];
      id[6] = hex[v[4] & 15];
      id[7] = 0;
    } else if (v[0] == 0x0D) {
      u32 n = 0;
      while (n < 15 && i + 6 + n < len && v[1 + n] >= 0x20 && v[1 + n] < 0x7F) {
        id[n] = (char)v[1 + n];
        ++n;
      }
      id[n] = 0;
    } else {
      continue;
    }
    print("%s,", id);
  }
  puts_serial("\n");
}

static u32 pci_read32(u32 dev, u32 fn, u32 reg) {
  outl(0xCF8, 0x80000000u | (dev << 11) | (fn << 8) | reg);
  return inl(0xCFC);
}

static void check_fadt(const u8* f) {
  const u32 pm_tmr = rd32(f + 76);
  print("FADT flags=0x%x sci=%u smi=0x%x enable=0x%x disable=0x%x int_model=%u\n", rd32(f + 112),
        rd16(f + 46), rd32(f + 48), f[52], f[53], f[44]);
  print("FADT pm1a_evt=0x%x pm1a_cnt=0x%x pm_tmr=0x%x gpe0=0x%x lens=%u,%u,%u,%u\n", rd32(f + 56),
        rd32(f + 64), pm_tmr, rd32(f + 80), f[88], f[89], f[91], f[92]);
  const u8* facs = (const u8*)rd32(f + 36);
  if (memcmp(facs, "FACS", 4) != 0) fail("FACS signature");
  print("FACS len=%u\n", rd32(facs + 4));
  const u8* dsdt = (const u8*)rd32(f + 40);
  if (table_ok(dsdt, "DSDT")) {
    find_pci0_uid(dsdt, rd32(dsdt + 4));
    list_hids(dsdt, rd32(dsdt + 4));
  }

  /* What SeaBIOS programmed must be where the FADT says. */
  const u32 pmbase = pci_read32(1, 3, 0x40);
  print("PMBASE cfg=0x%x\n", pmbase);
  if ((pmbase & 0xFFC0) != rd32(f + 56)) fail("PMBASE differs from PM1a_EVT");
  const u32 t0 = inl((u16)pm_tmr) & 0xFFFFFF;
  u32 t1 = t0;
  for (u32 i = 0; i < 1000000 && t1 == t0; ++i) t1 = inl((u16)pm_tmr) & 0xFFFFFF;
  print("PMTMR %s\n", t1 != t0 ? "ticks" : "stuck");
  if (t1 == t0) fail("PM timer");
}

/* The power-button mode marker: the test patches '0' to '1' in the image. */
static volatile const char acpi_mode[] = "ACPIMODE=0";

static const u8* fadt_seen;

/* SLP_TYPa of \_S5: Name(_S5_, Package(){a, b, ...}) in the DSDT. */
static int s5_slp_typ(const u8* dsdt) {
  const u32 len = rd32(dsdt + 4);
  for (u32 i = 38; i + 9 <= len; ++i) {
    if (memcmp(dsdt + i, "_S5_\x12", 5) != 0) continue;
    /* NameOp, then the name with or without the root prefix */
    if (dsdt[i - 1] != 0x08 && !(dsdt[i - 1] == '\\' && dsdt[i - 2] == 0x08)) continue;
    const u8* pkg = dsdt + i + 5;
    if (pkg[0] & 0xC0) return -1; /* a one-byte PkgLength is all a small package needs */
    const u8* e = pkg + 2;        /* past PkgLength and NumElements */
    if (e[0] == 0x0A) return e[1];
    if (e[0] == 0x00 || e[0] == 0x01) return e[0];
    return -1;
  }
  return -1;
}

static u8 pic_slave_irr(void) {
  outb(0xA0, 0x0A); /* OCW3: read IRR */
  return inb(0xA0);
}

static void power_button(const u8* f) {
  const u16 smi_cmd = (u16)rd32(f + 48);
  const u16 evt = (u16)rd32(f + 56);
  const u16 cnt = (u16)rd32(f + 64);
  const u32 sci = rd16(f + 46);
  const int slp_typ = s5_slp_typ((const u8*)rd32(f + 40));
  print("ACPI POWER s5_slp_typ=%d sci=%u\n", slp_typ, sci);
  if (slp_typ < 0 || sci < 8 || sci > 15) {
    fail("no _S5 package or an SCI off the slave PIC");
    return;
  }
  if (!(inw(cnt) & 1)) outb(smi_cmd, f[52]);
  for (u32 i = 0; i < 100000 && !(inw(cnt) & 1); ++i) {
  }
  if (!(inw(cnt) & 1)) {
    fail("SCI_EN after ACPI_ENABLE");
    return;
  }
  print("ACPI POWER sci_en=1\n");
  if (inw(evt) & 0x100) {
    fail("PWRBTN_STS set before any press");
    return;
  }
  const u8 bit = (u8)(1u << (sci - 8));
  outb(0x4D1, (u8)(inb(0x4D1) | bit)); /* ELCR: level, as an OS sets the SCI */
  outb(0xA1, (u8)(inb(0xA1) & ~bit));
  outb(0x21, (u8)(inb(0x21) & ~4)); /* the cascade */
  outw((u16)(evt + 2), (u16)(inw((u16)(evt + 2)) | 0x100));
  if (!(inw((u16)(evt + 2)) & 0x100)) {
    fail("PWRBTN_EN does not stick");
    return;
  }
  if (pic_slave_irr() & bit) {
    fail("SCI pending before any press");
    return;
  }
  print("ACPI POWER READY\n");
  while (!(pic_slave_irr() & bit)) {
  }
  const u16 sts = inw(evt);
  print("ACPI POWER sci pm1_sts=0x%x\n", sts);
  if (!(sts & 0x100)) {
    fail("an SCI without PWRBTN_STS");
    return;
  }
  outw(evt, 0x100);
  if (inw(evt) & 0x100) fail("PWRBTN_STS does not clear");
  if (pic_slave_irr() & bit) fail("the SCI stays asserted after PWRBTN_STS is cleared");
  if (failures) return;
  print("ACPI POWER S5\n");
  outw(cnt, (u16)((inw(cnt) & 1) | (slp_typ << 10) | 0x2000));
  for (u32 i = 0; i < 10000000; ++i) inb(0x80);
  fail("still running after S5");
}

void stage2_main(void) {
  serial_init();
  puts_serial("ACPI probe\n");
  const u8* rsdp = find_rsdp();
  if (!rsdp) {
    fail("no RSDP in E0000-FFFFF");
  } else {
    char oem[7];
    for (int i = 0; i < 6; ++i) oem[i] = (char)rsdp[9 + i];
    oem[6] = 0;
    const u8* rsdt = (const u8*)rd32(rsdp + 16);
    print("RSDP addr=0x%x rev=%u oem=%s rsdt=0x%x\n", (u32)rsdp, rsdp[15], oem, (u32)rsdt);
    if (table_ok(rsdt, "RSDT")) {
      const u32 n = (rd32(rsdt + 4) - 36) / 4;
      for (u32 i = 0; i < n; ++i) {
        const u8* t = (const u8*)rd32(rsdt + 36 + 4 * i);
        if (!table_ok(t, NULL)) continue;
        if (memcmp(t, "FACP", 4) == 0) {
          check_fadt(t);
          fadt_seen = t;
        }
        if (memcmp(t, "APIC", 4) == 0) walk_madt(t);
      }
    }
  }
  if (acpi_mode[9] == '1' && fadt_seen && !failures) power_button(fadt_seen);
  print("ACPI RESULT %s\n", failures ? "FAIL" : "PASS");
  guest_exit(failures ? 1 : 0);
}
