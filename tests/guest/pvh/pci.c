// SPDX-License-Identifier: GPL-2.0-or-later
/* PCI config access and BAR assignment for the probe guest (see pci.h). */
#include "pci.h"

#define PCI_ADDR 0xCF8
#define PCI_DATA 0xCFC
#define PCI_COMMAND 0x04
#define PCI_BAR0 0x10

/* Allocation cursors; chosen far above guest RAM (the tests use <= 1 GiB). */
static u32 next_mmio = 0xE0000000u;
static u32 next_io = 0xC000u;

static void select_reg(const PciDevice* d, u8 reg) {
  outl(PCI_ADDR,
       0x80000000u | ((u32)d->bus << 16) | ((u32)d->dev << 11) | ((u32)d->fn << 8) | (reg & 0xFCu));
}

u32 pci_read32(const PciDevice* d, u8 reg) {
  select_reg(d, reg);
  return inl(PCI_DATA);
}

u16 pci_read16(const PciDevice* d, u8 reg) {
  select_reg(d, reg);
  return inw(PCI_DATA + (reg & 2));
}

u8 pci_read8(const PciDevice* d, u8 reg) {
  select_reg(d, reg);
  return inb(PCI_DATA + (reg & 3));
}

void pci_write32(const PciDevice* d, u8 reg, u32 v) {
  select_reg(d, reg);
  outl(PCI_DATA, v);
}

void pci_write16(const PciDevice* d, u8 reg, u16 v) {
  select_reg(d, reg);
  outw(PCI_DATA + (reg & 2), v);
}

int pci_find(u16 vendor, u16 id_a, u16 id_b, PciDevice* out) {
  for (u8 dev = 0; dev < 32; dev++) {
    for (u8 fn = 0; fn < 8; fn++) {
      PciDevice d = {0};
      d.dev = dev;
      d.fn = fn;
      u32 id = pci_read32(&d, 0);
      if ((id & 0xFFFF) == 0xFFFF || id == 0) {
        if (fn == 0) break;
        continue;
      }
      print("PROBE: pci 00:%x.%u %x:%x\n", dev, fn, id & 0xFFFF, id >> 16);
      if ((id & 0xFFFF) == vendor && ((id >> 16) == id_a || (id >> 16) == id_b)) {
        d.vendor = (u16)id;
        d.device = (u16)(id >> 16);
        *out = d;
        return 1;
      }
      if (fn == 0 && !(pci_read8(&d, 0x0E) & 0x80)) break; /* single-function device */
    }
  }
  return 0;
}

void mode_pciscan(void) {
  u32 found = 0;
  for (u8 dev = 0; dev < 32; dev++) {
    for (u8 fn = 0; fn < 8; fn++) {
      PciDevice d = {0};
      d.dev = dev;
      d.fn = fn;
      u32 id = pci_read32(&d, 0);
      if ((id & 0xFFFF) == 0xFFFF || id == 0) {
        if (fn == 0) break;
        continue;
      }
      u32 class_rev = pci_read32(&d, 0x08);
      print("PCI 00:%x.%u %x:%x class %x pin %u\n", dev, fn, id & 0xFFFF, id >> 16, class_rev >> 8,
            pci_read8(&d, 0x3D));
      found++;
      if (fn == 0 && !(pci_read8(&d, 0x0E) & 0x80)) break; /* single-function device */
    }
  }
  print("PROBE: RESULT PASS pciscan %u functions\n", found);
  if (cmdline_u32("idle", 0))
    for (;;) __asm__ volatile("cli; hlt"); /* for a host that reads the console */
  guest_exit(0);
}

void pci_setup_bars(PciDevice* d) {
  u16 cmd = pci_read16(d, PCI_COMMAND);
  pci_write16(d, PCI_COMMAND, cmd & (u16)~0x7u); /* decode off while sizing */
  for (u8 i = 0; i < 6; i++) {
    u8 reg = (u8)(PCI_BAR0 + 4 * i);
    u32 orig = pci_read32(d, reg);
    pci_write32(d, reg, 0xFFFFFFFFu);
    u32 probe = pci_read32(d, reg);
    pci_write32(d, reg, orig);
    d->bar[i] = 0;
    if (probe == 0) continue;
    if (orig & 1) { /* I/O BAR */
      u32 size = ~(probe & ~0x3u) + 1;
      size &= 0xFFFF;
      u32 base = orig & ~0x3u;
      if (base == 0 && size) {
        base = (next_io + size - 1) & ~(size - 1);
        next_io = base + size;
        pci_write32(d, reg, base);
        print("PROBE: assigned io bar%u at %x size %x\n", i, base, size);
      }
      d->bar[i] = base;
      d->bar_is_io[i] = 1;
      continue;
    }
    int is64 = ((orig >> 1) & 3) == 2;
    u32 size = ~(probe & ~0xFu) + 1;
    u32 base = orig & ~0xFu;
    u32 high = 0;
    if (is64 && i < 5) {
      high = pci_read32(d, (u8)(reg + 4));
    }
    if (size && (base == 0 || high != 0)) {
      base = (next_mmio + size - 1) & ~(size - 1);
      next_mmio = base + size;
      pci_write32(d, reg, base | (orig & 0xFu));
      if (is64) pci_write32(d, (u8)(reg + 4), 0);
      print("PROBE: assigned mem bar%u at %x size %x%s\n", i, base, size, is64 ? " (64-bit)" : "");
    } else {
      print("PROBE: mem bar%u at %x size %x (kept)\n", i, base, size);
    }
    d->bar[i] = base;
    if (is64) i++; /* the high half occupies the next BAR slot */
  }
  pci_write16(d, PCI_COMMAND, (u16)(cmd | 0x7u)); /* I/O + memory + bus master */
}
