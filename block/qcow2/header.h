// SPDX-License-Identifier: GPL-2.0-or-later
// qcow2 header: parse + validate (hostile input) and serialize, with its
// header extensions (backing format, feature-name table, unknown ones kept
// verbatim so a header rewrite preserves them).
//
// Thread-safety: values and pure functions; no shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "block/io/file.h"
#include "common/result.h"

namespace amber::block::qcow2 {

struct FeatureName {
  uint8_t type = 0;  // 0 incompatible, 1 compatible, 2 autoclear
  uint8_t bit = 0;
  std::string name;
};

struct RawExtension {
  uint32_t type = 0;
  std::vector<uint8_t> data;
};

struct Header {
  uint32_t version = 3;
  uint64_t backing_file_offset = 0;
  uint32_t backing_file_size = 0;
  uint32_t cluster_bits = 16;
  uint64_t size = 0;
  uint32_t crypt_method = 0;
  uint32_t l1_size = 0;
  uint64_t l1_table_offset = 0;
  uint64_t refcount_table_offset = 0;
  uint32_t refcount_table_clusters = 0;
  uint32_t nb_snapshots = 0;
  uint64_t snapshots_offset = 0;
  uint64_t incompatible_features = 0;
  uint64_t compatible_features = 0;
  uint64_t autoclear_features = 0;
  uint32_t refcount_order = 4;
  uint32_t header_length = 112;
  uint8_t compression_type = 0;
  // Header bytes past offset 112 up to header_length (unknown fields).
  std::vector<uint8_t> extra_fields;

  std::string backing_file;
  std::string backing_format;  // from extension 0xE2792ACA
  bool has_feature_table = false;
  std::vector<FeatureName> feature_names;
  // Every other extension (bitmaps, FDE pointer, unknown), in file order.
  std::vector<RawExtension> other_extensions;

  uint64_t cluster_size() const { return uint64_t{1} << cluster_bits; }
  bool extended_l2() const { return (incompatible_features & (1ull << 4)) != 0; }
  unsigned refcount_bits() const { return 1u << refcount_order; }
};

// Autoclear bits QEMU 7.2 knows (bitmaps, raw external data); a QEMU
// read-write open clears every other one.
inline constexpr uint64_t kAutoclearKnownToQemu = (1ull << 0) | (1ull << 1);
// Byte offset of the autoclear_features field in a v3 header.
inline constexpr uint64_t kAutoclearFieldOffset = 88;

// The feature-name table qemu-img 7.2 writes (8 entries, 384 bytes).
std::vector<FeatureName> default_feature_names();

// The LUKS area the full disk encryption extension (0x0537BE77) points
// to: offset and length in bytes, as stored (the caller validates them
// against the cluster size and the file). Empty without the extension or
// when its payload is not the 16 bytes QEMU writes.
struct CryptoArea {
  uint64_t offset = 0;
  uint64_t length = 0;
};
std::optional<CryptoArea> crypto_area(const Header& header);

// Reads and validates the header and its extensions from the start of
// `file`; the file's size bounds the table checks.
Result<Header> read_header(io::File& file);

// Parses an in-memory header (the first cluster or less). Exposed for tests.
Result<Header> parse_header(std::span<const uint8_t> bytes, uint64_t file_size);

// Serialises header, extensions and backing name (QEMU 7.2's layout) into
// the bytes that go at offset 0; fails if they do not fit in one cluster.
// Updates backing_file_offset / backing_file_size / header_length fields.
Result<std::vector<uint8_t>> serialize_header(Header& header);

// The name for an incompatible feature bit: from the table, or
// "unknown incompatible feature bit N".
std::string incompatible_feature_name(const Header& header, unsigned bit);

}  // namespace amber::block::qcow2
