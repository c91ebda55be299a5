// SPDX-License-Identifier: GPL-2.0-or-later
// SMBIOS tables as QEMU 7.2's `pc` machines hand them to SeaBIOS: the
// fw_cfg files etc/smbios/smbios-anchor (a 2.8 32-bit "_SM_" entry point,
// table address 0: SeaBIOS places the tables and fixes it and the
// checksums) and etc/smbios/smbios-tables (the structures, types 0 (only
// with --smbios type=0 strings; else SeaBIOS adds its own), 1, 2 (only with
// strings), 3, 4 per socket, 16, 17 per 16 GiB, 19 per RAM region, 32,
// 127), with QEMU's handles, strings and field values.
//
// Thread-safety: pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vmmctl/smbios.h"

namespace amber::hv::smbios {

inline constexpr const char* kAnchorFile = "etc/smbios/smbios-anchor";
inline constexpr const char* kTablesFile = "etc/smbios/smbios-tables";

struct RamRegion {
  uint64_t start = 0;
  uint64_t size = 0;
};

struct SmbiosInputs {
  std::string machine = "pc-i440fx-7.2";        // the resolved type name ("pc" is an alias)
  std::optional<std::array<uint8_t, 16>> uuid;  // RFC 4122 order
  vmmctl::SmbiosSettings strings;
  unsigned sockets = 1;
  unsigned cores_per_socket = 1;
  unsigned threads_per_socket = 1;
  uint32_t cpuid_version = 0;   // CPUID.1 EAX
  uint32_t cpuid_features = 0;  // CPUID.1 EDX
  uint64_t ram_size = 0;
  std::vector<RamRegion> ram_regions;
};

struct SmbiosBlobs {
  std::vector<uint8_t> anchor;
  std::vector<uint8_t> tables;
};

SmbiosBlobs build_smbios(const SmbiosInputs& inputs);

// The SMBIOS byte order of a UUID: the first three fields little-endian.
std::array<uint8_t, 16> smbios_uuid_bytes(const std::array<uint8_t, 16>& rfc4122);

// "pc" -> "pc-i440fx-7.2"; other names as given.
std::string resolve_machine_name(const std::string& machine);

}  // namespace amber::hv::smbios
