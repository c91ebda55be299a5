// SPDX-License-Identifier: GPL-2.0-or-later
// Byte-granular requests over a sector-granular data path. qemu's block
// layer takes reads and writes at any byte offset and length and does a
// read-modify-write of the partial sectors underneath; the formats call
// these helpers only for requests that are not 512-byte aligned, so the
// aligned fast path stays as it is.
//
// The helpers expand the request to whole sectors and move it through an
// aligned bounce buffer of at most kBounceBytes at a time (memory stays
// bounded for any request length). `read` and `write` are the format's
// aligned data path; they are only ever called with sector-aligned
// offsets and lengths.
//
// Thread-safety: pure functions. A read-modify-write is not atomic with
// respect to other writes of the same sectors: the caller serialises
// (qcow2 holds its rw_ lock exclusively around bounce_writev).
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <span>

#include "common/result.h"

namespace amber::block {

// Bounce-buffer bytes per step (a multiple of 4096, so an O_DIRECT file
// takes the buffer as it is).
inline constexpr uint64_t kBounceBytes = uint64_t{1} << 20;

using AlignedIo = std::function<Result<void>(uint64_t offset, std::span<const iovec> iov)>;

inline bool sector_aligned(uint64_t offset, uint64_t length) {
  return (offset | length) % 512 == 0;
}

// Reads guest bytes [offset, offset + iov length) into `iov`.
Result<void> bounce_readv(uint64_t offset, std::span<const iovec> iov, const AlignedIo& read);
// Writes `iov` at guest byte `offset`: the partial first and last sectors
// are read first and merged.
Result<void> bounce_writev(uint64_t offset, std::span<const iovec> iov, const AlignedIo& read,
                           const AlignedIo& write);

}  // namespace amber::block
