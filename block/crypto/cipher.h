// SPDX-License-Identifier: GPL-2.0-or-later
// Sector ciphers of LUKS1 as QEMU implements them (crypto/cipher.c,
// crypto/ivgen*.c), on OpenSSL's EVP: AES-128/192/256 in XTS or CBC (ECB
// for ESSIV), IV generators plain (32-bit little-endian sector), plain64
// (64-bit) and essiv:HASH (the sector encrypted under hash(key)), one IV
// per 512-byte sector. Also the hash names and PBKDF2 / AFsplit helpers
// LUKS uses.
//
// Thread-safety: a SectorCipher is immutable after make(); encrypt and
// decrypt may run from many threads at once (each borrows an OpenSSL
// context from a small mutex-guarded pool). Key bytes are wiped with
// OPENSSL_cleanse when the cipher is destroyed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace amber::block::crypto {

inline constexpr size_t kCryptSectorSize = 512;

enum class CipherAlg { kAes128, kAes192, kAes256 };
enum class CipherMode { kEcb, kCbc, kXts };
enum class IvGenAlg { kPlain, kPlain64, kEssiv };
enum class HashAlg { kSha1, kSha224, kSha256, kSha384, kSha512, kRipemd160 };

// qemu's QAPI names: "aes-256", "xts", "plain64", "sha256".
std::string_view to_string(CipherAlg alg);
std::string_view to_string(CipherMode mode);
std::string_view to_string(IvGenAlg alg);
std::string_view to_string(HashAlg alg);
Result<CipherAlg> parse_cipher_alg(std::string_view name);
Result<CipherMode> parse_cipher_mode(std::string_view name);
Result<IvGenAlg> parse_ivgen_alg(std::string_view name);
Result<HashAlg> parse_hash_alg(std::string_view name);

size_t cipher_key_bytes(CipherAlg alg);  // 16, 24, 32
size_t hash_digest_bytes(HashAlg alg);

struct CipherSpec {
  CipherAlg alg = CipherAlg::kAes256;
  CipherMode mode = CipherMode::kXts;
  IvGenAlg ivgen = IvGenAlg::kPlain64;
  HashAlg ivgen_hash = HashAlg::kSha256;  // essiv only
  // The key length: cipher key bytes, twice that for XTS.
  size_t key_bytes() const;
};

class SectorCipher {
 public:
  ~SectorCipher();
  SectorCipher(const SectorCipher&) = delete;
  SectorCipher& operator=(const SectorCipher&) = delete;

  static Result<std::unique_ptr<SectorCipher>> make(const CipherSpec& spec,
                                                    std::span<const uint8_t> key);

  // En/decrypts `bytes` (a multiple of 512) in place; the first 512 bytes
  // are sector `sector`, the next sector + 1 and so on.
  Result<void> encrypt(uint64_t sector, uint8_t* data, size_t bytes) const;
  Result<void> decrypt(uint64_t sector, uint8_t* data, size_t bytes) const;

 private:
  struct Worker;
  SectorCipher() = default;
  Result<void> run(uint64_t sector, uint8_t* data, size_t bytes, bool enc) const;
  Result<Worker*> borrow() const;
  void give_back(Worker* w) const;

  CipherSpec spec_;
  std::vector<uint8_t> key_;
  std::vector<uint8_t> essiv_key_;
  mutable std::mutex mutex_;
  mutable std::vector<Worker*> pool_;
};

// PBKDF2-HMAC-`hash` (RFC 8018) into `out`.
Result<void> pbkdf2(HashAlg hash, std::span<const uint8_t> password, std::span<const uint8_t> salt,
                    uint64_t iterations, std::span<uint8_t> out);

// QEMU's qcrypto_pbkdf2_count_iters: PBKDF2 iterations per second of
// thread CPU time for this key/salt/output length.
Result<uint64_t> pbkdf2_iterations_per_second(HashAlg hash, std::span<const uint8_t> password,
                                              std::span<const uint8_t> salt, size_t out_bytes);

// The LUKS1 anti-forensic splitter (QEMU's crypto/afsplit.c): `split` is
// in.size() * stripes bytes; encode fills it with random stripes whose
// diffusion-merge gives `in`; decode merges them back into `out`.
Result<void> afsplit_encode(HashAlg hash, std::span<const uint8_t> in, uint32_t stripes,
                            std::span<uint8_t> split);
Result<void> afsplit_decode(HashAlg hash, std::span<const uint8_t> split, uint32_t stripes,
                            std::span<uint8_t> out);

Result<void> random_bytes(std::span<uint8_t> out);
// AES-256-CBC decryption of `data` in place (no padding removed), as QEMU
// decrypts a secret object given with keyid= and iv=: a 32-byte key, a
// 16-byte IV, and data a multiple of 16 bytes (QEMU's "Length N must be a
// multiple of block size 16" otherwise).
Result<void> aes256_cbc_decrypt(std::span<const uint8_t> key, std::span<const uint8_t> iv,
                                std::span<uint8_t> data);
// Wipes memory the compiler may not optimise away (OPENSSL_cleanse).
void wipe(void* p, size_t bytes);

// A byte buffer wiped on destruction, for passphrases and keys.
class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(size_t n) : bytes_(n) {}
  explicit SecretBytes(std::string_view s) : bytes_(s.begin(), s.end()) {}
  SecretBytes(const SecretBytes& other) : bytes_(other.bytes_) {}
  SecretBytes& operator=(const SecretBytes& other) {
    if (this != &other) {
      clear();
      bytes_ = other.bytes_;
    }
    return *this;
  }
  // A move leaves `other` empty: the bytes are not copied.
  SecretBytes(SecretBytes&& other) noexcept : bytes_(std::move(other.bytes_)) {}
  SecretBytes& operator=(SecretBytes&& other) noexcept {
    if (this != &other) {
      clear();
      bytes_ = std::move(other.bytes_);
    }
    return *this;
  }
  ~SecretBytes() { clear(); }
  void clear() {
    wipe(bytes_.data(), bytes_.size());
    bytes_.clear();
  }
  uint8_t* data() { return bytes_.data(); }
  const uint8_t* data() const { return bytes_.data(); }
  size_t size() const { return bytes_.size(); }
  std::span<uint8_t> span() { return bytes_; }
  std::span<const uint8_t> span() const { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

}  // namespace amber::block::crypto
