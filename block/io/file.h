// SPDX-License-Identifier: GPL-2.0-or-later
// File: the I/O interface under the block engine (leveldb's Env idea).
//
// Every image format reads and writes its host file through this interface,
// so tests can run the engine over an in-memory file (MemoryFile) or one
// that fails or "crashes" on command (FaultFile). PosixFile is the real one.
//
// Semantics shared by every implementation:
// - read_at beyond the end of file fills the rest of the buffer with zeros
//   (as QEMU's file driver does); callers that need "inside the file" check
//   size() themselves.
// - Offsets and lengths may be unaligned; an implementation that needs
//   alignment (O_DIRECT) handles it internally (bounce buffers and a
//   read-modify-write for unaligned writes).
// - Data is durable only after a successful flush().
//
// Thread-safety: every method may be called from several threads at once.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "common/result.h"

namespace amber::block::io {

// Host cache modes, with QEMU's names and meaning.
enum class CacheMode {
  kWriteback,     // page cache, flush() -> fdatasync
  kNone,          // O_DIRECT, flush() -> fdatasync
  kWritethrough,  // page cache, every write durable (O_DSYNC)
  kDirectSync,    // O_DIRECT | O_DSYNC
  kUnsafe,        // page cache, flush() does nothing
};

// How the POSIX file submits I/O: plain syscalls on the caller's thread
// ("threads" in qemu-img: each caller is its own worker) or io_uring.
enum class AioBackend { kThreads, kIoUring };

enum class Access { kReadOnly, kReadWrite };

// Whether a newly created file may replace an existing one.
// kCreate: create if missing, keep the contents (image creation locks the
// file before it truncates it).
enum class CreateMode { kOpenExisting, kCreateTruncate, kCreateExclusive, kCreate };

Result<CacheMode> parse_cache_mode(std::string_view name);
std::string_view to_string(CacheMode mode);
Result<AioBackend> parse_aio_backend(std::string_view name);
std::string_view to_string(AioBackend backend);

// How File::zero_range_no_fallback answered.
enum class ZeroOutcome { kZeroed, kUnsupported };

// What the host file holds from an offset on, as SEEK_DATA/SEEK_HOLE see it.
struct FileExtent {
  bool hole = false;    // no data stored: reads as zeros (also past the end)
  uint64_t length = 0;  // bytes from the offset in this state
};

class File {
 public:
  virtual ~File() = default;

  virtual Result<void> read_at(uint64_t offset, std::span<std::byte> buffer) = 0;
  virtual Result<void> write_at(uint64_t offset, std::span<const std::byte> data) = 0;

  // Scatter/gather variants; the default implementations loop over the
  // vector. The iovec memory belongs to the caller.
  virtual Result<void> readv_at(uint64_t offset, std::span<const iovec> iov);
  virtual Result<void> writev_at(uint64_t offset, std::span<const iovec> iov);

  virtual Result<void> flush() = 0;

  // Deallocates [offset, offset+length) so it reads as zeros and the file's
  // allocated size shrinks (FALLOC_FL_PUNCH_HOLE). The file size is kept.
  virtual Result<void> punch_hole(uint64_t offset, uint64_t length) = 0;

  // Makes [offset, offset+length) read as zeros, allocated (ZERO_RANGE or
  // explicit writes); may extend the file.
  virtual Result<void> write_zeroes(uint64_t offset, uint64_t length) = 0;

  // Makes [offset, offset+length) read as zeros without writing zero
  // buffers (FALLOC_FL_ZERO_RANGE; QEMU's BDRV_REQ_NO_FALLBACK), or answers
  // kUnsupported having changed nothing, where the file cannot; the caller
  // then writes the zeros itself. May extend the file. The default answers
  // kUnsupported.
  virtual Result<ZeroOutcome> zero_range_no_fallback(uint64_t offset, uint64_t length);

  // Reserves blocks for [offset, offset+length) (posix_fallocate); may
  // extend the file.
  virtual Result<void> allocate(uint64_t offset, uint64_t length) = 0;

  virtual Result<uint64_t> size() = 0;
  virtual Result<void> truncate(uint64_t new_size) = 0;

  // Bytes the host file system has allocated to the file (st_blocks * 512).
  virtual Result<uint64_t> allocated_size() = 0;

  // Whether the bytes from `offset` on are a hole or data, for at most
  // `max_length` bytes (the answer's length is 1..max_length for
  // max_length > 0). Advisory, like QEMU's block status of a file: used
  // only to report zeros, never to skip reads. The default answers "data"
  // for the whole range, which is always safe.
  virtual Result<FileExtent> extent_at(uint64_t offset, uint64_t max_length);

  // A name for messages: the path, or "<memory>".
  virtual const std::string& name() const = 0;
};

// ---- helpers on top of the interface -----------------------------------

inline Result<void> read_exact(File& file, uint64_t offset, void* buffer, size_t length) {
  return file.read_at(offset, std::span<std::byte>(static_cast<std::byte*>(buffer), length));
}
inline Result<void> write_exact(File& file, uint64_t offset, const void* data, size_t length) {
  return file.write_at(offset,
                       std::span<const std::byte>(static_cast<const std::byte*>(data), length));
}

// Writes zero buffers over [offset, offset+length), so the host blocks are
// allocated and written (preallocation=full, as QEMU's file driver does it);
// write_zeroes may leave unwritten extents that the first guest write into
// them still has to convert. May extend the file.
Result<void> write_zero_bytes(File& file, uint64_t offset, uint64_t length);

}  // namespace amber::block::io
