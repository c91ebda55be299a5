// SPDX-License-Identifier: GPL-2.0-or-later
// PosixFile: a File on a host file descriptor, honouring a cache mode.
//
// Cache modes map to open flags as in QEMU: none -> O_DIRECT, directsync ->
// O_DIRECT|O_DSYNC, writethrough -> O_DSYNC, unsafe -> flush() is a no-op.
// With O_DIRECT, unaligned requests go through aligned bounce buffers and
// unaligned writes through a read-modify-write under a lock.
// The io_uring backend submits each request on a per-thread ring and waits
// for it, except page-cache writes, which io_uring would hand to a worker
// thread (posix_file.cpp says why); the threads backend uses
// preadv/pwritev on the caller's thread.
//
// Thread-safety: all methods are safe to call concurrently.
#pragma once

#include <atomic>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "block/io/file.h"
#include "common/unique_fd.h"

namespace amber::block::io {

// Which way a transfer goes (PosixFile's internal transfer loop).
enum class IoDirection { kRead, kWrite };

struct PosixOpenOptions {
  Access access = Access::kReadOnly;
  CacheMode cache = CacheMode::kWriteback;
  AioBackend aio = AioBackend::kThreads;
  CreateMode create = CreateMode::kOpenExisting;
};

class PosixFile final : public File {
 public:
  static Result<std::unique_ptr<PosixFile>> open(const std::string& path,
                                                 const PosixOpenOptions& options);
  ~PosixFile() override;
  PosixFile(const PosixFile&) = delete;
  PosixFile& operator=(const PosixFile&) = delete;

  Result<void> read_at(uint64_t offset, std::span<std::byte> buffer) override;
  Result<void> write_at(uint64_t offset, std::span<const std::byte> data) override;
  Result<void> readv_at(uint64_t offset, std::span<const iovec> iov) override;
  Result<void> writev_at(uint64_t offset, std::span<const iovec> iov) override;
  Result<void> flush() override;
  Result<void> punch_hole(uint64_t offset, uint64_t length) override;
  Result<void> write_zeroes(uint64_t offset, uint64_t length) override;
  // FALLOC_FL_ZERO_RANGE on a regular file; kUnsupported on anything else
  // and, once the file system refused it, for good.
  Result<ZeroOutcome> zero_range_no_fallback(uint64_t offset, uint64_t length) override;
  Result<void> allocate(uint64_t offset, uint64_t length) override;
  Result<uint64_t> size() override;
  Result<void> truncate(uint64_t new_size) override;
  Result<uint64_t> allocated_size() override;
  Result<FileExtent> extent_at(uint64_t offset, uint64_t max_length) override;
  const std::string& name() const override { return path_; }

  int fd() const { return fd_.get(); }
  bool direct() const { return direct_; }
  // Whether a request at `offset` on `iov` may go to fd() as it is: always
  // without O_DIRECT, else offset, lengths and addresses aligned to the
  // device's logical block. Callers doing their own I/O on fd() (IoRing)
  // send the rest through readv_at/writev_at, which bounce them; their own
  // writes are not ordered against a bounced write's read-modify-write, so
  // they must not overlap one (amber-img bench, the only such caller,
  // never writes unaligned).
  bool aligned(uint64_t offset, std::span<const iovec> iov) const;

 private:
  // How the file can zero a range without writing zeros.
  enum class ZeroRange { kSupported, kUnsupported };
  PosixFile(std::string path, UniqueFd fd, PosixOpenOptions options, bool direct, size_t alignment,
            ZeroRange zero_range);
  Result<void> transfer(uint64_t offset, std::span<const iovec> iov, IoDirection direction);
  Result<void> bounce_read(uint64_t offset, std::span<const iovec> iov);
  Result<void> bounce_write(uint64_t offset, std::span<const iovec> iov);
  int locked_fallocate(int mode, uint64_t offset, uint64_t length);

  std::string path_;
  UniqueFd fd_;
  PosixOpenOptions options_;
  bool direct_;
  size_t alignment_;
  // O_DIRECT: a read-modify-write cycle holds it exclusively; every other
  // change of the file's contents (aligned writes, zeroing, discard) holds
  // it shared. Otherwise an aligned write landing between an RMW's read and
  // its write would be undone for the bytes of the block the RMW did not
  // mean to change.
  std::shared_mutex rmw_mutex_;
  std::atomic<ZeroRange> zero_range_;
};

}  // namespace amber::block::io
