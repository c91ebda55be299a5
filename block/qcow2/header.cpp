// SPDX-License-Identifier: GPL-2.0-or-later
#include "block/qcow2/header.h"

#include <algorithm>
#include <cstdio>

#include "block/qcow2/format.h"
#include "block/qcow2/qcow2.h"

namespace amber::block::qcow2 {

std::string to_hex(uint64_t value) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(value));
  return buf;
}

namespace {

// QEMU keeps the backing format in a char[16] (BlockDriverState).
constexpr uint32_t kMaxBackingFormatBytes = 16;

Error bad(const std::string& what) {
  return Error(ErrorKind::kCorrupt, "qcow2 header: " + what);
}

// qemu-img's words (qcow2_do_open) for a file without the qcow2 magic.
Error not_qcow2() {
  return Error(ErrorKind::kCorrupt, "Image is not in qcow2 format");
}

std::string field(const char* name, uint64_t value) {
  return std::string(name) + " " + std::to_string(value);
}

// Validates an (offset, bytes) table location against alignment and the
// 56-bit host offset space; `file_end` is the file size rounded to a cluster.
Result<void> check_table(const char* name, uint64_t offset, uint64_t bytes, uint64_t cluster_size,
                         uint64_t file_end) {
  if (offset % cluster_size != 0)
    return bad(std::string(name) + " offset " + to_hex(offset) + " is not cluster aligned");
  if (offset > kMaxHostOffset || bytes > kMaxHostOffset - offset)
    return bad(std::string(name) + " offset " + to_hex(offset) + " + size " +
               std::to_string(bytes) + " exceeds the 56-bit offset space");
  if (bytes != 0 && offset + bytes > file_end)
    return bad(std::string(name) + " at " + to_hex(offset) + " (" + std::to_string(bytes) +
               " bytes) is beyond the end of the file (" + std::to_string(file_end) + ")");
  return ok();
}

Result<void> parse_extensions(Header& h, std::span<const uint8_t> bytes, uint64_t start,
                              uint64_t end) {
  uint64_t pos = start;
  for (;;) {
    if (pos + 8 > end)
      return Error(ErrorKind::kCorrupt,
                   "qcow2 header extensions: no end marker before offset " + std::to_string(end));
    const uint32_t type = load_be32(bytes.data() + pos);
    const uint32_t len = load_be32(bytes.data() + pos + 4);
    pos += 8;
    if (type == kExtEnd) break;
    if (uint64_t{len} > end - pos)
      return Error(ErrorKind::kCorrupt, "qcow2 header extension " + to_hex(type) + ": length " +
                                            std::to_string(len) + " runs past offset " +
                                            std::to_string(end));
    const uint8_t* data = bytes.data() + pos;
    switch (type) {
      case kExtBackingFormat:
        // As QEMU: a later backing-format extension replaces an earlier
        // one; a name that does not fit QEMU's 16-byte buffer is refused.
        if (len >= kMaxBackingFormatBytes)
          return Error(ErrorKind::kCorrupt,
                       "ERROR: ext_backing_format: len=" + std::to_string(len) +
                           " too large (>=" + std::to_string(kMaxBackingFormatBytes) + ")");
        h.backing_format.assign(reinterpret_cast<const char*>(data), len);
        h.backing_format.resize(std::strlen(h.backing_format.c_str()));
        break;
      case kExtFeatureTable:
        if (h.has_feature_table)
          return Error(ErrorKind::kCorrupt, "qcow2 header: duplicate feature name table");
        if (len % kFeatureNameEntryBytes != 0)
          return Error(ErrorKind::kCorrupt, "qcow2 header: feature name table length " +
                                                std::to_string(len) + " is not a multiple of 48");
        h.has_feature_table = true;
        for (uint32_t i = 0; i < len; i += kFeatureNameEntryBytes) {
          FeatureName f;
          f.type = data[i];
          f.bit = data[i + 1];
          const char* name = reinterpret_cast<const char*>(data + i + 2);
          f.name.assign(name, strnlen(name, kFeatureNameEntryBytes - 2));
          h.feature_names.push_back(std::move(f));
        }
        break;
      default: {
        for (const auto& e : h.other_extensions) {
          if (e.type == type &&
              (type == kExtBitmaps || type == kExtCryptoHeader || type == kExtDataFile))
            return Error(ErrorKind::kCorrupt,
                         "qcow2 header: duplicate header extension " + to_hex(type));
        }
        RawExtension e;
        e.type = type;
        e.data.assign(data, data + len);
        h.other_extensions.push_back(std::move(e));
        break;
      }
    }
    pos += align_up(len, 8);
  }
  return ok();
}

}  // namespace

std::vector<FeatureName> default_feature_names() {
  return {
      {0, 0, "dirty bit"},        {0, 1, "corrupt bit"},         {0, 2, "external data file"},
      {0, 3, "compression type"}, {0, 4, "extended L2 entries"}, {1, 0, "lazy refcounts"},
      {2, 0, "bitmaps"},          {2, 1, "raw external data"},
  };
}

std::string incompatible_feature_name(const Header& header, unsigned bit) {
  for (const auto& f : header.feature_names) {
    if (f.type == 0 && f.bit == bit && !f.name.empty()) return f.name;
  }
  return "unknown incompatible feature bit " + std::to_string(bit);
}

Result<Header> parse_header(std::span<const uint8_t> bytes, uint64_t file_size) {
  if (bytes.size() < kV2HeaderLength) return bad("file too short for a qcow2 header");
  const uint8_t* p = bytes.data();
  Header h;
  if (load_be32(p) != kMagic) return not_qcow2();
  h.version = load_be32(p + 4);
  if (h.version != 2 && h.version != 3)
    return Error(ErrorKind::kUnsupported, "qcow2 header: version " + std::to_string(h.version) +
                                              " is not supported (only 2 and 3)");
  h.backing_file_offset = load_be64(p + 8);
  h.backing_file_size = load_be32(p + 16);
  h.cluster_bits = load_be32(p + 20);
  h.size = load_be64(p + 24);
  h.crypt_method = load_be32(p + 32);
  h.l1_size = load_be32(p + 36);
  h.l1_table_offset = load_be64(p + 40);
  h.refcount_table_offset = load_be64(p + 48);
  h.refcount_table_clusters = load_be32(p + 56);
  h.nb_snapshots = load_be32(p + 60);
  h.snapshots_offset = load_be64(p + 64);

  if (h.cluster_bits < kMinClusterBits || h.cluster_bits > kMaxClusterBits)
    return bad(field("cluster_bits", h.cluster_bits) + " out of range 9..21");
  const uint64_t cs = h.cluster_size();
  if (bytes.size() < std::min<uint64_t>(cs, kV3HeaderLength) && bytes.size() < cs)
    return bad("file too short for its header");

  if (h.version == 2) {
    h.header_length = kV2HeaderLength;
    h.refcount_order = 4;
  } else {
    if (bytes.size() < kV3MinHeaderLength) return bad("file too short for a v3 header");
    h.incompatible_features = load_be64(p + 72);
    h.compatible_features = load_be64(p + 80);
    h.autoclear_features = load_be64(p + 88);
    h.refcount_order = load_be32(p + 96);
    h.header_length = load_be32(p + 100);
    if (h.header_length < kV3MinHeaderLength || h.header_length % 8 != 0 || h.header_length > cs ||
        h.header_length > bytes.size())
      return bad(field("header_length", h.header_length) +
                 " invalid (must be >= 104, a multiple of 8 and within the first cluster)");
    if (h.header_length > 104) h.compression_type = p[104];
    if (h.header_length > kV3HeaderLength)
      h.extra_fields.assign(p + kV3HeaderLength, p + h.header_length);
    if (h.refcount_order > 6)
      return bad(field("refcount_order", h.refcount_order) + " out of range 0..6");
  }
  if (h.extended_l2() && h.cluster_bits < kMinExtendedL2ClusterBits)
    return bad(field("cluster_bits", h.cluster_bits) +
               " too small for extended L2 entries (needs at least 14)");
  if (h.crypt_method > 2) return bad(field("crypt_method", h.crypt_method) + " unknown");
  if (h.compression_type > 1)
    return Error(ErrorKind::kUnsupported,
                 "qcow2 header: unknown compression_type " + std::to_string(h.compression_type));
  if ((h.compression_type != 0) != ((h.incompatible_features & kIncompatCompression) != 0))
    return bad(field("compression_type", h.compression_type) +
               " does not match the compression type feature bit");

  // Backing file name and the extension area.
  uint64_t ext_end = std::min<uint64_t>(cs, bytes.size());
  if (h.backing_file_offset != 0) {
    if (h.backing_file_offset > cs)
      return bad("backing_file_offset " + to_hex(h.backing_file_offset) +
                 " is beyond the first cluster");
    if (h.backing_file_size > kMaxBackingNameBytes)
      return bad(field("backing_file_size", h.backing_file_size) + " exceeds 1023");
    if (h.backing_file_offset + h.backing_file_size > std::min<uint64_t>(cs, bytes.size()))
      return bad("backing file name at " + to_hex(h.backing_file_offset) +
                 " runs past the first cluster");
    if (h.backing_file_offset < h.header_length)
      return bad("backing file name overlaps the header");
    h.backing_file.assign(reinterpret_cast<const char*>(p + h.backing_file_offset),
                          h.backing_file_size);
    ext_end = h.backing_file_offset;
  }
  AMBER_TRY(parse_extensions(h, bytes, h.header_length, ext_end));

  const uint64_t unknown = h.incompatible_features & ~kIncompatKnown;
  if (unknown != 0) {
    unsigned bit = static_cast<unsigned>(__builtin_ctzll(unknown));
    return Error(ErrorKind::kUnsupported, "qcow2 image uses an unsupported incompatible feature: " +
                                              incompatible_feature_name(h, bit));
  }

  // Tables.
  const uint64_t file_end = align_up(file_size, cs);
  const uint64_t l2_entries = cs / (h.extended_l2() ? 16 : 8);
  const uint64_t guest_clusters = div_round_up(h.size, cs);
  const uint64_t l1_needed = div_round_up(guest_clusters, l2_entries);
  // The L1 messages start with qemu-img's own and then name the field.
  if (uint64_t{h.l1_size} * 8 > kMaxL1Bytes)
    return Error(ErrorKind::kCorrupt,
                 "Active L1 table too large (" + field("l1_size", h.l1_size) + " > 32 MiB)");
  if (h.size > (uint64_t{1} << 62) || l1_needed > uint64_t{INT32_MAX})
    return Error(ErrorKind::kCorrupt,
                 "Image is too big (virtual size " + std::to_string(h.size) + ")");
  if (l1_needed > h.l1_size)
    return Error(ErrorKind::kCorrupt, "L1 table is too small (" + field("l1_size", h.l1_size) +
                                          " too small for virtual size " + std::to_string(h.size) +
                                          ", needs " + std::to_string(l1_needed) + ")");
  AMBER_TRY(check_table("l1_table", h.l1_table_offset, uint64_t{h.l1_size} * 8, cs, file_end));
  if (h.refcount_table_clusters == 0) return bad("refcount_table_clusters 0");
  if (uint64_t{h.refcount_table_clusters} * cs > kMaxRefcountTableBytes)
    return bad(field("refcount_table_clusters", h.refcount_table_clusters) +
               " exceeds the 8 MiB refcount table limit");
  AMBER_TRY(check_table("refcount_table", h.refcount_table_offset,
                        uint64_t{h.refcount_table_clusters} * cs, cs, file_end));
  if (h.refcount_table_offset == 0) return bad("refcount_table_offset 0");
  if (h.nb_snapshots > kMaxSnapshots)
    return bad(field("nb_snapshots", h.nb_snapshots) + " exceeds 65536");
  if (h.nb_snapshots != 0)
    AMBER_TRY(check_table("snapshot table", h.snapshots_offset, 40, cs, file_end));
  return h;
}

namespace {

// The prefix of the first cluster that read_header reads first.
constexpr uint64_t kHeaderProbeBytes = 4096;

// Whether BYTES (a prefix of the first cluster) holds the whole header:
// the fields, the backing file name and every extension up to the end
// marker. Only a quick walk; parse_header validates it all.
bool header_fits(const std::vector<uint8_t>& bytes) {
  const uint64_t size = bytes.size();
  const uint8_t* p = bytes.data();
  const uint64_t backing_offset = load_be64(p + 8);
  const uint64_t backing_size = load_be32(p + 16);
  if (backing_offset != 0 && (backing_offset > size || backing_size > size - backing_offset))
    return false;
  const uint32_t version = load_be32(p + 4);
  const uint64_t header_length = version >= 3 ? load_be32(p + 100) : kV2HeaderLength;
  for (uint64_t at = header_length; at <= size && size - at >= 8;) {
    const uint32_t type = load_be32(p + at);
    const uint64_t length = load_be32(p + at + 4);
    if (type == 0) return true;  // the end marker
    at += 8 + (length + 7) / 8 * 8;
  }
  return false;
}

}  // namespace

std::optional<CryptoArea> crypto_area(const Header& header) {
  for (const RawExtension& e : header.other_extensions) {
    if (e.type != kExtCryptoHeader || e.data.size() != 16) continue;
    return CryptoArea{load_be64(e.data.data()), load_be64(e.data.data() + 8)};
  }
  return std::nullopt;
}

Result<Header> read_header(io::File& file) {
  AMBER_TRY_ASSIGN(uint64_t file_size, file.size());
  std::vector<uint8_t> head(kV3HeaderLength);
  AMBER_TRY(io::read_exact(file, 0, head.data(), head.size()));
  if (file_size < kV2HeaderLength)
    return bad("file too short (" + std::to_string(file_size) + " bytes)");
  if (load_be32(head.data()) != kMagic) return not_qcow2();
  const uint32_t cluster_bits = load_be32(head.data() + 20);
  if (cluster_bits < kMinClusterBits || cluster_bits > kMaxClusterBits)
    return bad(field("cluster_bits", cluster_bits) + " out of range 9..21");
  const uint64_t cluster_size = uint64_t{1} << cluster_bits;
  // Most headers, their extensions and the backing file name fit in the
  // first 4 KiB: read that, and the whole first cluster (which the format
  // allows them to fill) only when they do not, or when the file is
  // shorter than a cluster (so that such a file fails as it always did).
  if (cluster_size > kHeaderProbeBytes && file_size >= cluster_size) {
    std::vector<uint8_t> probe(kHeaderProbeBytes);
    AMBER_TRY(io::read_exact(file, 0, probe.data(), probe.size()));
    if (header_fits(probe)) return parse_header(probe, file_size);
  }
  std::vector<uint8_t> cluster(cluster_size);
  AMBER_TRY(io::read_exact(file, 0, cluster.data(), cluster.size()));
  return parse_header(cluster, file_size);
}

Result<std::vector<uint8_t>> serialize_header(Header& h) {
  const uint64_t cs = h.cluster_size();
  std::vector<uint8_t> out;
  const uint32_t hlen = h.version == 2
                            ? kV2HeaderLength
                            : static_cast<uint32_t>(kV3HeaderLength + h.extra_fields.size());
  h.header_length = hlen;
  out.resize(hlen, 0);
  uint8_t* p = out.data();
  store_be32(p, kMagic);
  store_be32(p + 4, h.version);
  store_be32(p + 20, h.cluster_bits);
  store_be64(p + 24, h.size);
  store_be32(p + 32, h.crypt_method);
  store_be32(p + 36, h.l1_size);
  store_be64(p + 40, h.l1_table_offset);
  store_be64(p + 48, h.refcount_table_offset);
  store_be32(p + 56, h.refcount_table_clusters);
  store_be32(p + 60, h.nb_snapshots);
  store_be64(p + 64, h.snapshots_offset);
  if (h.version >= 3) {
    store_be64(p + 72, h.incompatible_features);
    store_be64(p + 80, h.compatible_features);
    store_be64(p + 88, h.autoclear_features);
    store_be32(p + 96, h.refcount_order);
    store_be32(p + 100, hlen);
    p[104] = h.compression_type;
    std::copy(h.extra_fields.begin(), h.extra_fields.end(), out.begin() + kV3HeaderLength);
  }
  auto add_ext = [&out](uint32_t type, const void* data, size_t len) {
    const size_t at = out.size();
    out.resize(at + 8 + align_up(len, 8), 0);
    store_be32(out.data() + at, type);
    store_be32(out.data() + at + 4, static_cast<uint32_t>(len));
    if (len != 0) std::memcpy(out.data() + at + 8, data, len);
  };
  if (!h.backing_format.empty())
    add_ext(kExtBackingFormat, h.backing_format.data(), h.backing_format.size());
  for (const auto& e : h.other_extensions) {
    if (e.type == kExtCryptoHeader || e.type == kExtDataFile)
      add_ext(e.type, e.data.data(), e.data.size());
  }
  if (h.has_feature_table) {
    std::vector<uint8_t> table(h.feature_names.size() * kFeatureNameEntryBytes, 0);
    for (size_t i = 0; i < h.feature_names.size(); ++i) {
      uint8_t* e = table.data() + i * kFeatureNameEntryBytes;
      e[0] = h.feature_names[i].type;
      e[1] = h.feature_names[i].bit;
      std::memcpy(e + 2, h.feature_names[i].name.data(),
                  std::min<size_t>(h.feature_names[i].name.size(), kFeatureNameEntryBytes - 2));
    }
    add_ext(kExtFeatureTable, table.data(), table.size());
  }
  for (const auto& e : h.other_extensions) {
    if (e.type != kExtCryptoHeader && e.type != kExtDataFile)
      add_ext(e.type, e.data.data(), e.data.size());
  }
  add_ext(kExtEnd, nullptr, 0);
  if (!h.backing_file.empty()) {
    h.backing_file_offset = out.size();
    h.backing_file_size = static_cast<uint32_t>(h.backing_file.size());
    out.insert(out.end(), h.backing_file.begin(), h.backing_file.end());
  } else {
    h.backing_file_offset = 0;
    h.backing_file_size = 0;
  }
  store_be64(out.data() + 8, h.backing_file_offset);
  store_be32(out.data() + 16, h.backing_file_size);
  if (h.backing_file.size() > kMaxBackingNameBytes)
    return Error(ErrorKind::kInvalidArgument, "backing file name too long (max 1023 bytes)");
  if (out.size() > cs)
    return Error(ErrorKind::kNoSpace,
                 "qcow2 header, extensions and backing file name do not fit in one cluster");
  return out;
}

}  // namespace amber::block::qcow2
