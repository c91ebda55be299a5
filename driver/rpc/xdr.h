// SPDX-License-Identifier: GPL-2.0-or-later
// XDR (RFC 4506) encoding for the libvirt RPC protocol: a bounded reader over
// a received packet body and a growing writer for replies.
//
// Every length read from the wire is checked against the bytes left in the
// buffer and against a caller-supplied maximum before anything is allocated,
// so a hostile client gets an Error (kind kCorrupt) naming the field, never a
// crash or a huge allocation. Values are big-endian, padded to 4 bytes.
//
// Thread-safety: plain values; one thread uses one reader or writer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace amber::driver::rpc {

class XdrReader {
 public:
  explicit XdrReader(std::span<const uint8_t> data) : data_(data) {}

  Result<uint32_t> read_u32(std::string_view field);
  Result<int32_t> read_i32(std::string_view field);
  Result<uint64_t> read_u64(std::string_view field);
  Result<int64_t> read_i64(std::string_view field);  // XDR "hyper"
  Result<bool> read_bool(std::string_view field);    // 0 or 1, else kCorrupt

  // Fixed-length opaque: exactly `length` bytes plus padding.
  Result<std::vector<uint8_t>> read_opaque_fixed(std::string_view field, size_t length);
  // Variable-length opaque: a u32 count (<= max_length) then bytes + padding.
  Result<std::vector<uint8_t>> read_opaque(std::string_view field, uint32_t max_length);
  // A string: like variable opaque; embedded NULs are refused.
  Result<std::string> read_string(std::string_view field, uint32_t max_length);
  // An optional pointer (u32 0/1) to a string.
  Result<std::optional<std::string>> read_optional_string(std::string_view field,
                                                          uint32_t max_length);
  // An array count: a u32 <= max_count that also fits the remaining bytes
  // at `min_element_bytes` each (so a count cannot promise more than is there).
  Result<uint32_t> read_array_count(std::string_view field, uint32_t max_count,
                                    size_t min_element_bytes = 4);

  size_t remaining() const { return data_.size() - offset_; }
  size_t offset() const { return offset_; }
  // kCorrupt when bytes are left over after the last field.
  Result<void> expect_end(std::string_view what) const;

 private:
  Result<std::span<const uint8_t>> take(std::string_view field, size_t length);

  std::span<const uint8_t> data_;
  size_t offset_ = 0;
};

class XdrWriter {
 public:
  void write_u32(uint32_t value);
  void write_i32(int32_t value) { write_u32(static_cast<uint32_t>(value)); }
  void write_u64(uint64_t value);
  void write_i64(int64_t value) { write_u64(static_cast<uint64_t>(value)); }
  void write_bool(bool value) { write_u32(value ? 1 : 0); }
  void write_opaque_fixed(std::span<const uint8_t> bytes);
  void write_opaque(std::span<const uint8_t> bytes);
  void write_string(std::string_view text);
  void write_optional_string(const std::optional<std::string>& text);

  // Overwrites 4 bytes at `offset` (the frame length once the body is known).
  void patch_u32(size_t offset, uint32_t value);

  const std::vector<uint8_t>& bytes() const { return bytes_; }
  std::vector<uint8_t> take() && { return std::move(bytes_); }
  size_t size() const { return bytes_.size(); }

 private:
  void pad();
  std::vector<uint8_t> bytes_;
};

}  // namespace amber::driver::rpc
