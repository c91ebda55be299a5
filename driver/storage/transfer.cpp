// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/storage/transfer.h"

#include <libvirt/libvirt.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <optional>

#include "block/io/image_lock.h"
#include "block/io/posix_file.h"
#include "common/bytes.h"

namespace amber::driver::storage {

namespace {

namespace io = block::io;

// The largest file offset (off_t).
constexpr uint64_t kMaxOffset = static_cast<uint64_t>(INT64_MAX);

std::atomic<size_t> open_transfers{0};

// One of the kMaxOpenTransfers places, held by a sink or source.
class TransferSlot {
 public:
  static Result<TransferSlot> take() {
    if (open_transfers.fetch_add(1) >= kMaxOpenTransfers) {
      open_transfers.fetch_sub(1);
      return Error(ErrorKind::kNoSpace, "too many volume uploads and downloads are running (" +
                                            std::to_string(kMaxOpenTransfers) + ")");
    }
    return TransferSlot();
  }
  TransferSlot(TransferSlot&& other) noexcept : held_(std::exchange(other.held_, false)) {}
  TransferSlot& operator=(TransferSlot&&) = delete;
  ~TransferSlot() {
    if (held_) open_transfers.fetch_sub(1);
  }

 private:
  TransferSlot() = default;
  bool held_ = true;
};

std::string hex(unsigned value) {
  char text[16];
  std::snprintf(text, sizeof(text), "0x%x", value);
  return text;
}

Result<void> check_range(uint64_t offset, uint64_t length) {
  if (offset > kMaxOffset || length > kMaxOffset - offset) {
    return Error(ErrorKind::kInvalidArgument, "offset " + std::to_string(offset) + " and length " +
                                                  std::to_string(length) +
                                                  " pass the largest file offset");
  }
  return {};
}

// The file, if it is a regular file or a block device.
Result<std::unique_ptr<io::PosixFile>> open_file(const std::string& path, io::Access access,
                                                 bool& block_device) {
  io::PosixOpenOptions options;
  options.access = access;
  AMBER_TRY_ASSIGN(auto file, io::PosixFile::open(path, options));
  struct stat st {};
  if (fstat(file->fd(), &st) != 0) return Error::from_errno(errno, "stat of '" + path + "'");
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
    return Error(ErrorKind::kInvalidArgument,
                 "'" + path + "' is neither a regular file nor a block device");
  }
  block_device = S_ISBLK(st.st_mode);
  return file;
}

class FileSink final : public protocol::StreamSink {
 public:
  FileSink(std::unique_ptr<io::PosixFile> file, bool block_device, uint64_t offset, uint64_t length,
           TransferSlot slot)
      : file_(std::move(file)),
        block_device_(block_device),
        position_(offset),
        limit_(length == 0 ? std::nullopt : std::optional<uint64_t>(offset + length)),
        length_(length),
        slot_(std::move(slot)) {}

  Result<void> write(std::span<const uint8_t> bytes) override {
    uint64_t count = bytes.size();
    bool too_long = false;
    const uint64_t end = limit_.value_or(kMaxOffset);
    if (count > end - position_) {
      count = end - position_;
      too_long = true;
    }
    if (count > 0) {
      // count <= bytes.size(), so the narrowing is exact.
      AMBER_TRY(file_->write_at(position_, std::as_bytes(bytes.first(static_cast<size_t>(count)))));
      position_ += count;
    }
    if (too_long) {
      return Error(ErrorKind::kOutOfRange, limit_ ? "the upload is longer than the " +
                                                        std::to_string(length_) + " bytes requested"
                                                  : "the upload passes the largest file offset");
    }
    return {};
  }

  Result<void> hole(uint64_t length) override {
    // As libvirt does, a hole is cut to what is left of the range.
    const uint64_t end = limit_.value_or(kMaxOffset);
    length = std::min(length, end - position_);
    if (length == 0) return {};
    if (block_device_) {
      AMBER_TRY(io::write_zero_bytes(*file_, position_, length));
    } else {
      AMBER_TRY_ASSIGN(uint64_t size, file_->size());
      if (position_ < size)
        AMBER_TRY(file_->punch_hole(position_, std::min(length, size - position_)));
      if (position_ + length > size) AMBER_TRY(file_->truncate(position_ + length));
    }
    position_ += length;
    return {};
  }

  Result<void> finish() override {
    auto flushed = file_->flush();
    if (!flushed.ok()) {
      return std::move(flushed).error().with_context("cannot sync the uploaded volume '" +
                                                     file_->name() + "'");
    }
    return {};
  }

  void abort() override {}

 private:
  std::unique_ptr<io::PosixFile> file_;
  const bool block_device_;
  uint64_t position_;
  const std::optional<uint64_t> limit_;  // offset + length, if a length was given
  const uint64_t length_;
  TransferSlot slot_;
};

class FileSource final : public protocol::StreamSource {
 public:
  FileSource(std::unique_ptr<io::PosixFile> file, uint64_t offset, uint64_t length, bool sparse,
             TransferSlot slot)
      : file_(std::move(file)),
        position_(offset),
        limit_(length == 0 ? kMaxOffset : offset + length),
        sparse_(sparse),
        slot_(std::move(slot)) {}

  Result<protocol::SourceChunk> next(std::span<uint8_t> buffer) override {
    protocol::SourceChunk chunk;
    // The size is asked each time: the file may change under a download,
    // and a download reads up to its end as it is then, as libvirt does.
    AMBER_TRY_ASSIGN(uint64_t size, file_->size());
    const uint64_t end = std::min(size, limit_);
    if (position_ >= end || buffer.empty()) return chunk;  // kEnd
    const uint64_t left = end - position_;
    if (sparse_ && data_left_ == 0) {
      AMBER_TRY_ASSIGN(io::FileExtent extent, file_->extent_at(position_, left));
      const uint64_t run = std::clamp<uint64_t>(extent.length, 1, left);
      if (extent.hole) {
        position_ += run;
        chunk.kind = protocol::SourceChunk::Kind::kHole;
        chunk.hole_length = run;
        return chunk;
      }
      data_left_ = run;
    }
    uint64_t count = std::min<uint64_t>(buffer.size(), left);
    if (sparse_) count = std::min(count, data_left_);
    // count <= buffer.size(), so the narrowing is exact.
    const size_t bytes = static_cast<size_t>(count);
    AMBER_TRY(file_->read_at(position_, std::as_writable_bytes(buffer.first(bytes))));
    position_ += count;
    if (sparse_) data_left_ -= count;
    if (sparse_ && all_zero(buffer.data(), bytes)) {
      // Allocated zeros (a non-sparse upload, a preallocated file) go out
      // as a hole too: the client reads the same bytes, and its copy
      // stays sparse.
      chunk.kind = protocol::SourceChunk::Kind::kHole;
      chunk.hole_length = count;
      return chunk;
    }
    chunk.kind = protocol::SourceChunk::Kind::kData;
    chunk.size = bytes;
    return chunk;
  }

 private:
  std::unique_ptr<io::PosixFile> file_;
  uint64_t position_;
  const uint64_t limit_;
  const bool sparse_;
  uint64_t data_left_ = 0;  // sparse: bytes of the current data run not yet sent
  TransferSlot slot_;
};

}  // namespace

Result<std::unique_ptr<protocol::StreamSink>> open_upload(const std::string& path, uint64_t offset,
                                                          uint64_t length, unsigned flags) {
  if ((flags & ~unsigned{VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM}) != 0) {
    return Error(ErrorKind::kInvalidArgument,
                 "unsupported flags (" +
                     hex(flags & ~unsigned{VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM}) +
                     ") in function virStorageVolUpload");
  }
  AMBER_TRY(check_range(offset, length));
  AMBER_TRY_ASSIGN(TransferSlot slot, TransferSlot::take());
  bool block_device = false;
  AMBER_TRY_ASSIGN(auto file, open_file(path, io::Access::kReadWrite, block_device));
  // QEMU's locks for a writer that lets nobody else write or resize.
  auto locked = io::lock_image_file(file->fd(), path, io::kPermConsistentRead | io::kPermWrite,
                                    io::kPermWrite | io::kPermResize);
  if (!locked.ok()) {
    const std::string why = locked.error().message();
    return Error(locked.error().kind(),
                 "cannot upload into volume '" + path +
                     "': it is in use by a running domain or another process (" +
                     why.substr(0, why.find('\n')) + ")");
  }
  return std::unique_ptr<protocol::StreamSink>(
      new FileSink(std::move(file), block_device, offset, length, std::move(slot)));
}

Result<std::unique_ptr<protocol::StreamSource>> open_download(const std::string& path,
                                                              uint64_t offset, uint64_t length,
                                                              unsigned flags) {
  if ((flags & ~unsigned{VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM}) != 0) {
    return Error(ErrorKind::kInvalidArgument,
                 "unsupported flags (" +
                     hex(flags & ~unsigned{VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM}) +
                     ") in function virStorageVolDownload");
  }
  AMBER_TRY(check_range(offset, length));
  AMBER_TRY_ASSIGN(TransferSlot slot, TransferSlot::take());
  bool block_device = false;
  AMBER_TRY_ASSIGN(auto file, open_file(path, io::Access::kReadOnly, block_device));
  const bool sparse = (flags & VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM) != 0;
  return std::unique_ptr<protocol::StreamSource>(
      new FileSource(std::move(file), offset, length, sparse, std::move(slot)));
}

}  // namespace amber::driver::storage
