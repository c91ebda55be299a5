// SPDX-License-Identifier: GPL-2.0-or-later
#include "block/crypto/crypt_io.h"

#include <cstdlib>
#include <cstring>
#include <memory>

namespace amber::block::crypto {

namespace {

struct FreeDeleter {
  void operator()(uint8_t* p) const { std::free(p); }
};

struct Bounce {
  std::unique_ptr<uint8_t, FreeDeleter> data;
  size_t capacity = 0;
  ~Bounce() { wipe(data.get(), capacity); }
};

uint8_t* bounce(size_t bytes) {
  thread_local Bounce b;
  if (b.capacity < bytes) {
    const size_t cap = (bytes + 4095) / 4096 * 4096;
    void* p = std::aligned_alloc(4096, cap);
    if (p == nullptr) return nullptr;
    wipe(b.data.get(), b.capacity);
    b.data.reset(static_cast<uint8_t*>(p));
    b.capacity = cap;
  }
  return b.data.get();
}

}  // namespace

Result<void> decrypt_iov(const SectorCipher& cipher, uint64_t sector, std::span<const iovec> iov) {
  uint8_t stage[kCryptSectorSize];
  size_t staged = 0;  // bytes of a sector split across pieces
  // Where the staged sector's bytes came from, to copy them back.
  struct Piece {
    uint8_t* p;
    size_t n;
  };
  Piece pieces[kCryptSectorSize];
  size_t npieces = 0;
  for (const iovec& v : iov) {
    uint8_t* p = static_cast<uint8_t*>(v.iov_base);
    size_t n = v.iov_len;
    while (n != 0) {
      if (staged == 0 && n >= kCryptSectorSize) {
        const size_t whole = n / kCryptSectorSize * kCryptSectorSize;
        AMBER_TRY(cipher.decrypt(sector, p, whole));
        sector += whole / kCryptSectorSize;
        p += whole;
        n -= whole;
        continue;
      }
      const size_t take = std::min(n, kCryptSectorSize - staged);
      std::memcpy(stage + staged, p, take);
      pieces[npieces++] = {p, take};
      staged += take;
      p += take;
      n -= take;
      if (staged == kCryptSectorSize) {
        AMBER_TRY(cipher.decrypt(sector++, stage, kCryptSectorSize));
        size_t at = 0;
        for (size_t i = 0; i < npieces; ++i) {
          std::memcpy(pieces[i].p, stage + at, pieces[i].n);
          at += pieces[i].n;
        }
        staged = 0;
        npieces = 0;
      }
    }
  }
  wipe(stage, sizeof stage);
  if (staged != 0) return Error(ErrorKind::kInvalidArgument, "encrypted read not sector aligned");
  return ok();
}

Result<iovec> encrypt_copy(const SectorCipher& cipher, uint64_t sector,
                           std::span<const iovec> iov) {
  size_t total = 0;
  for (const iovec& v : iov) total += v.iov_len;
  uint8_t* buf = bounce(total);
  if (buf == nullptr) return Error(ErrorKind::kNoSpace, "out of memory for an encryption buffer");
  size_t at = 0;
  for (const iovec& v : iov) {
    std::memcpy(buf + at, v.iov_base, v.iov_len);
    at += v.iov_len;
  }
  AMBER_TRY(cipher.encrypt(sector, buf, total));
  return iovec{buf, total};
}

}  // namespace amber::block::crypto
