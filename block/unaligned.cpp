// SPDX-License-Identifier: GPL-2.0-or-later
#include "block/unaligned.h"

#include <stdlib.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace amber::block {
namespace {

constexpr uint64_t kSector = 512;

struct FreeDeleter {
  void operator()(void* p) const { free(p); }
};
using Bounce = std::unique_ptr<uint8_t, FreeDeleter>;

Result<Bounce> make_bounce(uint64_t bytes) {
  void* p = nullptr;
  if (posix_memalign(&p, 4096, bytes) != 0)
    return Error(ErrorKind::kNoSpace, "out of memory for a bounce buffer");
  return Bounce(static_cast<uint8_t*>(p));
}

// Copies between `buf` and request bytes [pos, pos + n) of `iov`.
enum class Direction { kToIov, kFromIov };
void copy_iov(std::span<const iovec> iov, uint64_t pos, uint8_t* buf, uint64_t n, Direction dir) {
  for (const auto& v : iov) {
    if (n == 0) return;
    if (pos >= v.iov_len) {
      pos -= v.iov_len;
      continue;
    }
    const uint64_t take = std::min<uint64_t>(v.iov_len - pos, n);
    auto* base = static_cast<uint8_t*>(v.iov_base) + pos;
    if (dir == Direction::kToIov)
      std::memcpy(base, buf, take);
    else
      std::memcpy(buf, base, take);
    buf += take;
    n -= take;
    pos = 0;
  }
}

uint64_t total(std::span<const iovec> iov) {
  uint64_t n = 0;
  for (const auto& v : iov) n += v.iov_len;
  return n;
}

}  // namespace

Result<void> bounce_readv(uint64_t offset, std::span<const iovec> iov, const AlignedIo& read) {
  const uint64_t length = total(iov);
  if (length == 0) return ok();
  const uint64_t start = offset / kSector * kSector;
  const uint64_t end = (offset + length + kSector - 1) / kSector * kSector;
  AMBER_TRY_ASSIGN(Bounce buf, make_bounce(std::min(end - start, kBounceBytes)));
  for (uint64_t at = start; at < end;) {
    const uint64_t n = std::min(end - at, kBounceBytes);
    iovec v{buf.get(), n};
    AMBER_TRY(read(at, std::span(&v, 1)));
    // The part of [at, at + n) the caller asked for.
    const uint64_t from = std::max(at, offset), to = std::min(at + n, offset + length);
    copy_iov(iov, from - offset, buf.get() + (from - at), to - from, Direction::kToIov);
    at += n;
  }
  return ok();
}

Result<void> bounce_writev(uint64_t offset, std::span<const iovec> iov, const AlignedIo& read,
                           const AlignedIo& write) {
  const uint64_t length = total(iov);
  if (length == 0) return ok();
  const uint64_t start = offset / kSector * kSector;
  const uint64_t end = (offset + length + kSector - 1) / kSector * kSector;
  AMBER_TRY_ASSIGN(Bounce buf, make_bounce(std::min(end - start, kBounceBytes)));
  for (uint64_t at = start; at < end;) {
    const uint64_t n = std::min(end - at, kBounceBytes);
    const uint64_t from = std::max(at, offset), to = std::min(at + n, offset + length);
    // Only the partial sectors at either end of the request are read.
    if (from % kSector != 0) {
      iovec head{buf.get() + (from / kSector * kSector - at), kSector};
      AMBER_TRY(read(from / kSector * kSector, std::span(&head, 1)));
    }
    if (to % kSector != 0 && (to / kSector != from / kSector || from % kSector == 0)) {
      const uint64_t tail = to / kSector * kSector;
      iovec v{buf.get() + (tail - at), kSector};
      AMBER_TRY(read(tail, std::span(&v, 1)));
    }
    copy_iov(iov, from - offset, buf.get() + (from - at), to - from, Direction::kFromIov);
    iovec v{buf.get(), n};
    AMBER_TRY(write(at, std::span(&v, 1)));
    at += n;
  }
  return ok();
}

}  // namespace amber::block
