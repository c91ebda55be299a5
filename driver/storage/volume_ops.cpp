// SPDX-License-Identifier: GPL-2.0-or-later
// The engine work of the volume procedures: create, clone, resize, wipe
// and the in-use check (volume_file.h).
#include <libvirt/libvirt.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include "block/convert.h"
#include "block/create.h"
#include "block/image.h"
#include "driver/storage/volume_file.h"

namespace amber::driver::storage {

namespace {

// Threads a clone copies with (two measured as fast as four or eight here:
// the copy is bound by the direct writes).
constexpr unsigned kCopyWorkers = 2;

Result<block::ImageFormat> volume_format(const std::optional<std::string>& format,
                                         block::ImageFormat fallback) {
  if (!format || format->empty()) return fallback;
  if (*format == "raw") return block::ImageFormat::kRaw;
  if (*format == "qcow2") return block::ImageFormat::kQcow2;
  return Error(ErrorKind::kUnsupported, "unsupported configuration: volume format '" + *format +
                                            "' is not supported by Amber (raw and qcow2 are)");
}

// <encryption format='luks'> with one passphrase secret, as libvirt's
// storage driver accepts it for qcow2 (encrypt.format=luks) and raw (a raw
// LUKS volume, qemu-img -f luks); PBKDF2 iteration time qemu-img's 2 s.
Result<void> add_encryption(const xml::StorageVolume& def,
                            std::shared_ptr<const block::crypto::SecretBytes> passphrase,
                            block::CreateOptions& options) {
  if (def.encryption->format != "luks") {
    return Error(ErrorKind::kUnsupported,
                 "unsupported configuration: unsupported volume "
                 "encryption format '" +
                     def.encryption->format + "' (only luks)");
  }
  if (!def.encryption->secret_uuid)
    return Error(ErrorKind::kInvalidArgument, "no secret provided for luks encryption");
  if (!passphrase) return Error(ErrorKind::kInternal, "unable to look up encryption secret");
  block::EncryptOptions encrypt;
  encrypt.passphrase = std::move(passphrase);
  options.encrypt = std::move(encrypt);
  if (options.format == block::ImageFormat::kRaw) options.format = block::ImageFormat::kLuks;
  return ok();
}

Result<block::CreateOptions> create_options(
    const xml::StorageVolume& def, block::ImageFormat fallback, bool prealloc_metadata,
    std::shared_ptr<const block::crypto::SecretBytes> passphrase = {}) {
  block::CreateOptions options;
  AMBER_TRY_ASSIGN(options.format, volume_format(def.format, fallback));
  if (def.capacity && *def.capacity > 0) {
    // The engine works in whole sectors, as qemu-img rounds sizes up.
    options.size =
        (*def.capacity + block::kSectorSize - 1) / block::kSectorSize * block::kSectorSize;
  }
  if (options.format == block::ImageFormat::kQcow2) {
    options.lazy_refcounts = def.lazy_refcounts;
    options.extended_l2 = def.extended_l2;
    if (def.compat == "0.10") options.version = 2;
    if (def.cluster_size) options.cluster_size = *def.cluster_size;
    if (prealloc_metadata) options.preallocation = block::Preallocation::kMetadata;
  } else {
    if (def.lazy_refcounts || def.extended_l2) {
      return Error(ErrorKind::kUnsupported,
                   "unsupported configuration: qcow2 features on a raw volume");
    }
    if (def.allocation && def.capacity && *def.allocation >= *def.capacity && *def.capacity > 0 &&
        !def.encryption) {
      options.preallocation = block::Preallocation::kFalloc;
    }
  }
  if (def.encryption) AMBER_TRY(add_encryption(def, std::move(passphrase), options));
  return options;
}

Result<void> apply_permissions(const std::string& path, const xml::StorageVolume& def) {
  mode_t mode = 0600;
  if (def.permissions && def.permissions->mode) mode = *def.permissions->mode;
  if (::chmod(path.c_str(), mode) != 0) return Error::from_errno(errno, "chmod " + path);
  if (def.permissions && (def.permissions->owner || def.permissions->group)) {
    const auto id = [](const std::optional<int64_t>& value) {
      return value && *value >= 0 ? static_cast<uid_t>(*value) : static_cast<uid_t>(-1);
    };
    if (::chown(path.c_str(), id(def.permissions->owner), id(def.permissions->group)) != 0) {
      return Error::from_errno(errno, "chown " + path);
    }
  }
  return ok();
}

block::OpenOptions write_options(block::ImageFormat format) {
  block::OpenOptions options;
  options.format = format;
  options.access = block::io::Access::kReadWrite;
  options.backing = block::BackingMode::kNone;
  return options;
}

// A clone's target: written around the page cache (O_DIRECT, cache=none),
// so 1 GiB of copy is not also 1 GiB of dirty pages to write back and the
// final flush has little left to do; where the file system refuses
// O_DIRECT (tmpfs), through the page cache.
Result<std::unique_ptr<block::Image>> open_clone_target(const std::string& path,
                                                        block::ImageFormat format) {
  block::OpenOptions options = write_options(format);
  options.cache = block::io::CacheMode::kNone;
  auto direct = block::open_image(path, options);
  if (direct.ok() || direct.error().error_number() != EINVAL) return direct;
  return block::open_image(path, write_options(format));
}

// SOURCE (read through its chain) into the new image TARGET with the
// engine's convert (as `qemu-img convert` would: sparse, zero runs of the
// target's clusters skipped, in guest order), then flushed and closed.
Result<void> copy_data(block::Image& source, block::Image& target) {
  block::ConvertOptions copy;
  copy.workers = kCopyWorkers;
  copy.target = block::TargetContents::kZeroes;  // just created
  if (auto info = target.info(); info.ok() && info->cluster_size)
    copy.granularity = *info->cluster_size;
  block::Image* const sources[] = {&source};
  AMBER_TRY(block::convert_images(sources, target, copy));
  AMBER_TRY(target.flush());
  return target.close();
}

}  // namespace

Result<void> create_volume_file(const std::string& path, const xml::StorageVolume& def,
                                bool prealloc_metadata,
                                std::shared_ptr<const block::crypto::SecretBytes> passphrase) {
  AMBER_TRY_ASSIGN(
      block::CreateOptions options,
      create_options(def, block::ImageFormat::kRaw, prealloc_metadata, std::move(passphrase)));
  if (def.backing) {
    if (options.format != block::ImageFormat::kQcow2) {
      return Error(ErrorKind::kUnsupported,
                   "unsupported configuration: a backing store needs a qcow2 volume");
    }
    options.backing_file = def.backing->path;
    if (def.backing->format) {
      AMBER_TRY_ASSIGN(options.backing_format,
                       volume_format(def.backing->format, block::ImageFormat::kRaw));
    }
  } else if (!options.size) {
    return Error(ErrorKind::kInvalidArgument, "volume '" + def.name + "' has no capacity");
  }
  auto created = block::create_image(path, options);
  if (!created.ok()) {
    ::unlink(path.c_str());
    return created;
  }
  return apply_permissions(path, def);
}

Result<void> clone_volume_file(const std::string& path, const xml::StorageVolume& def,
                               const VolumeState& source, bool prealloc_metadata) {
  if (def.encryption && def.format.value_or(source.format) == "raw") {
    return Error(ErrorKind::kUnsupported,
                 "unsupported configuration: cannot use inputvol with encrypted raw volume");
  }
  if (def.encryption || !source.encryption.empty()) {
    return Error(ErrorKind::kUnsupported, "unsupported configuration: cloning " +
                                              std::string(def.encryption ? "into" : "from") +
                                              " an encrypted volume is not supported yet");
  }
  AMBER_TRY_ASSIGN(block::ImageFormat source_format,
                   volume_format(source.format, block::ImageFormat::kRaw));
  AMBER_TRY_ASSIGN(block::CreateOptions options,
                   create_options(def, source_format, prealloc_metadata));
  block::OpenOptions read;
  read.format = source_format;  // the pool's probe, never guessed again
  read.access = block::io::Access::kReadOnly;
  AMBER_TRY_ASSIGN(auto input, block::open_image(source.path, read));
  options.size = std::max(options.size.value_or(0), input->size());
  auto result = [&]() -> Result<void> {
    AMBER_TRY(block::create_image(path, options));
    AMBER_TRY_ASSIGN(auto output, open_clone_target(path, options.format));
    AMBER_TRY(copy_data(*input, *output));
    return apply_permissions(path, def);
  }();
  if (!result.ok()) ::unlink(path.c_str());
  return result;
}

Result<void> resize_volume_file(const VolumeState& volume, uint64_t capacity, unsigned flags) {
  if (!volume.encryption.empty() && volume.format == "raw") {
    // Resizing the file would move the payload's end behind LUKS's back.
    return Error(ErrorKind::kUnsupported,
                 "unsupported configuration: resizing the raw LUKS volume '" + volume.name +
                     "' is not supported yet");
  }
  AMBER_TRY_ASSIGN(block::ImageFormat format,
                   volume_format(volume.format, block::ImageFormat::kRaw));
  if (flags & VIR_STORAGE_VOL_RESIZE_DELTA) {
    if (flags & VIR_STORAGE_VOL_RESIZE_SHRINK) {
      if (capacity > volume.capacity) {
        return Error(ErrorKind::kInvalidArgument, "cannot shrink volume below zero");
      }
      capacity = volume.capacity - capacity;
    } else {
      capacity += volume.capacity;
    }
  }
  capacity = (capacity + block::kSectorSize - 1) / block::kSectorSize * block::kSectorSize;
  if (capacity < volume.capacity && !(flags & VIR_STORAGE_VOL_RESIZE_SHRINK)) {
    return Error(ErrorKind::kInvalidArgument,
                 "can't shrink capacity below existing capacity unless shrink flag explicitly "
                 "specified");
  }
  AMBER_TRY(check_not_in_use(volume));
  AMBER_TRY_ASSIGN(auto image, block::open_image(volume.path, write_options(format)));
  const auto prealloc = (flags & VIR_STORAGE_VOL_RESIZE_ALLOCATE) ? block::Preallocation::kFalloc
                                                                  : block::Preallocation::kOff;
  AMBER_TRY(image->resize(capacity, prealloc));
  return image->close();
}

Result<void> wipe_volume_file(const VolumeState& volume, unsigned algorithm) {
  if (algorithm != VIR_STORAGE_VOL_WIPE_ALG_ZERO) {
    return Error(ErrorKind::kUnsupported, "wipe algorithm " + std::to_string(algorithm) +
                                              " is not supported by Amber (only zero is)");
  }
  AMBER_TRY_ASSIGN(block::ImageFormat format,
                   volume_format(volume.format, block::ImageFormat::kRaw));
  AMBER_TRY(check_not_in_use(volume));
  AMBER_TRY_ASSIGN(auto image, block::open_image(volume.path, write_options(format)));
  AMBER_TRY(image->write_zeroes(0, image->size(), block::ZeroMode::kMayUnmap));
  AMBER_TRY(image->flush());
  return image->close();
}

Result<void> check_not_in_use(const VolumeState& volume) {
  auto format = volume_format(volume.format, block::ImageFormat::kRaw);
  block::OpenOptions options = write_options(format.ok() ? *format : block::ImageFormat::kRaw);
  auto image = block::open_image(volume.path, options);
  if (!image.ok() && image.error().kind() == ErrorKind::kLocked) {
    return Error(ErrorKind::kLocked, "volume '" + volume.name +
                                         "' is in use (its image is locked by a running domain "
                                         "or another process): " +
                                         image.error().message());
  }
  return ok();  // any other failure is the operation's own to report
}

}  // namespace amber::driver::storage
