// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * PCI configuration mechanism #1 (0xCF8/0xCFC) and a tiny BAR allocator for
 * direct boot, where no firmware has programmed the BARs.
 */
#pragma once
#include "lib.h"

typedef struct {
  u8 bus, dev, fn;
  u16 vendor, device;
  u32 bar[6]; /* decoded base addresses (memory or I/O), 0 if none */
  u8 bar_is_io[6];
} PciDevice;

u32 pci_read32(const PciDevice* d, u8 reg);
u16 pci_read16(const PciDevice* d, u8 reg);
u8 pci_read8(const PciDevice* d, u8 reg);
void pci_write32(const PciDevice* d, u8 reg, u32 v);
void pci_write16(const PciDevice* d, u8 reg, u16 v);

/* Finds the first function on bus 0 matching vendor and one of two ids. */
int pci_find(u16 vendor, u16 id_a, u16 id_b, PciDevice* out);

/* Reads every BAR; assigns unprogrammed (or above-4G) memory/I/O BARs from
 * 0xE0000000 / 0xC000 upwards; enables I/O, memory decode and bus mastering.
 * Prints what it did. */
void pci_setup_bars(PciDevice* d);

/* The probe's test=vga mode (vga_probe.c): the standard VGA's DISPI. */
void mode_vga(void) __attribute__((noreturn));
/* test=e1000, e1000tap, e1000bench (e1000_probe.c): the 82540EM NIC. */
void mode_e1000(void) __attribute__((noreturn));
/* test=vnet, vnettap, vnetbench (virtio_net_probe.c): virtio-net. */
void mode_vnet(void) __attribute__((noreturn));
void mode_vgaloop(void) __attribute__((noreturn));
/* test=usb (usb_probe.c): the PIIX3 UHCI and the HID device on port 1. */
void mode_usb(void) __attribute__((noreturn));
/* test=pciscan (pci.c): one "PCI 00:SLOT.FN VENDOR:DEVICE class C pin P"
 * line per function on bus 0, then PASS and exit (idle=1: halt). */
void mode_pciscan(void) __attribute__((noreturn));
void mode_fdc(void) __attribute__((noreturn));
/* The same for the UHCI 8086:device_id (an ICH9 companion). */
void usb_probe_uhci(u16 device_id) __attribute__((noreturn));
/* test=ehci, ehcihandoff (ehci_probe.c): the ICH9 EHCI and its tablet. */
void mode_ehci(void) __attribute__((noreturn));
