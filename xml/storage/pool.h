// SPDX-License-Identifier: GPL-2.0-or-later
// Storage pool XML (<pool type='dir|fs|netfs'>) to and from a plain struct.
//
// Amber serves directory pools: `dir`, and `fs` / `netfs` whose file system
// is already mounted at the target path. Any other type is refused with
// kUnsupported "unsupported configuration: storage pool type 'T' is not
// supported by Amber (dir, fs and netfs are)"; libvirt maps it to
// VIR_ERR_CONFIG_UNSUPPORTED. Malformed documents give kCorrupt
// "XML error: ...". Elements Amber does not use (<source><adapter>, ...) are
// ignored, as libvirt ignores unknown elements in pool XML.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "xml/domain/domain.h"
#include "xml/storage/common.h"

namespace amber::xml {

enum class PoolType { kDir, kFs, kNetfs };
std::string_view to_string(PoolType type);

struct StoragePool {
  PoolType type = PoolType::kDir;
  std::string name;
  Uuid uuid;
  // Live numbers; formatted always (0 for an inactive pool, as libvirt).
  uint64_t capacity = 0;
  uint64_t allocation = 0;
  uint64_t available = 0;
  // <source>: fs <device path=...>, netfs <host name=...> + <dir path=...>,
  // <format type=...> for both.
  std::optional<std::string> source_device;
  std::optional<std::string> source_host;
  std::optional<std::string> source_dir;
  std::optional<std::string> source_format;
  std::string target_path;  // absolute
  std::optional<StoragePermissions> permissions;
  bool operator==(const StoragePool&) const = default;
};

// A missing <uuid> gets a fresh random one. The target path must be
// absolute; trailing slashes are dropped.
Result<StoragePool> parse_storage_pool(std::string_view xml);
std::string format_storage_pool(const StoragePool& pool);

}  // namespace amber::xml
