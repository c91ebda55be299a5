// SPDX-License-Identifier: GPL-2.0-or-later
// Encrypted data I/O helpers shared by the qcow2 and raw LUKS drivers:
// decrypt a read in place in the caller's buffers, and encrypt a write
// into a per-thread bounce buffer (the guest's buffer is never modified)
// aligned for O_DIRECT.
//
// Thread-safety: reentrant; the bounce buffer is thread-local and valid
// until the calling thread's next encrypt_copy.
#pragma once

#include <sys/uio.h>

#include <span>

#include "block/crypto/cipher.h"

namespace amber::block::crypto {

// Decrypts the 512-byte sectors in `iov` (its total a multiple of 512,
// pieces of any size), the first being sector `sector`.
Result<void> decrypt_iov(const SectorCipher& cipher, uint64_t sector, std::span<const iovec> iov);

// Copies `iov` into the thread's bounce buffer, encrypts it there and
// returns the one iovec that describes it.
Result<iovec> encrypt_copy(const SectorCipher& cipher, uint64_t sector, std::span<const iovec> iov);

}  // namespace amber::block::crypto
