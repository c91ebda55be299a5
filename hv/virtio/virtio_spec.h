// SPDX-License-Identifier: GPL-2.0-or-later
// virtio_spec.h: numbers from the virtio 1.x specification (and the legacy
// 0.9.5 PCI interface) that the queue, transport and block device share.
//
// Constants only; no state, safe from any thread.
#pragma once

#include <cstdint>

namespace amber::hv::virtio {

// --- device status (spec 2.1) ---
inline constexpr uint8_t kStatusAcknowledge = 1;
inline constexpr uint8_t kStatusDriver = 2;
inline constexpr uint8_t kStatusDriverOk = 4;
inline constexpr uint8_t kStatusFeaturesOk = 8;
inline constexpr uint8_t kStatusNeedsReset = 0x40;
inline constexpr uint8_t kStatusFailed = 0x80;

// --- transport / ring feature bits (spec 6) ---
inline constexpr unsigned kFeatureNotifyOnEmpty = 24;  // legacy only; never offered
inline constexpr unsigned kFeatureAnyLayout = 27;
inline constexpr unsigned kFeatureIndirectDesc = 28;
inline constexpr unsigned kFeatureEventIdx = 29;
inline constexpr unsigned kFeatureVersion1 = 32;
inline constexpr unsigned kFeatureRingPacked = 34;  // never offered

constexpr uint64_t feature_bit(unsigned bit) {
  return uint64_t{1} << bit;
}

// --- split ring (spec 2.7) ---
inline constexpr uint16_t kDescFlagNext = 1;
inline constexpr uint16_t kDescFlagWrite = 2;
inline constexpr uint16_t kDescFlagIndirect = 4;
inline constexpr uint16_t kAvailFlagNoInterrupt = 1;
inline constexpr uint16_t kUsedFlagNoNotify = 1;
inline constexpr uint64_t kDescriptorSize = 16;
inline constexpr uint64_t kUsedElementSize = 8;
// Legacy interface: rings are laid out contiguously from QUEUE_PFN << 12,
// with the used ring aligned to this boundary (virtio 0.9.5, 2.3).
inline constexpr uint64_t kLegacyPageShift = 12;
inline constexpr uint64_t kLegacyRingAlign = 4096;

// --- ISR bits (spec 4.1.4.5) ---
inline constexpr uint8_t kIsrQueue = 1;
inline constexpr uint8_t kIsrConfig = 2;

// MSI-X "no vector" value for config/queue vector registers.
inline constexpr uint16_t kNoVector = 0xFFFF;

// --- modern virtio-pci capabilities (spec 4.1.4) ---
inline constexpr uint8_t kPciCapCommonCfg = 1;
inline constexpr uint8_t kPciCapNotifyCfg = 2;
inline constexpr uint8_t kPciCapIsrCfg = 3;
inline constexpr uint8_t kPciCapDeviceCfg = 4;
inline constexpr uint8_t kPciCapPciCfg = 5;

// Common configuration structure offsets (spec 4.1.4.3).
inline constexpr unsigned kCommonDeviceFeatureSelect = 0x00;
inline constexpr unsigned kCommonDeviceFeature = 0x04;
inline constexpr unsigned kCommonDriverFeatureSelect = 0x08;
inline constexpr unsigned kCommonDriverFeature = 0x0C;
inline constexpr unsigned kCommonMsixConfig = 0x10;
inline constexpr unsigned kCommonNumQueues = 0x12;
inline constexpr unsigned kCommonDeviceStatus = 0x14;
inline constexpr unsigned kCommonConfigGeneration = 0x15;
inline constexpr unsigned kCommonQueueSelect = 0x16;
inline constexpr unsigned kCommonQueueSize = 0x18;
inline constexpr unsigned kCommonQueueMsixVector = 0x1A;
inline constexpr unsigned kCommonQueueEnable = 0x1C;
inline constexpr unsigned kCommonQueueNotifyOff = 0x1E;
inline constexpr unsigned kCommonQueueDesc = 0x20;
inline constexpr unsigned kCommonQueueDriver = 0x28;
inline constexpr unsigned kCommonQueueDevice = 0x30;
inline constexpr unsigned kCommonSize = 0x38;

// Legacy I/O BAR registers (virtio 0.9.5 "Virtio Header").
inline constexpr unsigned kLegacyHostFeatures = 0x00;
inline constexpr unsigned kLegacyGuestFeatures = 0x04;
inline constexpr unsigned kLegacyQueuePfn = 0x08;
inline constexpr unsigned kLegacyQueueSize = 0x0C;
inline constexpr unsigned kLegacyQueueSelect = 0x0E;
inline constexpr unsigned kLegacyQueueNotify = 0x10;
inline constexpr unsigned kLegacyStatus = 0x12;
inline constexpr unsigned kLegacyIsr = 0x13;
inline constexpr unsigned kLegacyConfigVector = 0x14;  // only while MSI-X is enabled
inline constexpr unsigned kLegacyQueueVector = 0x16;   // only while MSI-X is enabled
inline constexpr unsigned kLegacyDeviceConfig = 0x14;
inline constexpr unsigned kLegacyDeviceConfigMsix = 0x18;

// --- virtio-blk (spec 5.2) ---
inline constexpr uint16_t kVirtioIdBlock = 2;
inline constexpr unsigned kBlkFeatureSizeMax = 1;
inline constexpr unsigned kBlkFeatureSegMax = 2;
inline constexpr unsigned kBlkFeatureRo = 5;
inline constexpr unsigned kBlkFeatureBlkSize = 6;
inline constexpr unsigned kBlkFeatureFlush = 9;
inline constexpr unsigned kBlkFeatureTopology = 10;
inline constexpr unsigned kBlkFeatureConfigWce = 11;
inline constexpr unsigned kBlkFeatureMq = 12;
inline constexpr unsigned kBlkFeatureDiscard = 13;
inline constexpr unsigned kBlkFeatureWriteZeroes = 14;

inline constexpr uint32_t kBlkTypeIn = 0;
inline constexpr uint32_t kBlkTypeOut = 1;
inline constexpr uint32_t kBlkTypeFlush = 4;
inline constexpr uint32_t kBlkTypeGetId = 8;
inline constexpr uint32_t kBlkTypeDiscard = 11;
inline constexpr uint32_t kBlkTypeWriteZeroes = 13;

inline constexpr uint8_t kBlkStatusOk = 0;
inline constexpr uint8_t kBlkStatusIoErr = 1;
inline constexpr uint8_t kBlkStatusUnsupp = 2;

inline constexpr uint32_t kBlkDiscardFlagUnmap = 1;
inline constexpr unsigned kBlkIdBytes = 20;             // VIRTIO_BLK_ID_BYTES
inline constexpr uint64_t kBlkRequestHeaderSize = 16;   // type, reserved, sector
inline constexpr uint64_t kBlkDiscardSegmentSize = 16;  // sector, num_sectors, flags

// virtio_blk_config field offsets (spec 5.2.4).
inline constexpr unsigned kBlkCfgCapacity = 0;
inline constexpr unsigned kBlkCfgSizeMax = 8;
inline constexpr unsigned kBlkCfgSegMax = 12;
inline constexpr unsigned kBlkCfgBlkSize = 20;
inline constexpr unsigned kBlkCfgPhysicalBlockExp = 24;
inline constexpr unsigned kBlkCfgMinIoSize = 26;
inline constexpr unsigned kBlkCfgOptIoSize = 28;
inline constexpr unsigned kBlkCfgWriteback = 32;
inline constexpr unsigned kBlkCfgNumQueues = 34;
inline constexpr unsigned kBlkCfgMaxDiscardSectors = 36;
inline constexpr unsigned kBlkCfgMaxDiscardSeg = 40;
inline constexpr unsigned kBlkCfgDiscardSectorAlignment = 44;
inline constexpr unsigned kBlkCfgMaxWriteZeroesSectors = 48;
inline constexpr unsigned kBlkCfgMaxWriteZeroesSeg = 52;
inline constexpr unsigned kBlkCfgWriteZeroesMayUnmap = 56;
inline constexpr unsigned kBlkConfigSize = 60;

}  // namespace amber::hv::virtio
