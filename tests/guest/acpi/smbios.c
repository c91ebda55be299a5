// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * SMBIOS probe, stage 2 (32-bit, flat): finds the SMBIOS 2.x entry point
 * ("_SM_" on a 16-byte boundary in F0000-FFFFF, with "_DMI_" at +16 and
 * both checksums), walks the structure table it names and prints, on COM1,
 * one line per structure: "SMBIOS type=T handle=0xH strings=a|b|..." (the
 * strings in their order), and for type 1 the UUID as SeaBIOS and Windows
 * read it ("SMBIOS uuid=..." in RFC 4122 text from SMBIOS byte order). It
 * checks what a guest relies on: the entry's counts and length match the
 * walk, every structure's length fits and its string set ends with two
 * NULs, the table ends with type 127. "SMBIOS RESULT PASS" and exit code 0
 * through port 0x501 when it held, "SMBIOS RESULT FAIL" and 1 otherwise.
 */
#include "lib.h"

static int failures;

static void fail(const char* what) {
  print("SMBIOS FAIL %s\n", what);
  ++failures;
}

static u8 sum(const u8* p, u32 n) {
  u8 s = 0;
  for (u32 i = 0; i < n; ++i) s = (u8)(s + p[i]);
  return s;
}

static const u8* find_anchor(void) {
  for (u32 a = 0xF0000; a < 0x100000; a += 16) {
    const u8* p = (const u8*)a;
    if (memcmp(p, "_SM_", 4) != 0) continue;
    if (p[5] < 0x1F || sum(p, p[5]) != 0) continue;
    if (memcmp(p + 16, "_DMI_", 5) != 0 || sum(p + 16, 15) != 0) continue;
    return p;
  }
  return NULL;
}

static void print_uuid(const u8* u) {
  static const char hex[] = "0123456789abcdef";
  /* SMBIOS 2.6+: the first three fields are little-endian. */
  static const u8 order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
  char text[37];
  u32 n = 0;
  for (u32 i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) text[n++] = '-';
    text[n++] = hex[u[order[i]] >> 4];
    text[n++] = hex[u[order[i]] & 15];
  }
  text[n] = 0;
  print("SMBIOS uuid=%s\n", text);
}

/* One structure at p (at most end): prints it, returns the next one. */
static const u8* walk_one(const u8* p, const u8* end) {
  if (p + 4 > end || p[1] < 4 || p + p[1] > end) {
    fail("structure header past the table");
    return NULL;
  }
  const u8 type = p[0];
  print("SMBIOS type=%u handle=0x%x strings=", type, p[2] | (p[3] << 8));
  const u8* s = p + p[1];
  int first = 1;
  if (s + 1 < end && s[0] == 0 && s[1] == 0) {
    s += 2;
  } else {
    while (s < end && *s) {
      if (!first) putc_serial('|');
      first = 0;
      while (s < end && *s) putc_serial((char)*s++);
      ++s;
    }
    ++s; /* the second NUL */
  }
  puts_serial("\n");
  if (s > end) {
    fail("string set runs past the table");
    return NULL;
  }
  if (type == 1 && p[1] >= 0x19) print_uuid(p + 8);
  return s;
}

void stage2_main(void) {
  serial_init();
  puts_serial("SMBIOS probe\n");
  const u8* a = find_anchor();
  if (!a) {
    fail("no SMBIOS 2.x entry point in F0000-FFFFF");
  } else {
    const u32 table = a[24] | (a[25] << 8) | (a[26] << 16) | ((u32)a[27] << 24);
    const u32 len = a[22] | (a[23] << 8);
    const u32 count = a[28] | (a[29] << 8);
    const u32 maxsize = a[8] | (a[9] << 8);
    print("SMBIOS entry version=%u.%u structures=%u length=%u\n", a[6], a[7], count, len);
    const u8* p = (const u8*)table;
    const u8* end = p + len;
    u32 seen = 0, biggest = 0;
    u8 last = 0;
    while (p && p < end && seen < 256) {
      const u8* next = walk_one(p, end);
      if (next && (u32)(next - p) > biggest) biggest = (u32)(next - p);
      last = p[0];
      ++seen;
      p = next;
    }
    if (p != end) fail("the walk does not end at the table length");
    if (seen != count) fail("structure count differs from the entry point's");
    if (last != 127) fail("the table does not end with type 127");
    if (biggest > maxsize) fail("a structure is bigger than the entry point's maximum");
  }
  print("SMBIOS RESULT %s\n", failures ? "FAIL" : "PASS");
  guest_exit(failures ? 1 : 0);
}
