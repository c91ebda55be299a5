// SPDX-License-Identifier: GPL-2.0-or-later
// check_image: consistency check and repair of an image, as `qemu-img check`.
//
// Thread-safety: needs the image file to itself (opens it with locks).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "block/image.h"

namespace amber::block {

enum class RepairMode { kNone, kLeaks, kAll };

// Field names follow qemu-img's ImageCheck JSON.
struct CheckReport {
  std::string filename;
  std::string format;
  uint64_t check_errors = 0;
  uint64_t corruptions = 0;
  uint64_t leaks = 0;
  uint64_t corruptions_fixed = 0;
  uint64_t leaks_fixed = 0;
  uint64_t image_end_offset = 0;
  uint64_t total_clusters = 0;
  uint64_t allocated_clusters = 0;
  uint64_t fragmented_clusters = 0;
  uint64_t compressed_clusters = 0;
  // Lines qemu-img prints on stderr while checking ("Leaked cluster 21
  // refcount=1 reference=0", "ERROR cluster 4 refcount=0 reference=1", ...).
  std::vector<std::string> messages;
  // Format has no consistency check (raw): qemu-img exits 63.
  bool not_supported = false;
};

struct CheckOptions {
  std::optional<ImageFormat> format;
  RepairMode repair = RepairMode::kNone;
  Sharing sharing = Sharing::kExclusiveWriter;
  io::CacheMode cache = io::CacheMode::kWriteback;
};

// Checks (and with repair, fixes) the image. An image that cannot even be
// opened gives an Error (qemu-img exit 1).
Result<CheckReport> check_image(const std::string& path, const CheckOptions& options);

}  // namespace amber::block
