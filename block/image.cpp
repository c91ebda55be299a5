// SPDX-License-Identifier: GPL-2.0-or-later
#include "block/image.h"

#include <array>
#include <cstring>

#include "block/check.h"
#include "block/create.h"
#include "block/crypto/luks_image.h"
#include "block/io/image_lock.h"
#include "block/json_name.h"
#include "block/open_file.h"
#include "block/qcow2/qcow2.h"
#include "block/raw/raw_image.h"

namespace amber::block {

std::string_view to_string(ImageFormat format) {
  if (format == ImageFormat::kLuks) return "luks";
  return format == ImageFormat::kQcow2 ? "qcow2" : "raw";
}

Result<ImageFormat> parse_format(std::string_view name) {
  if (name == "qcow2") return ImageFormat::kQcow2;
  if (name == "raw") return ImageFormat::kRaw;
  if (name == "luks") return ImageFormat::kLuks;
  return Error(ErrorKind::kUnsupported, "Unknown file format '" + std::string(name) + "'");
}

Result<Preallocation> parse_preallocation(std::string_view name) {
  if (name == "off") return Preallocation::kOff;
  if (name == "metadata") return Preallocation::kMetadata;
  if (name == "falloc") return Preallocation::kFalloc;
  if (name == "full") return Preallocation::kFull;
  return Error(ErrorKind::kInvalidArgument,
               "Parameter 'preallocation' does not accept value '" + std::string(name) + "'");
}

std::string_view to_string(Preallocation mode) {
  switch (mode) {
    case Preallocation::kOff:
      return "off";
    case Preallocation::kMetadata:
      return "metadata";
    case Preallocation::kFalloc:
      return "falloc";
    case Preallocation::kFull:
      return "full";
  }
  return "off";
}

Result<ImageFormat> probe_format(io::File& file) {
  std::array<unsigned char, 6> magic{};
  AMBER_TRY_ASSIGN(uint64_t size, file.size());
  if (size < magic.size()) return ImageFormat::kRaw;
  AMBER_TRY(io::read_exact(file, 0, magic.data(), magic.size()));
  // QEMU's crypto driver probes the LUKS magic (and version 1).
  static constexpr unsigned char kLuksMagic[6] = {'L', 'U', 'K', 'S', 0xba, 0xbe};
  if (std::memcmp(magic.data(), kLuksMagic, 6) == 0) return ImageFormat::kLuks;
  const uint32_t value = (uint32_t{magic[0]} << 24) | (uint32_t{magic[1]} << 16) |
                         (uint32_t{magic[2]} << 8) | uint32_t{magic[3]};
  return value == qcow2::kMagic ? ImageFormat::kQcow2 : ImageFormat::kRaw;
}

Result<std::unique_ptr<io::PosixFile>> open_host_file(const std::string& path,
                                                      const OpenOptions& options) {
  io::PosixOpenOptions o;
  o.access = options.access;
  o.cache = options.cache;
  o.aio = options.aio;
  AMBER_TRY_ASSIGN(auto file, io::PosixFile::open(path, o));
  if (options.locking == Locking::kOn) {
    uint32_t held = io::kPermConsistentRead;
    uint32_t unshared = io::kPermWrite | io::kPermResize;
    if (options.access == io::Access::kReadWrite) held |= io::kPermWrite | io::kPermResize;
    if (options.sharing == Sharing::kForceShare) {
      held = options.access == io::Access::kReadWrite ? held : 0;
      unshared = 0;
    }
    AMBER_TRY(io::lock_image_file(file->fd(), path, held, unshared));
  }
  return file;
}

Result<std::unique_ptr<io::PosixFile>> create_host_file(const std::string& path) {
  io::PosixOpenOptions o;
  o.access = io::Access::kReadWrite;
  o.create = io::CreateMode::kCreate;
  AMBER_TRY_ASSIGN(auto file, io::PosixFile::open(path, o));
  const uint32_t permissions = io::kPermWrite | io::kPermResize;
  AMBER_TRY(io::lock_image_file(file->fd(), path, permissions, permissions));
  AMBER_TRY(file->truncate(0));
  return file;
}

std::string resolve_backing_path(const std::string& image_path, const std::string& backing) {
  // A json: name's file names are relative to the working directory, as
  // in QEMU (it has a protocol prefix).
  if (backing.empty() || backing[0] == '/' || is_json_name(backing)) return backing;
  auto slash = image_path.rfind('/');
  if (slash == std::string::npos) return backing;
  return image_path.substr(0, slash + 1) + backing;
}

namespace {

Result<std::unique_ptr<Image>> open_at_depth(const std::string& path,
                                             std::optional<ImageFormat> format,
                                             const OpenOptions& options, unsigned depth) {
  if (depth > options.max_chain_depth) {
    return Error(ErrorKind::kCorrupt, "backing chain of '" + path + "' is deeper than " +
                                          std::to_string(options.max_chain_depth) +
                                          " levels (a loop?)");
  }
  std::optional<JsonImageSpec> spec;
  OpenOptions json_options;
  if (is_json_name(path)) {
    AMBER_TRY_ASSIGN(spec, parse_json_name(path));
    // A format given outside the name (-f, the header's backing format)
    // wins, as QEMU joins the options without overwriting.
    if (!format) format = spec->format;
    json_options = options;
    AMBER_TRY(apply_json_options(*spec, json_options));
  }
  const OpenOptions& opts = spec ? json_options : options;
  AMBER_TRY_ASSIGN(auto file, open_host_file(spec ? spec->filename : path, opts));
  if (!format) {
    AMBER_TRY_ASSIGN(format, probe_format(*file));
  }
  Result<std::unique_ptr<Image>> image = Error(ErrorKind::kInternal, "no image");
  if (*format == ImageFormat::kQcow2) {
    image = qcow2::open(std::move(file), opts, depth);
  } else if (*format == ImageFormat::kLuks) {
    image = crypto::open_luks_image(std::move(file), opts);
  } else {
    image = raw::open(std::move(file), opts);
  }
  if (image.ok() && spec) {
    AMBER_TRY(check_format_options(*spec, *format));
  }
  return image;
}

}  // namespace

Result<std::unique_ptr<Image>> open_backing_image(const std::string& path,
                                                  std::optional<ImageFormat> format,
                                                  const OpenOptions& overlay_options,
                                                  unsigned depth) {
  OpenOptions o = overlay_options;
  o.access = io::Access::kReadOnly;
  // Backing files are read-only and immutable while they have overlays, so
  // they are read through the host page cache even when the overlay uses
  // O_DIRECT (cache=none/directsync): the overlay's own writes keep their
  // cache mode, and every linked clone of one base shares the cached base.
  // Copy-on-write reads of the base then cost a page-cache copy instead of
  // a device round trip.
  if (o.cache == io::CacheMode::kNone || o.cache == io::CacheMode::kDirectSync)
    o.cache = io::CacheMode::kWriteback;
  // A backing file is shared with its other overlays; it only refuses
  // writers, which QEMU does the same way.
  o.sharing = Sharing::kExclusiveWriter;
  if (overlay_options.sharing == Sharing::kForceShare || overlay_options.share_backing_writers)
    o.sharing = Sharing::kForceShare;
  return open_at_depth(path, format, o, depth);
}

Result<std::unique_ptr<Image>> open_image(const std::string& path, const OpenOptions& options) {
  return open_at_depth(path, options.format, options, 0);
}

Result<void> create_image(const std::string& path, const CreateOptions& options) {
  if (options.format == ImageFormat::kQcow2) return qcow2::create(path, options);
  if (options.format == ImageFormat::kLuks) return crypto::create_luks_image(path, options);
  if (!options.backing_file.empty())
    return Error(ErrorKind::kUnsupported, "'raw' does not support backing files");
  if (!options.size)
    return Error(ErrorKind::kInvalidArgument, "Image creation needs a size parameter");
  return raw::create(path, *options.size, options.preallocation);
}

Result<CheckReport> check_image(const std::string& path, const CheckOptions& options) {
  std::optional<ImageFormat> format = options.format;
  std::string file_path = path;
  if (is_json_name(path)) {
    AMBER_TRY_ASSIGN(JsonImageSpec spec, parse_json_name(path));
    OpenOptions checked;
    checked.access =
        options.repair == RepairMode::kNone ? io::Access::kReadOnly : io::Access::kReadWrite;
    AMBER_TRY(apply_json_options(spec, checked));
    file_path = spec.filename;
    if (!format) format = spec.format;
  }
  if (!format) {
    OpenOptions o;
    o.sharing = Sharing::kForceShare;
    AMBER_TRY_ASSIGN(auto file, open_host_file(file_path, o));
    AMBER_TRY_ASSIGN(format, probe_format(*file));
  }
  if (*format == ImageFormat::kQcow2) return qcow2::check(file_path, options);
  CheckReport report;
  report.filename = file_path;
  report.format = "raw";
  report.not_supported = true;
  return report;
}

}  // namespace amber::block
