// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Ethernet frames the NIC probes (e1000_probe.c, virtio_net_probe.c) send
 * and check, independent of the card: big-endian field access, the
 * Internet checksum, a DHCP client's DISCOVER/REQUEST and its reading of
 * OFFER/ACK, and the numbered test frames of the tap exchange (ethertype
 * 0x88B5, "TAG seq=NNNNNN" then a pattern). Single-threaded guest code.
 */
#pragma once

#include "lib.h"

#define ETHERTYPE_AMBER 0x88B5
#define DHCP_DISCOVER 1
#define DHCP_OFFER 2
#define DHCP_REQUEST 3
#define DHCP_ACK 5

void put16(u8* p, u16 v);
u16 get16(const u8* p);
u32 get32(const u8* p);
/* One's-complement sum of n bytes (big-endian words) added to sum. */
u32 sum16(const u8* p, u32 n, u32 sum);
u16 fold(u32 sum);

/* Who computes a DHCP frame's checksums. */
typedef enum {
  kCsumGuest,       /* the IP and the UDP checksum computed here */
  kCsumUdpByCard,   /* the IP checksum here, UDP left as the pseudo-header sum */
  kCsumIpUdpByCard, /* IP left 0, UDP the pseudo-header sum (e1000 IXSM|TXSM) */
} CsumMode;

/* Builds a broadcast DHCP message from `mac` with transaction id `xid`
 * into f (at least 400 bytes); returns the frame length. */
u32 build_dhcp(u8* f, const u8* mac, u32 xid, u8 type, u32 requested, u32 server, CsumMode csum);

typedef struct {
  u8 type;
  u32 yiaddr, server, router, dns;
} DhcpReply;

/* 1: a BOOTREPLY for xid, read into r; 0: another frame; -1: an IP header
 * with a bad checksum. */
int parse_dhcp(const u8* f, u32 len, u32 xid, DhcpReply* r);
void print_ip(const char* label, u32 a);

/* The tap exchange: frame `seq` is tap_frame_size(seq) bytes. */
u32 tap_frame_size(u32 seq);
void fill_frame(u8* f, const u8* src, const u8* dst, const char* tag, u32 seq, u32 size);
