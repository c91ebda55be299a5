// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Freestanding support for the probe guest: port I/O, MMIO, COM1 output,
 * a small printf, memory helpers, the cmdline parser, TSC and the exit port.
 * Single-threaded guest code; nothing here is reentrant.
 */
#pragma once

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef unsigned int uptr;

#define NULL ((void*)0)

static inline void outb(u16 port, u8 v) {
  __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outw(u16 port, u16 v) {
  __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outl(u16 port, u32 v) {
  __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}
static inline u8 inb(u16 port) {
  u8 v;
  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
static inline u16 inw(u16 port) {
  u16 v;
  __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
static inline u32 inl(u16 port) {
  u32 v;
  __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}

/* MMIO accessors: one plain mov each, so the VMM sees the natural width. */
static inline u8 mmio_read8(uptr a) {
  return *(volatile u8*)a;
}
static inline u16 mmio_read16(uptr a) {
  return *(volatile u16*)a;
}
static inline u32 mmio_read32(uptr a) {
  return *(volatile u32*)a;
}
static inline void mmio_write8(uptr a, u8 v) {
  *(volatile u8*)a = v;
}
static inline void mmio_write16(uptr a, u16 v) {
  *(volatile u16*)a = v;
}
static inline void mmio_write32(uptr a, u32 v) {
  *(volatile u32*)a = v;
}

static inline void barrier(void) {
  __asm__ volatile("" : : : "memory");
}
/* x86 keeps stores in order; a locked op also orders loads after stores. */
static inline void full_barrier(void) {
  __asm__ volatile("lock; addl $0, (%%esp)" : : : "memory", "cc");
}

static inline u64 rdtsc(void) {
  u32 lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((u64)hi << 32) | lo;
}

void serial_init(void);
void putc_serial(char c);
void puts_serial(const char* s);
/* %s %c %u %d %x (32-bit), %U (u64 decimal), %X (u64 hex). */
void print(const char* fmt, ...);

void* memset(void* d, int c, u32 n);
void* memcpy(void* d, const void* s, u32 n);
int memcmp(const void* a, const void* b, u32 n);
u32 strlen(const char* s);
int strncmp_(const char* a, const char* b, u32 n);

/* Cmdline: "key=value key2=value2"; returns 1 and copies the value if found. */
void cmdline_set(const char* s);
int cmdline_get(const char* key, char* out, u32 outlen);
u32 cmdline_u32(const char* key, u32 dflt);
int cmdline_is(const char* key, const char* value);

/* Write to the isa-debug-exit port (0x501); halts forever if that returns. */
void guest_exit(u32 code) __attribute__((noreturn));

/* Crude TSC deadline: about `seconds` at an assumed >= 1 GHz TSC. */
u64 deadline_after(u32 seconds);
int deadline_passed(u64 deadline);
