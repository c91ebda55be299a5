// SPDX-License-Identifier: GPL-2.0-or-later
/* Freestanding helpers for the probe guest (see lib.h). */
#include "lib.h"

#include <stdarg.h>

#define COM1 0x3F8
/* Bound on THR-empty polling so a missing UART cannot hang the guest. */
#define SERIAL_SPIN_LIMIT 100000

void serial_init(void) {
  outb(COM1 + 1, 0x00); /* no interrupts */
  outb(COM1 + 3, 0x80); /* DLAB */
  outb(COM1 + 0, 0x01); /* 115200 */
  outb(COM1 + 1, 0x00);
  outb(COM1 + 3, 0x03); /* 8N1 */
  outb(COM1 + 2, 0x07); /* FIFO on, cleared */
  outb(COM1 + 4, 0x03); /* DTR, RTS */
}

void putc_serial(char c) {
  for (u32 i = 0; i < SERIAL_SPIN_LIMIT; i++) {
    if (inb(COM1 + 5) & 0x20) break;
  }
  outb(COM1, (u8)c);
}

void puts_serial(const char* s) {
  while (*s) {
    if (*s == '\n') putc_serial('\r');
    putc_serial(*s++);
  }
}

static void put_u64(u64 v, u32 base, u32 width) {
  char buf[24];
  u32 n = 0;
  do {
    u32 d = (u32)(v % base);
    buf[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
    v /= base;
  } while (v && n < sizeof buf);
  while (n < width && n < sizeof buf) buf[n++] = '0';
  while (n) putc_serial(buf[--n]);
}

void print(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  for (; *fmt; fmt++) {
    if (*fmt != '%') {
      if (*fmt == '\n') putc_serial('\r');
      putc_serial(*fmt);
      continue;
    }
    fmt++;
    switch (*fmt) {
      case 's':
        puts_serial(va_arg(ap, const char*));
        break;
      case 'c':
        putc_serial((char)va_arg(ap, int));
        break;
      case 'u':
        put_u64(va_arg(ap, u32), 10, 0);
        break;
      case 'd': {
        int v = va_arg(ap, int);
        if (v < 0) {
          putc_serial('-');
          v = -v;
        }
        put_u64((u32)v, 10, 0);
        break;
      }
      case 'x':
        put_u64(va_arg(ap, u32), 16, 0);
        break;
      case 'U':
        put_u64(va_arg(ap, u64), 10, 0);
        break;
      case 'X':
        put_u64(va_arg(ap, u64), 16, 0);
        break;
      case '%':
        putc_serial('%');
        break;
      default:
        putc_serial('?');
        break;
    }
  }
  va_end(ap);
}

void* memset(void* d, int c, u32 n) {
  volatile u8* p = d;
  for (u32 i = 0; i < n; i++) p[i] = (u8)c;
  return d;
}

void* memcpy(void* d, const void* s, u32 n) {
  volatile u8* dp = d;
  const u8* sp = s;
  for (u32 i = 0; i < n; i++) dp[i] = sp[i];
  return d;
}

int memcmp(const void* a, const void* b, u32 n) {
  const u8 *x = a, *y = b;
  for (u32 i = 0; i < n; i++) {
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return 0;
}

u32 strlen(const char* s) {
  u32 n = 0;
  while (s[n]) n++;
  return n;
}

int strncmp_(const char* a, const char* b, u32 n) {
  for (u32 i = 0; i < n; i++) {
    if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    if (!a[i]) return 0;
  }
  return 0;
}

/* The loader's cmdline is copied here; 1 KiB is more than the tests use. */
static char cmdline[1024];

void cmdline_set(const char* s) {
  u32 i = 0;
  if (s) {
    for (; s[i] && i + 1 < sizeof cmdline; i++) cmdline[i] = s[i];
  }
  cmdline[i] = 0;
}

int cmdline_get(const char* key, char* out, u32 outlen) {
  u32 klen = strlen(key);
  const char* p = cmdline;
  while (*p) {
    while (*p == ' ') p++;
    const char* word = p;
    while (*p && *p != ' ') p++;
    if ((u32)(p - word) > klen && strncmp_(word, key, klen) == 0 && word[klen] == '=') {
      const char* v = word + klen + 1;
      u32 n = 0;
      while (v < p && n + 1 < outlen) out[n++] = *v++;
      out[n] = 0;
      return 1;
    }
  }
  return 0;
}

u32 cmdline_u32(const char* key, u32 dflt) {
  char buf[16];
  if (!cmdline_get(key, buf, sizeof buf)) return dflt;
  u32 v = 0;
  for (u32 i = 0; buf[i] >= '0' && buf[i] <= '9'; i++) v = v * 10 + (u32)(buf[i] - '0');
  return v;
}

int cmdline_is(const char* key, const char* value) {
  char buf[32];
  if (!cmdline_get(key, buf, sizeof buf)) return 0;
  return strncmp_(buf, value, sizeof buf) == 0;
}

void guest_exit(u32 code) {
  outb(0x501, (u8)code);
  /* No exit device (or it ignored us): stop here for the host's timeout. */
  puts_serial("PROBE: exit port did not stop the VM; halting\n");
  for (;;) __asm__ volatile("cli; hlt");
}

u64 deadline_after(u32 seconds) {
  return rdtsc() + (u64)seconds * 1000000000ull;
}

int deadline_passed(u64 deadline) {
  return rdtsc() > deadline;
}
