// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/rpc/xdr.h"

#include <cstring>

namespace amber::driver::rpc {

namespace {

size_t padded(size_t length) {
  return (length + 3) & ~size_t{3};
}

Error corrupt(std::string_view field, std::string what) {
  return Error(ErrorKind::kCorrupt, "XDR field '" + std::string(field) + "': " + what);
}

}  // namespace

Result<std::span<const uint8_t>> XdrReader::take(std::string_view field, size_t length) {
  if (length > remaining()) {
    return corrupt(field, "needs " + std::to_string(length) + " bytes, only " +
                              std::to_string(remaining()) + " left");
  }
  auto bytes = data_.subspan(offset_, length);
  offset_ += length;
  return bytes;
}

Result<uint32_t> XdrReader::read_u32(std::string_view field) {
  AMBER_TRY_ASSIGN(auto bytes, take(field, 4));
  return (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) |
         uint32_t{bytes[3]};
}

Result<int32_t> XdrReader::read_i32(std::string_view field) {
  AMBER_TRY_ASSIGN(uint32_t value, read_u32(field));
  return static_cast<int32_t>(value);  // two's complement reinterpretation
}

Result<uint64_t> XdrReader::read_u64(std::string_view field) {
  AMBER_TRY_ASSIGN(uint32_t high, read_u32(field));
  AMBER_TRY_ASSIGN(uint32_t low, read_u32(field));
  return (uint64_t{high} << 32) | low;
}

Result<int64_t> XdrReader::read_i64(std::string_view field) {
  AMBER_TRY_ASSIGN(uint64_t value, read_u64(field));
  return static_cast<int64_t>(value);
}

Result<bool> XdrReader::read_bool(std::string_view field) {
  AMBER_TRY_ASSIGN(uint32_t value, read_u32(field));
  if (value > 1) return corrupt(field, "bool is " + std::to_string(value) + ", not 0 or 1");
  return value == 1;
}

Result<std::vector<uint8_t>> XdrReader::read_opaque_fixed(std::string_view field, size_t length) {
  if (padded(length) > remaining()) {
    return corrupt(field, "needs " + std::to_string(padded(length)) + " bytes, only " +
                              std::to_string(remaining()) + " left");
  }
  AMBER_TRY_ASSIGN(auto bytes, take(field, length));
  AMBER_TRY(take(field, padded(length) - length));
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

Result<std::vector<uint8_t>> XdrReader::read_opaque(std::string_view field, uint32_t max_length) {
  AMBER_TRY_ASSIGN(uint32_t length, read_u32(field));
  if (length > max_length) {
    return corrupt(field, "length " + std::to_string(length) + " exceeds the maximum " +
                              std::to_string(max_length));
  }
  return read_opaque_fixed(field, length);
}

Result<std::string> XdrReader::read_string(std::string_view field, uint32_t max_length) {
  AMBER_TRY_ASSIGN(auto bytes, read_opaque(field, max_length));
  if (!bytes.empty() && std::memchr(bytes.data(), 0, bytes.size()) != nullptr) {
    return corrupt(field, "string contains a NUL byte");
  }
  return std::string(bytes.begin(), bytes.end());
}

Result<std::optional<std::string>> XdrReader::read_optional_string(std::string_view field,
                                                                   uint32_t max_length) {
  AMBER_TRY_ASSIGN(bool present, read_bool(field));
  if (!present) return std::optional<std::string>();
  AMBER_TRY_ASSIGN(std::string text, read_string(field, max_length));
  return std::optional<std::string>(std::move(text));
}

Result<uint32_t> XdrReader::read_array_count(std::string_view field, uint32_t max_count,
                                             size_t min_element_bytes) {
  AMBER_TRY_ASSIGN(uint32_t count, read_u32(field));
  if (count > max_count) {
    return corrupt(field, "array count " + std::to_string(count) + " exceeds the maximum " +
                              std::to_string(max_count));
  }
  if (min_element_bytes != 0 && count > remaining() / min_element_bytes) {
    return corrupt(field, "array count " + std::to_string(count) + " needs more than the " +
                              std::to_string(remaining()) + " bytes left");
  }
  return count;
}

Result<void> XdrReader::expect_end(std::string_view what) const {
  if (remaining() != 0) {
    return Error(ErrorKind::kCorrupt, std::string(what) + ": " + std::to_string(remaining()) +
                                          " unexpected trailing bytes");
  }
  return {};
}

void XdrWriter::write_u32(uint32_t value) {
  bytes_.push_back(static_cast<uint8_t>(value >> 24));
  bytes_.push_back(static_cast<uint8_t>(value >> 16));
  bytes_.push_back(static_cast<uint8_t>(value >> 8));
  bytes_.push_back(static_cast<uint8_t>(value));
}

void XdrWriter::write_u64(uint64_t value) {
  write_u32(static_cast<uint32_t>(value >> 32));
  write_u32(static_cast<uint32_t>(value));
}

void XdrWriter::pad() {
  while (bytes_.size() % 4 != 0) bytes_.push_back(0);
}

void XdrWriter::write_opaque_fixed(std::span<const uint8_t> bytes) {
  bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
  pad();
}

void XdrWriter::write_opaque(std::span<const uint8_t> bytes) {
  write_u32(static_cast<uint32_t>(bytes.size()));
  write_opaque_fixed(bytes);
}

void XdrWriter::write_string(std::string_view text) {
  write_opaque(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

void XdrWriter::write_optional_string(const std::optional<std::string>& text) {
  write_bool(text.has_value());
  if (text) write_string(*text);
}

void XdrWriter::patch_u32(size_t offset, uint32_t value) {
  bytes_.at(offset) = static_cast<uint8_t>(value >> 24);
  bytes_.at(offset + 1) = static_cast<uint8_t>(value >> 16);
  bytes_.at(offset + 2) = static_cast<uint8_t>(value >> 8);
  bytes_.at(offset + 3) = static_cast<uint8_t>(value);
}

}  // namespace amber::driver::rpc
