// SPDX-License-Identifier: GPL-2.0-or-later
#include "block/crypto/luks_image.h"

#include <algorithm>
#include <vector>

#include "block/crypto/crypt_io.h"
#include "block/crypto/luks.h"
#include "block/io/posix_file.h"
#include "block/open_file.h"

namespace amber::block::crypto {

LuksInfo luks_info(const LuksHeader& header) {
  LuksInfo info;
  auto params = luks_params(header);  // validated when the header was read
  if (params.ok()) {
    info.cipher_alg = std::string(to_string(params->cipher.alg));
    info.cipher_mode = std::string(to_string(params->cipher.mode));
    info.ivgen_alg = std::string(to_string(params->cipher.ivgen));
    if (params->cipher.ivgen == IvGenAlg::kEssiv)
      info.ivgen_hash_alg = std::string(to_string(params->cipher.ivgen_hash));
    info.hash_alg = std::string(to_string(params->hash));
  }
  info.payload_offset = uint64_t{header.payload_offset_sector} * 512;
  info.master_key_iters = header.mk_digest_iterations;
  info.uuid = header.uuid;
  for (const LuksSlot& s : header.slots) {
    LuksSlotInfo si;
    si.active = s.active == kLuksSlotActive;
    si.iters = s.iterations;
    si.stripes = s.stripes;
    si.key_offset = uint64_t{s.key_offset_sector} * 512;
    info.slots.push_back(si);
  }
  return info;
}

namespace {

size_t iov_bytes(std::span<const iovec> iov) {
  size_t n = 0;
  for (const auto& v : iov) n += v.iov_len;
  return n;
}

class LuksImage final : public Image {
 public:
  LuksImage(std::unique_ptr<io::File> file, std::unique_ptr<LuksVolume> volume, uint64_t size,
            const OpenOptions& options)
      : file_(std::move(file)), volume_(std::move(volume)), size_(size), options_(options) {}

  ImageFormat format() const override { return ImageFormat::kLuks; }
  uint64_t size() const override { return size_; }
  const std::string& filename() const override { return file_->name(); }
  bool read_only() const override { return options_.access == io::Access::kReadOnly; }

  Result<void> check_range(uint64_t offset, uint64_t length) const {
    if (offset % kSectorSize != 0 || length % kSectorSize != 0)
      return Error(ErrorKind::kInvalidArgument, "request not aligned to 512 bytes");
    if (offset > size_ || length > size_ - offset)
      return Error(ErrorKind::kOutOfRange, "request beyond the end of '" + file_->name() + "'");
    if (volume_->cipher() == nullptr)
      return Error(ErrorKind::kUnsupported,
                   "'" + file_->name() + "' was opened without its key (metadata only)");
    return ok();
  }
  Result<void> check_write(uint64_t offset, uint64_t length) const {
    if (read_only()) return Error(ErrorKind::kReadOnly, "'" + file_->name() + "' is read-only");
    return check_range(offset, length);
  }
  uint64_t payload() const { return volume_->payload_bytes(); }

  Result<void> readv(uint64_t offset, std::span<const iovec> iov) override {
    AMBER_TRY(check_range(offset, iov_bytes(iov)));
    AMBER_TRY(file_->readv_at(payload() + offset, iov));
    return decrypt_iov(*volume_->cipher(), offset / kSectorSize, iov);
  }
  Result<void> writev(uint64_t offset, std::span<const iovec> iov) override {
    AMBER_TRY(check_write(offset, iov_bytes(iov)));
    AMBER_TRY_ASSIGN(iovec enc, encrypt_copy(*volume_->cipher(), offset / kSectorSize, iov));
    return file_->writev_at(payload() + offset, std::span(&enc, 1));
  }
  Result<void> flush() override { return file_->flush(); }
  Result<void> discard(uint64_t offset, uint64_t length) override {
    return check_write(offset, length);
  }
  Result<void> write_zeroes(uint64_t offset, uint64_t length, ZeroMode mode) override {
    (void)mode;
    AMBER_TRY(check_write(offset, length));
    constexpr uint64_t kChunk = 1 << 20;
    std::vector<std::byte> zeros(std::min(length, kChunk));
    for (uint64_t pos = 0; pos < length; pos += kChunk) {
      const uint64_t n = std::min(kChunk, length - pos);
      std::fill(zeros.begin(), zeros.end(), std::byte{0});
      AMBER_TRY(write(offset + pos, std::span(zeros.data(), n)));
    }
    return ok();
  }
  Result<BlockStatus> block_status(uint64_t offset, uint64_t max_length) override {
    BlockStatus st;
    st.length = std::min(max_length, size_ > offset ? size_ - offset : 0);
    st.present = true;
    st.data = true;
    st.filename = file_->name();
    return st;
  }
  Result<void> resize(uint64_t new_size, Preallocation prealloc) override {
    if (read_only()) return Error(ErrorKind::kReadOnly, "'" + file_->name() + "' is read-only");
    if (prealloc != Preallocation::kOff)
      return Error(ErrorKind::kUnsupported, "luks resize supports only preallocation=off");
    AMBER_TRY(file_->truncate(payload() + new_size));
    size_ = new_size;
    return ok();
  }
  Result<ImageInfo> info() override {
    ImageInfo info;
    info.filename = file_->name();
    info.format = ImageFormat::kLuks;
    info.virtual_size = size_;
    info.encrypted = true;
    AMBER_TRY_ASSIGN(info.actual_size, file_->allocated_size());
    info.luks = luks_info(volume_->header());
    return info;
  }
  Image* backing() override { return nullptr; }
  Result<void> close() override { return read_only() ? ok() : file_->flush(); }

  Result<void> amend(const LuksAmendOptions& o) {
    if (read_only()) return Error(ErrorKind::kReadOnly, "'" + file_->name() + "' is read-only");
    if (!options_.passphrase)
      return Error(ErrorKind::kInvalidArgument, "Parameter 'key-secret' is required for cipher");
    return volume_->amend(*file_, 0, *options_.passphrase, o);
  }

 private:
  std::unique_ptr<io::File> file_;
  std::unique_ptr<LuksVolume> volume_;
  uint64_t size_;
  OpenOptions options_;
};

}  // namespace

Result<void> amend_luks_image(Image& image, const LuksAmendOptions& options) {
  auto* luks = dynamic_cast<LuksImage*>(&image);
  if (luks == nullptr) return Error(ErrorKind::kUnsupported, "Operation not supported", ENOTSUP);
  return luks->amend(options);
}

Result<std::unique_ptr<Image>> open_luks_image(std::unique_ptr<io::File> file,
                                               const OpenOptions& options) {
  const std::string name = file->name();
  if (!options.passphrase && !options.metadata_only)
    return Error(ErrorKind::kInvalidArgument, "Parameter 'key-secret' is required for cipher");
  AMBER_TRY_ASSIGN(uint64_t file_size, file->size());
  AMBER_TRY_ASSIGN(auto volume,
                   LuksVolume::open(*file, 0, file_size,
                                    options.passphrase ? options.passphrase.get() : nullptr));
  if (volume->payload_bytes() > file_size)
    return Error(ErrorKind::kCorrupt, "LUKS payload offset " +
                                          std::to_string(volume->payload_bytes()) +
                                          " is beyond the end of the image");
  // QEMU rounds the payload down to whole sectors.
  const uint64_t size = (file_size - volume->payload_bytes()) / kSectorSize * kSectorSize;
  return std::unique_ptr<Image>(new LuksImage(std::move(file), std::move(volume), size, options));
}

Result<void> create_luks_image(const std::string& path, const CreateOptions& options) {
  if (!options.encrypt || !options.encrypt->passphrase)
    return Error(ErrorKind::kInvalidArgument, "Parameter 'key-secret' is required for cipher");
  if (!options.size)
    return Error(ErrorKind::kInvalidArgument, "Image creation needs a size parameter");
  if (!options.backing_file.empty())
    return Error(ErrorKind::kUnsupported, "'luks' does not support backing files");
  AMBER_TRY_ASSIGN(auto file, create_host_file(path));
  LuksCreateOptions lo;
  lo.params.cipher = options.encrypt->cipher;
  lo.params.hash = options.encrypt->hash;
  lo.iter_time_ms = options.encrypt->iter_time_ms;
  AMBER_TRY_ASSIGN(auto volume, LuksVolume::create(*file, 0, lo, *options.encrypt->passphrase));
  AMBER_TRY(file->truncate(volume->payload_bytes() + *options.size));
  return file->flush();
}

}  // namespace amber::block::crypto
