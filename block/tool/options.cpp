// SPDX-License-Identifier: GPL-2.0-or-later
// Option parsing for amber-img: see options.h.
#include "block/tool/options.h"

#include <cctype>

#include "common/uint128.h"

namespace amber::block::tool {
namespace {

Error bad_size(std::string_view text) {
  return Error(ErrorKind::kInvalidArgument, "invalid size '" + std::string(text) + "'");
}

// Shift for a suffix letter, or -1 for none.
int suffix_shift(char c) {
  switch (c) {
    case 'b':
    case 'B':
      return 0;
    case 'k':
    case 'K':
      return 10;
    case 'm':
    case 'M':
      return 20;
    case 'g':
    case 'G':
      return 30;
    case 't':
    case 'T':
      return 40;
    case 'p':
    case 'P':
      return 50;
    case 'e':
    case 'E':
      return 60;
    default:
      return -1;
  }
}

}  // namespace

Result<uint64_t> parse_size(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
  if (pos < text.size() && text[pos] == '-') return bad_size(text);
  // Hexadecimal: no fraction, no suffix beyond what qemu allows (none here).
  if (text.size() - pos > 2 && text[pos] == '0' && (text[pos + 1] == 'x' || text[pos + 1] == 'X')) {
    pos += 2;
    uint64_t value = 0;
    size_t digits = 0;
    for (; pos < text.size() && std::isxdigit(static_cast<unsigned char>(text[pos]));
         ++pos, ++digits) {
      const int c = text[pos];
      const uint64_t d = std::isdigit(c) ? uint64_t(c - '0') : uint64_t(std::tolower(c) - 'a' + 10);
      if (value > (UINT64_MAX - d) / 16) return Error(ErrorKind::kOutOfRange, "size too large");
      value = value * 16 + d;
    }
    if (digits == 0) return bad_size(text);
    if (pos == text.size()) return value;
    const int shift = suffix_shift(text[pos]);
    if (shift < 0 || pos + 1 != text.size()) return bad_size(text);
    if (shift > 0 && value > (UINT64_MAX >> shift))
      return Error(ErrorKind::kOutOfRange, "size too large");
    return value << shift;
  }
  uint64_t whole = 0;
  size_t digits = 0;
  bool overflow = false;
  for (; pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]));
       ++pos, ++digits) {
    const uint64_t d = uint64_t(text[pos] - '0');
    if (whole > (UINT64_MAX - d) / 10) overflow = true;
    whole = whole * 10 + d;
  }
  // Fraction digits, kept as a decimal numerator / denominator (at most 18
  // digits matter for a 2^60 multiplier's precision).
  uint64_t frac_num = 0, frac_den = 1;
  bool has_fraction = false;
  if (pos < text.size() && text[pos] == '.') {
    has_fraction = true;
    ++pos;
    for (; pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos])); ++pos) {
      if (frac_den < 1000000000000000000ull) {
        frac_num = frac_num * 10 + uint64_t(text[pos] - '0');
        frac_den *= 10;
      }
    }
  }
  if (digits == 0) return bad_size(text);
  int shift = 0;
  if (pos < text.size()) {
    shift = suffix_shift(text[pos]);
    if (shift < 0 || pos + 1 != text.size()) return bad_size(text);
  }
  if (overflow) return Error(ErrorKind::kOutOfRange, "size too large");
  // qemu: a fraction on plain bytes must be zero ("1.0" is 1, "1.5" fails).
  if (has_fraction && shift == 0 && frac_num != 0) return bad_size(text);
  if (shift > 0 && whole > (UINT64_MAX >> shift))
    return Error(ErrorKind::kOutOfRange, "size too large");
  uint64_t value = whole << shift;
  if (frac_num != 0 && shift > 0) {
    // frac * 2^shift rounded to the nearest byte, halves up, as qemu-img
    // 7.2 does (measured: "1.9k" is 1946, "3.3M" 3460301, "1.1k" 1126);
    // no overflow: frac_num < frac_den <= 1e18.
    const Uint128 part = ((static_cast<Uint128>(frac_num) << shift) + frac_den / 2) / frac_den;
    if (value > UINT64_MAX - static_cast<uint64_t>(part))
      return Error(ErrorKind::kOutOfRange, "size too large");
    value += static_cast<uint64_t>(part);
  }
  return value;
}

std::string invalid_size_message(std::string_view what) {
  return "Invalid " + std::string(what) +
         " specified. You may use k, M, G, T, P or E suffixes for\nkilobytes, megabytes, "
         "gigabytes, terabytes, petabytes and exabytes.";
}

Result<uint64_t> parse_image_size(std::string_view text) {
  auto size = parse_size(text);
  if (!size.ok() && size.error().kind() == ErrorKind::kInvalidArgument)
    return Error(ErrorKind::kInvalidArgument, invalid_size_message("image size"));
  if (!size.ok() || *size > kMaxImageSize)
    return Error(ErrorKind::kInvalidArgument,
                 "Invalid image size specified. Must be between 0 and 9223372036854775807.");
  return *size;
}

Result<uint64_t> parse_number(std::string_view text) {
  // qemu parses these with strtoul base 0: 0x hex, a leading 0 octal.
  if (text.empty()) return Error(ErrorKind::kInvalidArgument, "empty number");
  unsigned base = 10;
  std::string_view digits = text;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    base = 16;
    digits.remove_prefix(2);
  } else if (digits.size() > 1 && digits[0] == '0') {
    base = 8;
    digits.remove_prefix(1);
  }
  uint64_t value = 0;
  for (char c : digits) {
    const unsigned char u = static_cast<unsigned char>(c);
    unsigned d = 16;
    if (std::isdigit(u))
      d = unsigned(c - '0');
    else if (std::isxdigit(u))
      d = unsigned(std::tolower(u) - 'a' + 10);
    if (d >= base)
      return Error(ErrorKind::kInvalidArgument, "invalid number '" + std::string(text) + "'");
    if (value > (UINT64_MAX - d) / base) return Error(ErrorKind::kOutOfRange, "number too large");
    value = value * base + d;
  }
  return value;
}

Result<bool> parse_bool(std::string_view text, std::string_view name) {
  if (text == "on" || text == "yes" || text == "true") return true;
  if (text == "off" || text == "no" || text == "false") return false;
  return Error(ErrorKind::kInvalidArgument,
               "Parameter '" + std::string(name) + "' expects 'on' or 'off'");
}

Result<std::vector<KeyValue>> parse_option_list(std::string_view text) {
  std::vector<KeyValue> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    std::string item;
    while (pos < text.size()) {
      if (text[pos] == ',') {
        if (pos + 1 < text.size() && text[pos + 1] == ',') {
          item += ',';
          pos += 2;
          continue;
        }
        break;
      }
      item += text[pos++];
    }
    ++pos;  // skip the separator (or step past the end)
    if (item.empty()) continue;
    const auto eq = item.find('=');
    if (eq == std::string::npos) {
      if (item == "help" || item == "?") {
        out.push_back({"help", ""});
        continue;
      }
      out.push_back({item, "on"});  // a bare key means "key=on", as in QEMU
      continue;
    }
    out.push_back({item.substr(0, eq), item.substr(eq + 1)});
  }
  return out;
}

}  // namespace amber::block::tool
