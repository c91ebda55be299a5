// SPDX-License-Identifier: GPL-2.0-or-later
// Storage volume XML (<volume type='file'>) to and from a plain struct:
// name, key, capacity / allocation / physical, <target> (path, format,
// permissions, compat, qcow2 features lazy_refcounts and extended_l2,
// encryption) and <backingStore> (path, format).
//
// The parser reads what a client sends to create a volume (virsh
// vol-create-as, virt-install, virt-manager): sizes with units, no key or
// path (the pool decides those). Elements Amber does not use are ignored,
// as libvirt does. Malformed documents give kCorrupt "XML error: ...".
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "xml/storage/common.h"

namespace amber::xml {

struct VolumeBacking {
  std::string path;
  std::optional<std::string> format;
  std::optional<StoragePermissions> permissions;
  bool operator==(const VolumeBacking&) const = default;
};

struct VolumeEncryption {
  std::string format;  // "luks"
  std::optional<std::string> secret_uuid;
  bool operator==(const VolumeEncryption&) const = default;
};

struct StorageVolume {
  std::string type = "file";
  std::string name;
  std::string key;  // the path, for file volumes
  std::optional<uint64_t> capacity;
  std::optional<uint64_t> allocation;
  std::optional<uint64_t> physical;
  std::string target_path;
  std::optional<std::string> format;  // raw, qcow2, ...
  std::optional<StoragePermissions> permissions;
  std::optional<std::string> compat;  // qcow2: 0.10 or 1.1
  std::optional<uint64_t> cluster_size;
  bool lazy_refcounts = false;
  bool extended_l2 = false;
  std::optional<VolumeEncryption> encryption;
  std::optional<VolumeBacking> backing;
  bool operator==(const StorageVolume&) const = default;
};

Result<StorageVolume> parse_storage_volume(std::string_view xml);
std::string format_storage_volume(const StorageVolume& volume);

}  // namespace amber::xml
