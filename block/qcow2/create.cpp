// SPDX-License-Identifier: GPL-2.0-or-later
// qcow2 image creation with QEMU 7.2's layout: header at 0, refcount table
// at cluster 1, first refcount block at cluster 2, L1 table allocated next
// (cluster 3) and the file not padded after it.
#include <algorithm>

#include "block/io/posix_file.h"
#include "block/open_file.h"
#include "block/qcow2/format.h"
#include "block/qcow2/image.h"
#include "block/qcow2/qcow2.h"

namespace amber::block::qcow2 {
namespace {

// A File that forwards to one it does not own (create_on_file's caller
// keeps ownership of theirs).
class BorrowedFile final : public io::File {
 public:
  explicit BorrowedFile(io::File& inner) : inner_(inner) {}
  Result<void> read_at(uint64_t o, std::span<std::byte> b) override { return inner_.read_at(o, b); }
  Result<void> write_at(uint64_t o, std::span<const std::byte> d) override {
    return inner_.write_at(o, d);
  }
  Result<void> readv_at(uint64_t o, std::span<const iovec> v) override {
    return inner_.readv_at(o, v);
  }
  Result<void> writev_at(uint64_t o, std::span<const iovec> v) override {
    return inner_.writev_at(o, v);
  }
  Result<void> flush() override { return inner_.flush(); }
  Result<void> punch_hole(uint64_t o, uint64_t l) override { return inner_.punch_hole(o, l); }
  Result<void> write_zeroes(uint64_t o, uint64_t l) override { return inner_.write_zeroes(o, l); }
  Result<io::ZeroOutcome> zero_range_no_fallback(uint64_t o, uint64_t l) override {
    return inner_.zero_range_no_fallback(o, l);
  }
  Result<void> allocate(uint64_t o, uint64_t l) override { return inner_.allocate(o, l); }
  Result<uint64_t> size() override { return inner_.size(); }
  Result<void> truncate(uint64_t s) override { return inner_.truncate(s); }
  Result<uint64_t> allocated_size() override { return inner_.allocated_size(); }
  const std::string& name() const override { return inner_.name(); }

 private:
  io::File& inner_;
};

Error invalid(const std::string& message) {
  return Error(ErrorKind::kInvalidArgument, message);
}

}  // namespace

Result<void> validate_create_options(const CreateOptions& o) {
  const uint64_t cs = o.cluster_size;
  if (cs < 512 || cs > (2u << 20) || (cs & (cs - 1)) != 0)
    return invalid("Cluster size must be a power of two between 512 and 2048k");
  if (o.version != 2 && o.version != 3)
    return invalid("Invalid compatibility level: '" + std::to_string(o.version) + "'");
  if (o.lazy_refcounts && o.version < 3)
    return invalid(
        "Lazy refcounts only supported with compatibility level 1.1 and above (use "
        "compat=1.1 or greater)");
  const unsigned rb = o.refcount_bits;
  if (rb == 0 || rb > 64 || (rb & (rb - 1)) != 0)
    return invalid("Refcount width must be a power of two and may be at most 64 bits");
  if (o.version < 3 && rb != 16)
    return invalid(
        "Different refcount widths than 16 bits require compatibility level 1.1 or "
        "above (use compat=1.1 or greater)");
  if (o.extended_l2) {
    if (o.version < 3)
      return invalid(
          "Extended L2 entries are only supported with compatibility level 1.1 and "
          "above (use compat=1.1 or greater)");
    if (cs < (1u << kMinExtendedL2ClusterBits))
      return invalid(
          "Extended L2 entries are only supported with cluster sizes of at least "
          "16384 bytes");
  }
  if (o.compression == CompressionType::kZstd && o.version < 3)
    return invalid(
        "Non-zlib compression type is only supported with compatibility level 1.1 "
        "and above (use compat=1.1 or greater)");
  if (o.backing_format && o.backing_file.empty())
    return invalid("Backing format cannot be used without backing file");
  if (!o.backing_file.empty() && o.preallocation != Preallocation::kOff && !o.extended_l2)
    return invalid(
        "Backing file and preallocation can only be used at the same time if "
        "extended_l2 is on");
  if (o.backing_file.size() > kMaxBackingNameBytes) return invalid("Backing file name too long");
  if (!o.size && (o.backing_file.empty() || o.backing_check == BackingMode::kNone))
    return invalid("Image creation needs a size parameter");
  if (o.size && *o.size % kSectorSize != 0)
    return invalid("Image size must be a multiple of 512 bytes");
  if (o.size && *o.size > (uint64_t{1} << 62)) return invalid("Image size is too large");
  if (o.data_file_raw && o.data_file.empty()) return invalid("data-file-raw requires data-file");
  if (o.data_file_raw && !o.backing_file.empty())
    return invalid("Backing file and data-file-raw cannot be used at the same time");
  if (!o.data_file.empty()) {
    if (o.version < 3)
      return invalid(
          "External data files are only supported with compatibility level 1.1 and above "
          "(use version=v3 or greater)");
    if (o.data_file.size() > kMaxDataFileName || o.data_file.find('\0') != std::string::npos)
      return invalid("Data file name too long");
    if (o.extended_l2 || o.encrypt)
      return Error(ErrorKind::kUnsupported,
                   "External data files with extended_l2 or encryption are not supported in "
                   "amber-img");
    if (o.preallocation != Preallocation::kOff && o.preallocation != Preallocation::kMetadata)
      return Error(ErrorKind::kUnsupported,
                   "Preallocation other than metadata is not supported with an external data "
                   "file in amber-img");
  }
  if (o.encrypt && !o.encrypt->passphrase)
    return invalid("Parameter 'encrypt.key-secret' is required for cipher");
  // Preallocated clusters would hold plain zeros, which do not decrypt to
  // zeros.
  if (o.encrypt && o.preallocation != Preallocation::kOff)
    return Error(ErrorKind::kUnsupported,
                 "Preallocation is not supported with encryption in amber-img");
  return ok();
}

Result<void> create_on_file(io::File& file, const CreateOptions& o,
                            std::optional<uint64_t> backing_size) {
  AMBER_TRY(validate_create_options(o));
  const uint64_t size = o.size ? *o.size : backing_size.value_or(0);
  if (!o.size && !backing_size) return invalid("Image creation needs a size parameter");
  Header h;
  h.version = o.version;
  h.cluster_bits = static_cast<uint32_t>(__builtin_ctzll(o.cluster_size));
  h.refcount_order = static_cast<uint32_t>(__builtin_ctz(o.refcount_bits));
  const uint64_t cs = o.cluster_size;
  h.refcount_table_offset = cs;
  h.refcount_table_clusters = 1;
  if (o.version >= 3) {
    if (o.compression == CompressionType::kZstd) {
      h.compression_type = 1;
      h.incompatible_features |= kIncompatCompression;
    }
    if (o.extended_l2) h.incompatible_features |= kIncompatExtendedL2;
    if (o.lazy_refcounts) h.compatible_features |= kCompatLazyRefcounts;
    // qemu-img 7.2 leaves the feature-name table out with clusters <= 4 KiB.
    h.has_feature_table = cs > 4096;
    h.feature_names = default_feature_names();
  }
  h.backing_file = o.backing_file;
  if (o.backing_format) h.backing_format = std::string(to_string(*o.backing_format));

  if (!o.data_file.empty()) {
    h.incompatible_features |= kIncompatDataFile;
    if (o.data_file_raw) h.autoclear_features |= kAutoclearDataFileRaw;
    RawExtension ext;
    ext.type = kExtDataFile;
    ext.data.assign(o.data_file.begin(), o.data_file.end());
    h.other_extensions.push_back(std::move(ext));
  }
  AMBER_TRY(file.truncate(0));
  AMBER_TRY_ASSIGN(std::vector<uint8_t> head, serialize_header(h));
  std::vector<uint8_t> clusters(3 * cs, 0);
  std::copy(head.begin(), head.end(), clusters.begin());
  store_be64(clusters.data() + cs, 2 * cs);  // refcount table entry 0 -> block at cluster 2
  for (uint64_t c = 0; c < 3; ++c)
    set_refcount_entry(clusters.data() + 2 * cs, c, h.refcount_order, 1);
  // The refcount table and block first, the header last: a process killed
  // inside one large write() leaves a short write (the kernel stops at a
  // page when a fatal signal is pending), which with the header first could
  // leave a header naming a refcount block past the end of the file. This
  // way a file that has the header has what it points to.
  AMBER_TRY(io::write_exact(file, cs, clusters.data() + cs, clusters.size() - cs));
  AMBER_TRY(io::write_exact(file, 0, clusters.data(), cs));  // all of it, as qemu-img: no hole

  OpenOptions open_options;
  open_options.access = io::Access::kReadWrite;
  open_options.backing = BackingMode::kNone;
  AMBER_TRY_ASSIGN(auto image,
                   Qcow2Image::open(std::make_unique<BorrowedFile>(file), open_options, 0));
  // data_file_raw: every guest cluster mapped to the data file (QEMU's
  // metadata preallocation), so the raw file is the whole guest.
  const Preallocation prealloc = o.data_file_raw && o.preallocation == Preallocation::kOff
                                     ? Preallocation::kMetadata
                                     : o.preallocation;
  AMBER_TRY(image->resize(size, prealloc));
  if (o.encrypt) AMBER_TRY(image->set_up_encryption(*o.encrypt));
  AMBER_TRY(image->close());
  return file.flush();
}

Result<void> create(const std::string& path, const CreateOptions& options) {
  AMBER_TRY(validate_create_options(options));
  std::optional<uint64_t> backing_size;
  if (!options.backing_file.empty() && options.backing_check == BackingMode::kOpen) {
    OpenOptions o;
    o.format = options.backing_format;
    o.sharing = Sharing::kForceShare;
    const std::string backing_path = resolve_backing_path(path, options.backing_file);
    auto backing = open_image(backing_path, o);
    if (!backing.ok())
      return std::move(backing).error().with_context("Could not open backing file '" +
                                                     backing_path + "'");
    backing_size = (*backing)->size();
  }
  AMBER_TRY_ASSIGN(auto file, create_host_file(path));
  if (!options.data_file.empty()) {
    // As qemu-img: the data file is (re)created raw at the virtual size; an
    // existing one is emptied first. Closed again before the image opens it.
    const uint64_t size = options.size ? *options.size : backing_size.value_or(0);
    AMBER_TRY_ASSIGN(auto data, create_host_file(options.data_file));
    AMBER_TRY(data->truncate(size));
    AMBER_TRY(data->flush());
  }
  return create_on_file(*file, options, backing_size);
}

}  // namespace amber::block::qcow2
