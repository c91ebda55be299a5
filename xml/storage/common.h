// SPDX-License-Identifier: GPL-2.0-or-later
// Pieces the storage pool and volume XML share: sizes with libvirt's units
// (<capacity unit='G'>2</capacity>) and <permissions> (mode, owner, group,
// label).
//
// Thread-safety: pure functions over one Node or Element.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/result.h"
#include "xml/node.h"
#include "xml/writer.h"

namespace amber::xml {

struct StoragePermissions {
  std::optional<uint32_t> mode;  // octal in XML
  std::optional<int64_t> owner;  // uid; -1 means "as the daemon"
  std::optional<int64_t> group;
  std::optional<std::string> label;
  bool operator==(const StoragePermissions&) const = default;
};

// The size in NODE's text scaled by its unit attribute (libvirt's
// virScaleInteger: b/bytes, K/KiB, KB, M/MiB, MB, G/GiB, GB, T/TiB, TB,
// P/PiB, PB, E/EiB, EB; a bare letter is the power of two). An XML error
// naming the path for a bad number, an unknown unit or an overflow.
Result<uint64_t> parse_scaled_size(const Node& node);
// <NAME unit='bytes'>VALUE</NAME> under PARENT.
void add_size(Element& parent, std::string name, uint64_t bytes);

Result<std::optional<StoragePermissions>> parse_permissions(const Node& parent);
void format_permissions(Element& parent, const StoragePermissions& permissions);

}  // namespace amber::xml
