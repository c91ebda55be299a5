// SPDX-License-Identifier: GPL-2.0-or-later
// Shared bits of the block integration-test helper programs (amber-cat,
// amber-io, amber-diff, amber-crash, amber-powerloss): argument parsing,
// dying with one stderr line, and the self-describing sector pattern.
//
// Sector pattern: a 512-byte sector written with tag T at guest offset O
// holds T (u64 LE) at byte 0, O (u64 LE) at byte 8 and bytes 16..511 equal
// to (T + O/512 + i) & 0xff. A reader can therefore tell which write put a
// sector there and whether it is intact. Tag 0 is reserved for "zeros".
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>

#include "block/image.h"

namespace amber::test {

[[noreturn]] inline void die(const std::string& program, const std::string& message) {
  std::fprintf(stderr, "%s: %s\n", program.c_str(), message.c_str());
  std::exit(1);
}

inline uint64_t parse_number(const std::string& program, const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long value = std::strtoull(text.c_str(), &end, 0);
  if (errno != 0 || end == text.c_str() || *end != '\0') {
    die(program, "not a number: '" + text + "'");
  }
  return value;
}

inline constexpr uint64_t kSector = 512;

inline void fill_sector(std::byte* sector, uint64_t tag, uint64_t offset) {
  for (int i = 0; i < 8; ++i) {
    sector[i] = static_cast<std::byte>((tag >> (8 * i)) & 0xff);
    sector[8 + i] = static_cast<std::byte>((offset >> (8 * i)) & 0xff);
  }
  const uint64_t base = tag + offset / kSector;
  for (uint64_t i = 16; i < kSector; ++i) sector[i] = static_cast<std::byte>((base + i) & 0xff);
}

// Fills `buffer` (a multiple of 512 bytes) as written at guest `offset`.
inline void fill_pattern(std::span<std::byte> buffer, uint64_t tag, uint64_t offset) {
  for (uint64_t done = 0; done < buffer.size(); done += kSector) {
    fill_sector(buffer.data() + done, tag, offset + done);
  }
}

// The tag a sector read at `offset` carries: 0 for an all-zero sector,
// UINT64_MAX for anything that is neither zeros nor an intact pattern.
inline uint64_t sector_tag(const std::byte* sector, uint64_t offset) {
  bool all_zero = true;
  for (uint64_t i = 0; i < kSector && all_zero; ++i) all_zero = sector[i] == std::byte{0};
  if (all_zero) return 0;
  uint64_t tag = 0;
  for (int i = 7; i >= 0; --i) tag = (tag << 8) | std::to_integer<uint64_t>(sector[i]);
  std::byte expected[kSector];
  fill_sector(expected, tag, offset);
  return std::memcmp(expected, sector, kSector) == 0 ? tag : UINT64_MAX;
}

// xorshift64*: a small seeded generator whose sequence is the same on every
// host (std::mt19937 would be too, but distributions are not).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed * 0x9e3779b97f4a7c15ULL + 1) {}
  uint64_t next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545f4914f6cdd1dULL;
  }
  // Uniform-enough integer in [0, bound).
  uint64_t below(uint64_t bound) { return bound == 0 ? 0 : next() % bound; }

 private:
  uint64_t state_;
};

inline std::unique_ptr<block::Image> open_or_die(const std::string& program,
                                                 const std::string& path,
                                                 const block::OpenOptions& options) {
  auto image = block::open_image(path, options);
  if (!image.ok()) die(program, image.error().message());
  return std::move(image).value();
}

}  // namespace amber::test
