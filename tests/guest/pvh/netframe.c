// SPDX-License-Identifier: GPL-2.0-or-later
/* Ethernet, IP, UDP and DHCP frames for the NIC probes (see netframe.h). */
#include "netframe.h"

void put16(u8* p, u16 v) {
  p[0] = (u8)(v >> 8);
  p[1] = (u8)v;
}
u16 get16(const u8* p) {
  return (u16)(p[0] << 8 | p[1]);
}
u32 get32(const u8* p) {
  return (u32)p[0] << 24 | (u32)p[1] << 16 | (u32)p[2] << 8 | p[3];
}

u32 sum16(const u8* p, u32 n, u32 sum) {
  for (u32 i = 0; i + 1 < n; i += 2) sum += get16(p + i);
  if (n & 1) sum += (u32)p[n - 1] << 8;
  return sum;
}
u16 fold(u32 sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (u16)sum;
}

static u8* put_ip_option(u8* o, u8 code, u32 a) {
  *o++ = code, *o++ = 4;
  for (int i = 3; i >= 0; i--) *o++ = (u8)(a >> (8 * i));
  return o;
}

u32 build_dhcp(u8* f, const u8* mac, u32 xid, u8 type, u32 requested, u32 server, CsumMode csum) {
  memset(f, 0, 400);
  memset(f, 0xff, 6);
  memcpy(f + 6, mac, 6);
  put16(f + 12, 0x0800);
  u8* ip = f + 14;
  u8* udp = ip + 20;
  u8* bootp = udp + 8;
  bootp[0] = 1, bootp[1] = 1, bootp[2] = 6; /* BOOTREQUEST, Ethernet, 6-byte address */
  for (int i = 0; i < 4; i++) bootp[4 + i] = (u8)(xid >> (24 - 8 * i));
  put16(bootp + 10, 0x8000); /* broadcast replies */
  memcpy(bootp + 28, mac, 6);
  u8* o = bootp + 236;
  o[0] = 99, o[1] = 130, o[2] = 83, o[3] = 99;
  o += 4;
  *o++ = 53, *o++ = 1, *o++ = type;
  if (requested) o = put_ip_option(o, 50, requested);
  if (server) o = put_ip_option(o, 54, server);
  *o++ = 55, *o++ = 3, *o++ = 1, *o++ = 3, *o++ = 6; /* subnet, router, DNS */
  *o++ = 255;
  u32 bootp_len = (u32)(o - bootp);
  if (bootp_len < 300) bootp_len = 300;
  const u32 udp_len = 8 + bootp_len;
  put16(udp + 0, 68);
  put16(udp + 2, 67);
  put16(udp + 4, (u16)udp_len);
  ip[0] = 0x45;
  put16(ip + 2, (u16)(20 + udp_len));
  ip[8] = 64;
  ip[9] = 17;
  memset(ip + 16, 0xff, 4); /* 0.0.0.0 -> 255.255.255.255 */
  if (csum != kCsumIpUdpByCard) put16(ip + 10, (u16)~fold(sum16(ip, 20, 0)));
  /* Pseudo header: addresses, protocol, UDP length (not complemented). */
  const u32 pseudo = sum16(ip + 12, 8, 0) + 17 + udp_len;
  if (csum == kCsumGuest)
    put16(udp + 6, (u16)~fold(sum16(udp, udp_len, pseudo)));
  else
    put16(udp + 6, fold(pseudo));
  return 14 + 20 + udp_len;
}

int parse_dhcp(const u8* f, u32 len, u32 xid, DhcpReply* r) {
  if (len < 14 + 20 + 8 + 240 || get16(f + 12) != 0x0800) return 0;
  const u8* ip = f + 14;
  if (ip[9] != 17) return 0;
  const u32 ihl = (ip[0] & 15) * 4u;
  if (fold(sum16(ip, ihl, 0)) != 0xffff) return -1;
  const u8* udp = ip + ihl;
  if (get16(udp + 2) != 68) return 0;
  const u8* bootp = udp + 8;
  if (bootp[0] != 2 || get32(bootp + 4) != xid) return 0;
  r->yiaddr = get32(bootp + 16);
  r->type = 0;
  r->server = r->router = r->dns = 0;
  const u8* o = bootp + 240;
  const u8* end = f + len;
  while (o + 1 < end && *o != 255) {
    if (*o == 0) {
      o++;
      continue;
    }
    const u8 code = o[0], n = o[1];
    if (o + 2 + n > end) break;
    if (code == 53) r->type = o[2];
    if (code == 54 && n >= 4) r->server = get32(o + 2);
    if (code == 3 && n >= 4) r->router = get32(o + 2);
    if (code == 6 && n >= 4) r->dns = get32(o + 2);
    o += 2 + n;
  }
  return 1;
}

void print_ip(const char* label, u32 a) {
  print("%s%u.%u.%u.%u", label, a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

u32 tap_frame_size(u32 seq) {
  return 60 + (seq * 37) % 1400;
}

void fill_frame(u8* f, const u8* src, const u8* dst, const char* tag, u32 seq, u32 size) {
  memcpy(f, dst, 6);
  memcpy(f + 6, src, 6);
  put16(f + 12, ETHERTYPE_AMBER);
  for (u32 i = 14; i < size; i++) f[i] = (u8)((seq * 7 + i) & 0xff);
  /* "TAG seq=NNNNNN" */
  const u32 n = strlen(tag);
  memcpy(f + 14, tag, n);
  u8* p = f + 14 + n;
  memcpy(p, " seq=", 5);
  p += 5;
  for (int d = 5; d >= 0; d--) {
    u32 div = 1;
    for (int k = 0; k < d; k++) div *= 10;
    *p++ = (u8)('0' + (seq / div) % 10);
  }
}
