// SPDX-License-Identifier: GPL-2.0-or-later
#include "block/io/image_lock.h"

#include <fcntl.h>

#include <cerrno>

namespace amber::block::io {
namespace {

// Byte offsets used by QEMU's raw_apply_lock_bytes().
constexpr off_t kPermBase = 100;
constexpr off_t kSharedBase = 200;
// Bits QEMU 7.2 may lock (it still reserves the old GRAPH_MOD bit 4).
constexpr unsigned kPermBits = 5;

const char* perm_name(unsigned bit) {
  switch (bit) {
    case 0:
      return "consistent read";
    case 1:
      return "write";
    case 2:
      return "write unchanged";
    case 3:
      return "resize";
    default:
      return "graph modification";
  }
}

Result<bool> byte_locked_by_other(int fd, off_t byte) {
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = byte;
  fl.l_len = 1;
  if (fcntl(fd, F_OFD_GETLK, &fl) != 0) return Error::from_errno(errno, "lock test failed");
  return fl.l_type != F_UNLCK;
}

Result<void> set_byte(int fd, off_t byte, short type) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = byte;
  fl.l_len = 1;
  if (fcntl(fd, F_OFD_SETLK, &fl) != 0) return Error::from_errno(errno, "lock failed");
  return ok();
}

}  // namespace

Result<void> lock_image_file(int fd, const std::string& path, uint32_t held, uint32_t unshared) {
  // Apply our own bytes first (shared locks never conflict with each
  // other), then test the opposite bytes, as QEMU does.
  for (unsigned bit = 0; bit < kPermBits; ++bit) {
    const uint32_t perm = 1u << bit;
    if ((held & perm) != 0) {
      AMBER_TRY(set_byte(fd, kPermBase + bit, F_RDLCK));
    }
    if ((unshared & perm) != 0) {
      AMBER_TRY(set_byte(fd, kSharedBase + bit, F_RDLCK));
    }
  }
  for (unsigned bit = 0; bit < kPermBits; ++bit) {
    const uint32_t perm = 1u << bit;
    if ((held & perm) != 0) {
      AMBER_TRY_ASSIGN(bool busy, byte_locked_by_other(fd, kSharedBase + bit));
      if (busy) {
        return Error(ErrorKind::kLocked,
                     std::string("Failed to get \"") + perm_name(bit) +
                         "\" lock\nIs another process using the image [" + path + "]?",
                     EAGAIN);
      }
    }
    if ((unshared & perm) != 0) {
      AMBER_TRY_ASSIGN(bool busy, byte_locked_by_other(fd, kPermBase + bit));
      if (busy) {
        return Error(ErrorKind::kLocked,
                     std::string("Failed to get shared \"") + perm_name(bit) +
                         "\" lock\nIs another process using the image [" + path + "]?",
                     EAGAIN);
      }
    }
  }
  return ok();
}

}  // namespace amber::block::io
