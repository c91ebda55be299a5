// SPDX-License-Identifier: GPL-2.0-or-later
// Shared by the LUKS tests: a fresh volume in memory, made quickly (fixed
// low PBKDF2 iterations instead of qemu-img's timing).
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "block/crypto/luks.h"
#include "block/io/memory_file.h"

namespace amber::block::crypto {

inline constexpr uint32_t kTestIterations = 1000;

inline std::unique_ptr<LuksVolume> make_volume(io::MemoryFile& file, std::string_view passphrase,
                                               uint64_t base = 0) {
  LuksCreateOptions options;
  options.fixed_iterations = kTestIterations;
  auto v = LuksVolume::create(file, base, options, SecretBytes(passphrase));
  EXPECT_TRUE(v.ok()) << v.error().message();
  return v.ok() ? std::move(*v) : nullptr;
}

inline std::vector<uint8_t> header_bytes(io::MemoryFile& file, uint64_t base = 0) {
  std::vector<uint8_t> b(kLuksHeaderBytes);
  EXPECT_TRUE(io::read_exact(file, base, b.data(), b.size()).ok());
  return b;
}

inline void put_be32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  b[at] = static_cast<uint8_t>(v >> 24);
  b[at + 1] = static_cast<uint8_t>(v >> 16);
  b[at + 2] = static_cast<uint8_t>(v >> 8);
  b[at + 3] = static_cast<uint8_t>(v);
}

// Field offsets of the LUKS1 header.
inline constexpr size_t kOffVersion = 6;
inline constexpr size_t kOffCipherName = 8;
inline constexpr size_t kOffCipherMode = 40;
inline constexpr size_t kOffHashSpec = 72;
inline constexpr size_t kOffPayload = 104;
inline constexpr size_t kOffKeyBytes = 108;
inline constexpr size_t kOffMkIterations = 164;
inline constexpr size_t slot_offset(unsigned slot) {
  return 208 + slot * 48;
}

}  // namespace amber::block::crypto
