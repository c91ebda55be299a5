// SPDX-License-Identifier: GPL-2.0-or-later
// The 82540EM's register map, bits and descriptor layouts the e1000 model
// uses (Intel 8254x Software Developer's Manual; the values QEMU's
// hw/net/e1000.c gives them). Byte offsets into BAR0.
//
// Thread-safety: constants only.
#pragma once

#include <cstdint>

namespace amber::hv::net::e1000 {

// --- registers (byte offsets in BAR0) ---
inline constexpr uint32_t kCtrl = 0x0000;
inline constexpr uint32_t kStatus = 0x0008;
inline constexpr uint32_t kEecd = 0x0010;
inline constexpr uint32_t kEerd = 0x0014;
inline constexpr uint32_t kCtrlExt = 0x0018;
inline constexpr uint32_t kMdic = 0x0020;
inline constexpr uint32_t kIcr = 0x00c0;
inline constexpr uint32_t kItr = 0x00c4;
inline constexpr uint32_t kIcs = 0x00c8;
inline constexpr uint32_t kIms = 0x00d0;
inline constexpr uint32_t kImc = 0x00d8;
inline constexpr uint32_t kRctl = 0x0100;
inline constexpr uint32_t kTctl = 0x0400;
inline constexpr uint32_t kLedctl = 0x0e00;
inline constexpr uint32_t kPba = 0x1000;
inline constexpr uint32_t kRdbal = 0x2800;
inline constexpr uint32_t kRdbah = 0x2804;
inline constexpr uint32_t kRdlen = 0x2808;
inline constexpr uint32_t kRdh = 0x2810;
inline constexpr uint32_t kRdt = 0x2818;
inline constexpr uint32_t kRdtr = 0x2820;
inline constexpr uint32_t kRadv = 0x282c;
inline constexpr uint32_t kTdbal = 0x3800;
inline constexpr uint32_t kTdbah = 0x3804;
inline constexpr uint32_t kTdlen = 0x3808;
inline constexpr uint32_t kTdh = 0x3810;
inline constexpr uint32_t kTdt = 0x3818;
inline constexpr uint32_t kTidv = 0x3820;
inline constexpr uint32_t kTadv = 0x382c;
inline constexpr uint32_t kStatsStart = 0x4000;  // statistics: 0x4000..0x40ff
inline constexpr uint32_t kStatsEnd = 0x4100;
inline constexpr uint32_t kMpc = 0x4010;
inline constexpr uint32_t kPrc64 = 0x405c;  // PRC64..PRC1522: 0x405c..0x4070
inline constexpr uint32_t kGprc = 0x4074;
inline constexpr uint32_t kBprc = 0x4078;
inline constexpr uint32_t kMprc = 0x407c;
inline constexpr uint32_t kGptc = 0x4080;
inline constexpr uint32_t kGorcl = 0x4088;
inline constexpr uint32_t kGorch = 0x408c;
inline constexpr uint32_t kGotcl = 0x4090;
inline constexpr uint32_t kGotch = 0x4094;
inline constexpr uint32_t kRnbc = 0x40a0;
inline constexpr uint32_t kRoc = 0x40ac;
inline constexpr uint32_t kTorl = 0x40c0;
inline constexpr uint32_t kTorh = 0x40c4;
inline constexpr uint32_t kTotl = 0x40c8;
inline constexpr uint32_t kToth = 0x40cc;
inline constexpr uint32_t kTpr = 0x40d0;
inline constexpr uint32_t kTpt = 0x40d4;
inline constexpr uint32_t kPtc64 = 0x40d8;  // PTC64..PTC1522: 0x40d8..0x40ec
inline constexpr uint32_t kMptc = 0x40f0;
inline constexpr uint32_t kBptc = 0x40f4;
inline constexpr uint32_t kTsctc = 0x40f8;
inline constexpr uint32_t kRxcsum = 0x5000;
inline constexpr uint32_t kMta = 0x5200;  // 128 dwords
inline constexpr uint32_t kMtaEnd = 0x5400;
inline constexpr uint32_t kRa = 0x5400;  // 16 RAL/RAH pairs
inline constexpr uint32_t kRaEnd = 0x5480;
inline constexpr uint32_t kVfta = 0x5600;
inline constexpr uint32_t kManc = 0x5820;
inline constexpr uint32_t kRegisterSpace = 0x20000;  // BAR0: 128 KiB

// --- bits ---
inline constexpr uint32_t kCtrlSlu = 1u << 6;
inline constexpr uint32_t kCtrlSpeed1000 = 1u << 9;
inline constexpr uint32_t kCtrlSwdpin0 = 1u << 18;
inline constexpr uint32_t kCtrlSwdpin2 = 1u << 20;
inline constexpr uint32_t kCtrlRst = 1u << 26;
inline constexpr uint32_t kCtrlPhyRst = 1u << 31;

inline constexpr uint32_t kStatusFd = 1u << 0;
inline constexpr uint32_t kStatusLu = 1u << 1;
inline constexpr uint32_t kStatusSpeed1000 = 1u << 7;
inline constexpr uint32_t kStatusAsdv = 3u << 8;
inline constexpr uint32_t kStatusMtxckok = 1u << 10;
inline constexpr uint32_t kStatusGioMaster = 1u << 19;

inline constexpr uint32_t kEecdSk = 1u << 0;
inline constexpr uint32_t kEecdCs = 1u << 1;
inline constexpr uint32_t kEecdDi = 1u << 2;
inline constexpr uint32_t kEecdDo = 1u << 3;
inline constexpr uint32_t kEecdFwe = 3u << 4;
inline constexpr uint32_t kEecdReq = 1u << 6;
inline constexpr uint32_t kEecdGnt = 1u << 7;
inline constexpr uint32_t kEecdPres = 1u << 8;
inline constexpr uint32_t kEepromReadOpcode = 0x6;  // microwire READ: 1 1 0

inline constexpr uint32_t kEerdStart = 1u << 0;
inline constexpr uint32_t kEerdDone = 1u << 4;
inline constexpr unsigned kEerdAddressShift = 8;
inline constexpr unsigned kEerdDataShift = 16;
inline constexpr unsigned kEepromWords = 64;
inline constexpr unsigned kEepromChecksumWord = 63;
inline constexpr uint16_t kEepromSum = 0xbaba;

inline constexpr uint32_t kMdicDataMask = 0xffff;
inline constexpr unsigned kMdicRegShift = 16;
inline constexpr uint32_t kMdicRegMask = 0x1fu << kMdicRegShift;
inline constexpr unsigned kMdicPhyShift = 21;
inline constexpr uint32_t kMdicPhyMask = 0x1fu << kMdicPhyShift;
inline constexpr uint32_t kMdicOpWrite = 1u << 26;
inline constexpr uint32_t kMdicOpRead = 2u << 26;
inline constexpr uint32_t kMdicReady = 1u << 28;
inline constexpr uint32_t kMdicIntEn = 1u << 29;
inline constexpr uint32_t kMdicError = 1u << 30;

inline constexpr uint32_t kIcrTxdw = 1u << 0;
inline constexpr uint32_t kIcrTxqe = 1u << 1;
inline constexpr uint32_t kIcrLsc = 1u << 2;
inline constexpr uint32_t kIcrRxdmt0 = 1u << 4;
inline constexpr uint32_t kIcrRxo = 1u << 6;
inline constexpr uint32_t kIcrRxt0 = 1u << 7;
inline constexpr uint32_t kIcrMdac = 1u << 9;
inline constexpr uint32_t kIcrIntAsserted = 1u << 31;

inline constexpr uint32_t kRctlEn = 1u << 1;
inline constexpr uint32_t kRctlSbp = 1u << 2;
inline constexpr uint32_t kRctlUpe = 1u << 3;
inline constexpr uint32_t kRctlMpe = 1u << 4;
inline constexpr uint32_t kRctlLpe = 1u << 5;
inline constexpr unsigned kRctlRdmtsShift = 8;
inline constexpr unsigned kRctlMoShift = 12;
inline constexpr uint32_t kRctlBam = 1u << 15;
inline constexpr unsigned kRctlSizeShift = 16;
inline constexpr uint32_t kRctlBsex = 1u << 25;
inline constexpr uint32_t kRctlSecrc = 1u << 26;

inline constexpr uint32_t kTctlEn = 1u << 1;
inline constexpr uint32_t kRahAv = 1u << 31;

// --- PHY (MDIC registers, M88E1011 as the 82540EM's) ---
inline constexpr unsigned kPhyAddress = 1;
inline constexpr unsigned kPhyRegisters = 32;
inline constexpr unsigned kPhyBmcr = 0x00;
inline constexpr unsigned kPhyBmsr = 0x01;
inline constexpr unsigned kPhyId1 = 0x02;
inline constexpr unsigned kPhyId2 = 0x03;
inline constexpr unsigned kPhyAnar = 0x04;
inline constexpr unsigned kPhyAnlpar = 0x05;
inline constexpr unsigned kPhyAner = 0x06;
inline constexpr unsigned kPhyCtrl1000 = 0x09;
inline constexpr unsigned kPhyStat1000 = 0x0a;
inline constexpr unsigned kPhySpecCtrl = 0x10;
inline constexpr unsigned kPhySpecStatus = 0x11;
inline constexpr unsigned kPhyExtSpecCtrl = 0x14;
inline constexpr unsigned kPhyRxErrors = 0x15;
inline constexpr uint16_t kBmcrAnRestart = 1u << 9;
inline constexpr uint16_t kBmcrLoopback = 1u << 14;
inline constexpr uint16_t kBmcrReset = 1u << 15;
inline constexpr uint16_t kBmsrLinkUp = 1u << 2;
inline constexpr uint16_t kBmsrAnComplete = 1u << 5;
inline constexpr uint16_t kAnlparAck = 1u << 14;

// --- descriptors (16 bytes each, little-endian) ---
inline constexpr uint64_t kDescriptorSize = 16;
// TX: buffer address (8), then dword "lower" (length 0-15, CSO 16-23, CMD
// 24-31) and dword "upper" (STA 0-7, CSS/POPTS 8-15, special 16-31).
inline constexpr uint32_t kTxdCmdEop = 1u << 24;
inline constexpr uint32_t kTxdCmdIfcs = 1u << 25;
inline constexpr uint32_t kTxdCmdIc = 1u << 26;   // legacy: insert checksum
inline constexpr uint32_t kTxdCmdTse = 1u << 26;  // data/context: TCP segmentation
inline constexpr uint32_t kTxdCmdRs = 1u << 27;
inline constexpr uint32_t kTxdCmdRps = 1u << 28;
inline constexpr uint32_t kTxdCmdDext = 1u << 29;
inline constexpr uint32_t kTxdCmdIde = 1u << 31;
inline constexpr uint32_t kTxdDtypData = 1u << 20;
inline constexpr uint32_t kTxdCmdTcp = 1u << 24;  // context: TCP (else UDP)
inline constexpr uint32_t kTxdCmdIp = 1u << 25;   // context: IPv4 (else IPv6)
inline constexpr uint32_t kTxdStatDd = 1u << 0;
inline constexpr uint8_t kPoptsIxsm = 1u << 0;
inline constexpr uint8_t kPoptsTxsm = 1u << 1;
// RX: buffer address (8), length (2), checksum (2), status (1), errors
// (1), special (2).
inline constexpr uint8_t kRxdStatDd = 1u << 0;
inline constexpr uint8_t kRxdStatEop = 1u << 1;
inline constexpr uint8_t kRxdStatIxsm = 1u << 2;

}  // namespace amber::hv::net::e1000
