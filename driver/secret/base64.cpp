// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/secret/base64.h"

namespace amber::driver::secret {

namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int value_of(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool is_space(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

Error corrupt(std::string what) {
  return Error(ErrorKind::kCorrupt, "invalid base64 value: " + std::move(what));
}

}  // namespace

std::string base64_encode(std::span<const uint8_t> bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t n = (uint32_t{bytes[i]} << 16) | (uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
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

Result<std::vector<uint8_t>> base64_decode(std::string_view text) {
  std::string compact;
  compact.reserve(text.size());
  for (const char c : text) {
    if (!is_space(c)) compact += c;
  }
  if (compact.size() % 4 != 0) return corrupt("length is not a multiple of 4");
  std::vector<uint8_t> out;
  out.reserve(compact.size() / 4 * 3);
  for (size_t i = 0; i < compact.size(); i += 4) {
    const bool last = i + 4 == compact.size();
    int padding = 0;
    uint32_t n = 0;
    for (size_t j = 0; j < 4; ++j) {
      const char c = compact[i + j];
      if (c == '=') {
        // Only the last one or two characters of the last group.
        if (!last || j < 2) return corrupt("misplaced '='");
        ++padding;
        n <<= 6;
        continue;
      }
      if (padding > 0) return corrupt("data after '='");
      const int v = value_of(c);
      if (v < 0) return corrupt("a character outside the base64 alphabet");
      n = (n << 6) | static_cast<uint32_t>(v);
    }
    out.push_back(static_cast<uint8_t>(n >> 16));
    if (padding < 2) out.push_back(static_cast<uint8_t>(n >> 8));
    if (padding < 1) out.push_back(static_cast<uint8_t>(n));
  }
  return out;
}

}  // namespace amber::driver::secret
