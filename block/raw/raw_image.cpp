// SPDX-License-Identifier: GPL-2.0-or-later
#include "block/raw/raw_image.h"

#include <algorithm>
#include <vector>

#include "block/io/posix_file.h"
#include "block/open_file.h"
#include "block/unaligned.h"

namespace amber::block::raw {
namespace {

size_t iov_length(std::span<const iovec> iov) {
  size_t n = 0;
  for (const auto& v : iov) n += v.iov_len;
  return n;
}

class RawImage final : public Image {
 public:
  RawImage(std::unique_ptr<io::File> file, uint64_t size, const OpenOptions& options)
      : file_(std::move(file)), size_(size), options_(options) {}

  ImageFormat format() const override { return ImageFormat::kRaw; }
  uint64_t size() const override { return size_; }
  const std::string& filename() const override { return file_->name(); }
  bool read_only() const override { return options_.access == io::Access::kReadOnly; }

  // Any byte offset and length (the file layer bounces what O_DIRECT
  // cannot take as it is). kReadTail: a read may cover the whole last sector of a file whose size
  // is not a sector multiple (the rest reads as zeros, as in QEMU, whose
  // block layer rounds the size up to whole sectors).
  enum class Tail { kStrict, kReadTail };
  Result<void> check_range(uint64_t offset, uint64_t length, Tail tail = Tail::kStrict) const {
    const uint64_t end = tail == Tail::kReadTail && size_ % kSectorSize != 0
                             ? size_ + (kSectorSize - size_ % kSectorSize)
                             : size_;
    if (offset > end || length > end - offset)
      return Error(ErrorKind::kOutOfRange, "request beyond the end of '" + file_->name() + "'");
    return ok();
  }
  Result<void> check_write(uint64_t offset, uint64_t length) const {
    if (read_only()) return Error(ErrorKind::kReadOnly, "'" + file_->name() + "' is read-only");
    return check_range(offset, length);
  }

  Result<void> readv(uint64_t offset, std::span<const iovec> iov) override {
    AMBER_TRY(check_range(offset, iov_length(iov), Tail::kReadTail));
    return file_->readv_at(offset, iov);
  }
  Result<void> writev(uint64_t offset, std::span<const iovec> iov) override {
    AMBER_TRY(check_write(offset, iov_length(iov)));
    return file_->writev_at(offset, iov);
  }
  std::optional<uint64_t> map_direct(uint64_t offset, uint64_t length,
                                     DirectAccess access) override {
    if (access == DirectAccess::kOverwrite && read_only()) return std::nullopt;
    // Direct callers do sector I/O of their own: whole sectors only.
    if (!sector_aligned(offset, length) || !check_range(offset, length).ok()) return std::nullopt;
    return offset;  // guest offset == file offset
  }
  Result<void> flush() override { return file_->flush(); }
  Result<void> discard(uint64_t offset, uint64_t length) override {
    AMBER_TRY(check_write(offset, length));
    if (options_.discard == DiscardMode::kIgnore) return ok();
    return file_->punch_hole(offset, length);
  }
  Result<void> write_zeroes(uint64_t offset, uint64_t length, ZeroMode mode) override {
    AMBER_TRY(check_write(offset, length));
    if (mode == ZeroMode::kMayUnmap && options_.discard == DiscardMode::kUnmap)
      return file_->punch_hole(offset, length);
    return file_->write_zeroes(offset, length);
  }
  Result<BlockStatus> block_status(uint64_t offset, uint64_t max_length) override {
    BlockStatus st;
    st.length = std::min(max_length, size_ > offset ? size_ - offset : 0);
    st.present = true;
    st.data = true;
    st.offset = offset;
    st.filename = file_->name();
    if (st.length == 0) return st;
    // As QEMU's raw driver: the file's holes read as zeros and hold no data.
    // A failed query is no information: report data.
    auto extent = file_->extent_at(offset, st.length);
    if (extent.ok() && extent->length != 0) {
      st.length = extent->length;
      st.zero = extent->hole;
      st.data = !extent->hole;
    }
    return st;
  }
  Result<void> resize(uint64_t new_size, Preallocation prealloc) override {
    if (read_only()) return Error(ErrorKind::kReadOnly, "'" + file_->name() + "' is read-only");
    AMBER_TRY(file_->truncate(new_size));
    if (new_size > size_) {
      if (prealloc == Preallocation::kFalloc) AMBER_TRY(file_->allocate(size_, new_size - size_));
      if (prealloc == Preallocation::kFull)
        AMBER_TRY(io::write_zero_bytes(*file_, size_, new_size - size_));
    }
    size_ = new_size;
    return ok();
  }
  Result<ImageInfo> info() override {
    ImageInfo info;
    info.filename = file_->name();
    info.format = ImageFormat::kRaw;
    info.virtual_size = size_;
    AMBER_TRY_ASSIGN(info.actual_size, file_->allocated_size());
    return info;
  }
  Image* backing() override { return nullptr; }
  Result<void> close() override { return read_only() ? ok() : file_->flush(); }

 private:
  std::unique_ptr<io::File> file_;
  uint64_t size_;
  OpenOptions options_;
};

}  // namespace

Result<std::unique_ptr<Image>> open(std::unique_ptr<io::File> file, const OpenOptions& options) {
  AMBER_TRY_ASSIGN(uint64_t size, file->size());
  return std::unique_ptr<Image>(new RawImage(std::move(file), size, options));
}

Result<void> create(const std::string& path, uint64_t size, Preallocation prealloc) {
  AMBER_TRY_ASSIGN(auto file, create_host_file(path));
  AMBER_TRY(file->truncate(size));
  if (prealloc == Preallocation::kFalloc) AMBER_TRY(file->allocate(0, size));
  if (prealloc == Preallocation::kFull) AMBER_TRY(io::write_zero_bytes(*file, 0, size));
  return file->flush();
}

}  // namespace amber::block::raw
