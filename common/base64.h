// SPDX-License-Identifier: GPL-2.0-or-later
// Base64 (RFC 4648, standard alphabet, '=' padding), the one decoder of the
// project, in the two dialects Amber's peers speak:
// - kStrict, as libvirt reads a secret's value (UUID.base64 on disk):
//   ASCII whitespace is skipped (a hand-edited file may end in a newline),
//   anything else outside the alphabet, misplaced '=' or a length that is
//   not a multiple of four is an error ("invalid base64 value: ...");
// - kGlib, as qemu-img reads --object secret,format=base64 (qbase64_decode
//   then glib's g_base64_decode): only the alphabet and '=' are allowed
//   ("Base64 data contains invalid characters"), whole groups of four are
//   decoded, a trailing partial group is dropped and '=' ends a group's
//   bytes early, so it takes what the strict dialect refuses.
// Messages never quote the input: it is a secret. The decoder writes into
// the caller's buffer (at least base64_decoded_bound() bytes) so secrets can
// live in wiping containers.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"

namespace amber {

enum class Base64Dialect { kStrict, kGlib };

inline size_t base64_decoded_bound(size_t text_size) {
  return text_size / 4 * 3;
}

inline std::string base64_encode(std::span<const uint8_t> bytes) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t n = (uint32_t{bytes[i]} << 16) | (uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    for (int shift = 18; shift >= 0; shift -= 6) out += kAlphabet[(n >> shift) & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t n = uint32_t{bytes[i]} << 16;
    if (rest == 2) n |= uint32_t{bytes[i + 1]} << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

namespace base64_detail {

inline int rank(uint8_t c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

inline bool is_space(uint8_t c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

inline Error strict_error(const char* what) {
  return Error(ErrorKind::kCorrupt, std::string("invalid base64 value: ") + what);
}

}  // namespace base64_detail

// Decodes `text` into `out` (at least base64_decoded_bound(text.size())
// bytes); returns the number of bytes written.
inline Result<size_t> base64_decode_into(std::span<const uint8_t> text, Base64Dialect dialect,
                                         std::span<uint8_t> out) {
  using base64_detail::rank;
  if (out.size() < base64_decoded_bound(text.size()))
    return Error(ErrorKind::kInternal, "base64: output buffer too small");
  size_t n = 0;
  if (dialect == Base64Dialect::kGlib) {
    for (const uint8_t c : text)
      if (rank(c) < 0 && c != '=')
        return Error(ErrorKind::kInvalidArgument, "Base64 data contains invalid characters");
    uint32_t v = 0;
    unsigned count = 0;
    uint8_t last[2] = {0, 0};
    for (const uint8_t c : text) {
      last[1] = last[0];
      last[0] = c;
      v = (v << 6) | static_cast<uint32_t>(c == '=' ? 0 : rank(c));
      if (++count == 4) {
        out[n++] = static_cast<uint8_t>(v >> 16);
        if (last[1] != '=') out[n++] = static_cast<uint8_t>(v >> 8);
        if (last[0] != '=') out[n++] = static_cast<uint8_t>(v);
        count = 0;
      }
    }
    return n;
  }
  // Strict: whitespace skipped, then groups of four with '=' only at the end.
  size_t total = 0;
  for (const uint8_t c : text)
    if (!base64_detail::is_space(c)) ++total;
  if (total % 4 != 0) return base64_detail::strict_error("length is not a multiple of 4");
  size_t seen = 0;
  uint32_t v = 0;
  unsigned count = 0, padding = 0;
  for (const uint8_t c : text) {
    if (base64_detail::is_space(c)) continue;
    ++seen;
    if (c == '=') {
      // Only the last one or two characters of the last group.
      if (seen + 4 <= total || count < 2) return base64_detail::strict_error("misplaced '='");
      ++padding;
      v <<= 6;
    } else {
      if (padding > 0) return base64_detail::strict_error("data after '='");
      const int r = rank(c);
      if (r < 0) return base64_detail::strict_error("a character outside the base64 alphabet");
      v = (v << 6) | static_cast<uint32_t>(r);
    }
    if (++count == 4) {
      out[n++] = static_cast<uint8_t>(v >> 16);
      if (padding < 2) out[n++] = static_cast<uint8_t>(v >> 8);
      if (padding < 1) out[n++] = static_cast<uint8_t>(v);
      count = 0;
      v = 0;
    }
  }
  return n;
}

}  // namespace amber
