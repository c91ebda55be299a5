// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test=vga: the standard VGA (1234:1111). Finds it on bus 0, assigns its
 * BARs, checks the DISPI identity (ports 0x1CE/0x1CF) and the video memory
 * size, sets 1024x768x32 through DISPI, reads the mode back through BAR2's
 * MMIO registers, and draws vga_pixel(x, y) into BAR0 (the framebuffer).
 * Then it moves BAR0 to another address and checks the pixels are there
 * (the memory follows the BAR), moves it back, prints "VGA: READY" and
 * idles so the host takes a screendump; with tick=1 it then recolours a
 * 16x16 square at (200, 300) once a second (vgaloop_color(tick)).
 *
 * test=vgaloop [width=1024] [height=768]: sets WIDTHxHEIGHTx32 and redraws
 * the whole screen in a loop, every pixel a new colour each frame (frame n
 * is one solid colour, vgaloop_color(n)), printing "VGALOOP: READY" after
 * the first frame and "VGALOOP: frames N" every 256: the load of the VNC
 * frame-rate benchmark. Single-threaded guest code.
 */
#include "lib.h"
#include "pci.h"

#define DISPI_INDEX 0x1CE
#define DISPI_DATA 0x1CF
#define VGA_WIDTH 1024
#define VGA_HEIGHT 768
#define MOVED_BAR0 0xD0000000u
#define TICK_X 200
#define TICK_Y 300
#define TICK_SIZE 16

static void dispi_write(u16 index, u16 value) {
  outw(DISPI_INDEX, index);
  outw(DISPI_DATA, value);
}

static u16 dispi_read(u16 index) {
  outw(DISPI_INDEX, index);
  return inw(DISPI_DATA);
}

/* The pattern the host recomputes: 0x00RRGGBB. */
static u32 vga_pixel(u32 x, u32 y) {
  u32 r = (x * 7 + y) & 0xFF, g = (y * 3) & 0xFF, b = (x ^ y) & 0xFF;
  return (r << 16) | (g << 8) | b;
}

static void check_pixels(uptr fb, const char* what) {
  for (u32 y = 0; y < VGA_HEIGHT; y += 37)
    for (u32 x = 0; x < VGA_WIDTH; x += 13)
      if (mmio_read32(fb + (y * VGA_WIDTH + x) * 4) != vga_pixel(x, y)) {
        print("VGA: FAIL pixel %u,%u %s\n", x, y, what);
        guest_exit(3);
      }
}

static void set_mode(u32 width, u32 height) {
  dispi_write(4, 0);
  dispi_write(1, (u16)width);
  dispi_write(2, (u16)height);
  dispi_write(3, 32);
  dispi_write(4, 0x41); /* enabled | LFB */
}

/* 32-bit stores of `value` over n pixels (rep stosl: one instruction for
   the whole screen, no exits while the framebuffer is a memory slot). */
static void fill32(uptr fb, u32 value, u32 n) {
  __asm__ volatile("cld; rep stosl" : "+D"(fb), "+c"(n) : "a"(value) : "memory");
}

static u32 vgaloop_color(u32 frame) {
  return ((frame * 0x3B) & 0xFF) << 16 | ((frame * 0x95) & 0xFF) << 8 | ((frame * 0x17 + 1) & 0xFF);
}

void mode_vgaloop(void) {
  u32 width = cmdline_u32("width", VGA_WIDTH), height = cmdline_u32("height", VGA_HEIGHT);
  PciDevice pci;
  if (!pci_find(0x1234, 0x1111, 0x1111, &pci)) {
    print("VGALOOP: FAIL no 1234:1111 on bus 0\n");
    guest_exit(3);
  }
  pci_setup_bars(&pci);
  const uptr fb = pci.bar[0];
  set_mode(width, height);
  if (dispi_read(1) != width || dispi_read(2) != height) {
    print("VGALOOP: FAIL mode %ux%u not taken\n", width, height);
    guest_exit(3);
  }
  print("VGALOOP: mode %ux%ux32\n", width, height);
  for (u32 frame = 0;; frame++) {
    fill32(fb, vgaloop_color(frame), width * height);
    if (frame == 0) print("VGALOOP: READY\n");
    if ((frame & 255) == 255) print("VGALOOP: frames %u\n", frame + 1);
  }
}

void mode_vga(void) {
  PciDevice pci;
  if (!pci_find(0x1234, 0x1111, 0x1111, &pci)) {
    print("VGA: FAIL no 1234:1111 on bus 0\n");
    guest_exit(3);
  }
  print("VGA: class %x subsystem %x\n", pci_read32(&pci, 0x08) >> 8, pci_read32(&pci, 0x2C));
  pci_setup_bars(&pci);
  const uptr fb = pci.bar[0], mmio = pci.bar[2];
  u16 id = dispi_read(0);
  u16 mem64k = dispi_read(10);
  print("VGA: dispi id %x vram %u KiB\n", id, mem64k * 64);
  if (id != 0xB0C5) {
    print("VGA: FAIL dispi id\n");
    guest_exit(3);
  }
  dispi_write(4, 0);
  dispi_write(1, VGA_WIDTH);
  dispi_write(2, VGA_HEIGHT);
  dispi_write(3, 32);
  dispi_write(4, 0x41); /* enabled | LFB */
  u16 x = mmio_read16(mmio + 0x500 + 2 * 1), y = mmio_read16(mmio + 0x500 + 2 * 2);
  u16 bpp = mmio_read16(mmio + 0x500 + 2 * 3);
  print("VGA: mode %ux%ux%u\n", x, y, bpp);
  if (x != VGA_WIDTH || y != VGA_HEIGHT || bpp != 32) {
    print("VGA: FAIL mode readback\n");
    guest_exit(3);
  }
  u64 t0 = rdtsc();
  for (u32 row = 0; row < VGA_HEIGHT; row++)
    for (u32 col = 0; col < VGA_WIDTH; col++)
      mmio_write32(fb + (row * VGA_WIDTH + col) * 4, vga_pixel(col, row));
  u64 t1 = rdtsc();
  print("VGA: drew %u pixels in %U cycles\n", VGA_WIDTH * VGA_HEIGHT, t1 - t0);
  check_pixels(fb, "after drawing");
  /* Move BAR0: the framebuffer must follow. */
  pci_write32(&pci, 0x10, MOVED_BAR0 | 0x8);
  check_pixels(MOVED_BAR0, "at the moved BAR0");
  pci_write32(&pci, 0x10, fb | 0x8);
  check_pixels(fb, "after moving back");
  print("VGA: READY\n");
  /* tick=1: about once a second (1e9 TSC cycles) a 16x16 square at
     (TICK_X, TICK_Y) takes a new colour: a small change a VNC client must
     get as a small update. */
  if (cmdline_u32("tick", 0)) {
    for (u32 tick = 1;; tick++) {
      u64 deadline = deadline_after(1);
      while (!deadline_passed(deadline)) {
      }
      for (u32 row = TICK_Y; row < TICK_Y + TICK_SIZE; row++)
        for (u32 col = TICK_X; col < TICK_X + TICK_SIZE; col++)
          mmio_write32(fb + (row * VGA_WIDTH + col) * 4, vgaloop_color(tick));
      print("VGA: tick %u\n", tick);
    }
  }
  for (;;) __asm__ volatile("cli; hlt");
}
