// SPDX-License-Identifier: GPL-2.0-or-later
// QEMU-compatible image locking with OFD byte-range locks.
//
// QEMU (file-posix, 2.10+) marks each permission it holds with a shared
// lock on byte 100 + bit, and each permission it refuses to share with one
// on byte 200 + bit, then tests the opposite bytes for other holders. Amber
// uses the same bytes, so Amber and QEMU exclude each other: a writer holds
// WRITE (101) and refuses to share it (201); a reader refuses to share WRITE
// unless it was opened with force-share (-U).
//
// Thread-safety: call once per file descriptor at open time.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"

namespace amber::block::io {

// QEMU's BLK_PERM_* bits.
enum LockPermission : uint32_t {
  kPermConsistentRead = 1u << 0,
  kPermWrite = 1u << 1,
  kPermWriteUnchanged = 1u << 2,
  kPermResize = 1u << 3,
};
inline constexpr uint32_t kPermAll = 0xf;

// Takes the locks for holding `held` and not sharing `unshared`, after
// checking that no other open file description conflicts. On conflict:
// kLocked with QEMU's wording ('Failed to get "write" lock').
Result<void> lock_image_file(int fd, const std::string& path, uint32_t held, uint32_t unshared);

}  // namespace amber::block::io
