// SPDX-License-Identifier: GPL-2.0-or-later
// SMBIOS launch settings: --uuid UUID and --smbios type=N,key=value,...
// with QEMU 7.2's keys for types 0 (vendor, version, date), 1
// (manufacturer, product, version, serial, uuid, sku, family), 2
// (manufacturer, product, version, serial, asset, location) and 3
// (manufacturer, version, serial, asset, sku). An empty value is "not
// given" (QEMU leaves such a string out too); --smbios may be repeated, a
// later key replaces an earlier one. type=1,uuid= sets --uuid.
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace amber::vmmctl {

// The most bytes one SMBIOS string may have here (QEMU has no limit; a
// structure's strings must stay well inside the 16-bit table length).
inline constexpr size_t kMaxSmbiosString = 256;

struct SmbiosSettings {
  // Type 0, BIOS information. None given: SeaBIOS writes its own.
  std::string bios_vendor, bios_version, bios_date;
  // Type 1, system information (empty: QEMU's defaults).
  std::string system_manufacturer, system_product, system_version, system_serial, system_sku,
      system_family;
  // Type 2, baseboard. None given: no type 2 structure (as QEMU).
  std::string board_manufacturer, board_product, board_version, board_serial, board_asset,
      board_location;
  // Type 3, chassis.
  std::string chassis_manufacturer, chassis_version, chassis_serial, chassis_asset, chassis_sku;
  bool operator==(const SmbiosSettings&) const = default;
};

// A UUID as 8-4-4-4-12 hex digits (either case); the canonical text is
// lowercase. The 16 bytes are in RFC 4122 (big-endian) order.
Result<std::array<uint8_t, 16>> parse_uuid(std::string_view text);
std::string format_uuid(const std::array<uint8_t, 16>& bytes);

// Applies one --smbios value to `settings` (and to `uuid` for type=1,uuid=).
Result<void> apply_smbios(std::string_view text, SmbiosSettings& settings, std::string& uuid);
// The --smbios values that give `settings` back (one per type that has a
// field; none for the defaults).
std::vector<std::string> format_smbios(const SmbiosSettings& settings);

}  // namespace amber::vmmctl
