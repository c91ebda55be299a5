// SPDX-License-Identifier: GPL-2.0-or-later
// SectorCipher, PBKDF2 and AFsplit on OpenSSL EVP (see cipher.h).
#include "block/crypto/cipher.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <time.h>

#include <algorithm>
#include <cstring>

namespace amber::block::crypto {

namespace {

Error crypto_error(std::string what) {
  return Error(ErrorKind::kInternal, std::move(what));
}

const EVP_MD* evp_md(HashAlg alg) {
  switch (alg) {
    case HashAlg::kSha1:
      return EVP_sha1();
    case HashAlg::kSha224:
      return EVP_sha224();
    case HashAlg::kSha256:
      return EVP_sha256();
    case HashAlg::kSha384:
      return EVP_sha384();
    case HashAlg::kSha512:
      return EVP_sha512();
    case HashAlg::kRipemd160:
      return EVP_get_digestbyname("ripemd160");
  }
  return nullptr;
}

const EVP_CIPHER* evp_cipher(CipherAlg alg, CipherMode mode) {
  switch (mode) {
    case CipherMode::kEcb:
      return alg == CipherAlg::kAes128   ? EVP_aes_128_ecb()
             : alg == CipherAlg::kAes192 ? EVP_aes_192_ecb()
                                         : EVP_aes_256_ecb();
    case CipherMode::kCbc:
      return alg == CipherAlg::kAes128   ? EVP_aes_128_cbc()
             : alg == CipherAlg::kAes192 ? EVP_aes_192_cbc()
                                         : EVP_aes_256_cbc();
    case CipherMode::kXts:
      // OpenSSL has XTS for AES-128 and AES-256 only.
      return alg == CipherAlg::kAes128   ? EVP_aes_128_xts()
             : alg == CipherAlg::kAes256 ? EVP_aes_256_xts()
                                         : nullptr;
  }
  return nullptr;
}

}  // namespace

std::string_view to_string(CipherAlg alg) {
  return alg == CipherAlg::kAes128 ? "aes-128" : alg == CipherAlg::kAes192 ? "aes-192" : "aes-256";
}
std::string_view to_string(CipherMode mode) {
  return mode == CipherMode::kEcb ? "ecb" : mode == CipherMode::kCbc ? "cbc" : "xts";
}
std::string_view to_string(IvGenAlg alg) {
  return alg == IvGenAlg::kPlain ? "plain" : alg == IvGenAlg::kPlain64 ? "plain64" : "essiv";
}
std::string_view to_string(HashAlg alg) {
  switch (alg) {
    case HashAlg::kSha1:
      return "sha1";
    case HashAlg::kSha224:
      return "sha224";
    case HashAlg::kSha256:
      return "sha256";
    case HashAlg::kSha384:
      return "sha384";
    case HashAlg::kSha512:
      return "sha512";
    case HashAlg::kRipemd160:
      return "ripemd160";
  }
  return "sha256";
}

Result<CipherAlg> parse_cipher_alg(std::string_view name) {
  if (name == "aes-128") return CipherAlg::kAes128;
  if (name == "aes-192") return CipherAlg::kAes192;
  if (name == "aes-256") return CipherAlg::kAes256;
  return Error(ErrorKind::kUnsupported, "Invalid parameter '" + std::string(name) + "'");
}
Result<CipherMode> parse_cipher_mode(std::string_view name) {
  if (name == "ecb") return CipherMode::kEcb;
  if (name == "cbc") return CipherMode::kCbc;
  if (name == "xts") return CipherMode::kXts;
  return Error(ErrorKind::kUnsupported, "Invalid parameter '" + std::string(name) + "'");
}
Result<IvGenAlg> parse_ivgen_alg(std::string_view name) {
  if (name == "plain") return IvGenAlg::kPlain;
  if (name == "plain64") return IvGenAlg::kPlain64;
  if (name == "essiv") return IvGenAlg::kEssiv;
  return Error(ErrorKind::kUnsupported, "Invalid parameter '" + std::string(name) + "'");
}
Result<HashAlg> parse_hash_alg(std::string_view name) {
  for (HashAlg h : {HashAlg::kSha1, HashAlg::kSha224, HashAlg::kSha256, HashAlg::kSha384,
                    HashAlg::kSha512, HashAlg::kRipemd160})
    if (name == to_string(h)) return h;
  return Error(ErrorKind::kUnsupported, "Invalid parameter '" + std::string(name) + "'");
}

size_t cipher_key_bytes(CipherAlg alg) {
  return alg == CipherAlg::kAes128 ? 16 : alg == CipherAlg::kAes192 ? 24 : 32;
}

size_t hash_digest_bytes(HashAlg alg) {
  const EVP_MD* md = evp_md(alg);
  return md ? static_cast<size_t>(EVP_MD_get_size(md)) : 0;
}

size_t CipherSpec::key_bytes() const {
  return cipher_key_bytes(alg) * (mode == CipherMode::kXts ? 2 : 1);
}

void wipe(void* p, size_t bytes) {
  if (p != nullptr && bytes != 0) OPENSSL_cleanse(p, bytes);
}

Result<void> random_bytes(std::span<uint8_t> out) {
  if (out.empty()) return ok();
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1)
    return crypto_error("Unable to read random bytes");
  return ok();
}

struct SectorCipher::Worker {
  EVP_CIPHER_CTX* enc = nullptr;
  EVP_CIPHER_CTX* dec = nullptr;
  EVP_CIPHER_CTX* essiv = nullptr;
  ~Worker() {
    EVP_CIPHER_CTX_free(enc);  // frees (and cleanses) the key schedules
    EVP_CIPHER_CTX_free(dec);
    EVP_CIPHER_CTX_free(essiv);
  }
};

SectorCipher::~SectorCipher() {
  for (Worker* w : pool_) delete w;
  wipe(key_.data(), key_.size());
  wipe(essiv_key_.data(), essiv_key_.size());
}

Result<void> aes256_cbc_decrypt(std::span<const uint8_t> key, std::span<const uint8_t> iv,
                                std::span<uint8_t> data) {
  if (key.size() != 32 || iv.size() != 16)
    return Error(ErrorKind::kInvalidArgument, "AES-256-CBC needs a 32-byte key and a 16-byte IV");
  if (data.size() % 16 != 0)
    return Error(ErrorKind::kInvalidArgument,
                 "Length " + std::to_string(data.size()) + " must be a multiple of block size 16");
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (ctx == nullptr) return Error(ErrorKind::kIo, "cannot allocate a cipher context");
  int out_len = 0;
  const bool ok_run =
      EVP_DecryptInit_ex(ctx, EVP_aes_256_cbc(), nullptr, key.data(), iv.data()) == 1 &&
      EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
      (data.empty() || EVP_DecryptUpdate(ctx, data.data(), &out_len, data.data(),
                                         static_cast<int>(data.size())) == 1);
  EVP_CIPHER_CTX_free(ctx);
  if (!ok_run) return Error(ErrorKind::kIo, "AES-256-CBC decryption failed");
  return ok();
}

Result<std::unique_ptr<SectorCipher>> SectorCipher::make(const CipherSpec& spec,
                                                         std::span<const uint8_t> key) {
  const std::string name =
      std::string(to_string(spec.alg)) + "-" + std::string(to_string(spec.mode));
  if (evp_cipher(spec.alg, spec.mode) == nullptr)
    return Error(ErrorKind::kUnsupported, "Cipher '" + name + "' is not supported");
  if (key.size() != spec.key_bytes())
    return Error(ErrorKind::kInvalidArgument, "Cipher '" + name + "' needs a " +
                                                  std::to_string(spec.key_bytes()) +
                                                  "-byte key, not " + std::to_string(key.size()));
  std::unique_ptr<SectorCipher> c(new SectorCipher());
  c->spec_ = spec;
  c->key_.assign(key.begin(), key.end());
  if (spec.ivgen == IvGenAlg::kEssiv) {
    // QEMU: the ESSIV cipher is AES with the hash's digest size as key
    // size (qcrypto_block_luks_essiv_cipher); the salt is hash(key).
    const size_t digest = hash_digest_bytes(spec.ivgen_hash);
    if (digest != 16 && digest != 24 && digest != 32)
      return Error(ErrorKind::kUnsupported,
                   "Cipher " + std::string(to_string(spec.alg)) + " mode " + name + " hash " +
                       std::string(to_string(spec.ivgen_hash)) + " not compatible for essiv");
    std::vector<uint8_t> salt(EVP_MAX_MD_SIZE);
    unsigned int len = 0;
    if (EVP_Digest(key.data(), key.size(), salt.data(), &len, evp_md(spec.ivgen_hash), nullptr) !=
        1)
      return crypto_error("hashing the ESSIV key failed");
    salt.resize(len);
    c->essiv_key_ = std::move(salt);
  }
  // One worker up front so a bad key fails here, not on the first I/O.
  AMBER_TRY_ASSIGN(Worker * w, c->borrow());
  c->give_back(w);
  return c;
}

Result<SectorCipher::Worker*> SectorCipher::borrow() const {
  {
    std::lock_guard lock(mutex_);
    if (!pool_.empty()) {
      Worker* w = pool_.back();
      pool_.pop_back();
      return w;
    }
  }
  auto w = std::make_unique<Worker>();
  const EVP_CIPHER* cipher = evp_cipher(spec_.alg, spec_.mode);
  w->enc = EVP_CIPHER_CTX_new();
  w->dec = EVP_CIPHER_CTX_new();
  if (!w->enc || !w->dec ||
      EVP_EncryptInit_ex(w->enc, cipher, nullptr, key_.data(), nullptr) != 1 ||
      EVP_DecryptInit_ex(w->dec, cipher, nullptr, key_.data(), nullptr) != 1)
    return crypto_error("setting up the cipher failed (an XTS key with equal halves?)");
  EVP_CIPHER_CTX_set_padding(w->enc, 0);
  EVP_CIPHER_CTX_set_padding(w->dec, 0);
  if (!essiv_key_.empty()) {
    const CipherAlg ealg = essiv_key_.size() == 16   ? CipherAlg::kAes128
                           : essiv_key_.size() == 24 ? CipherAlg::kAes192
                                                     : CipherAlg::kAes256;
    w->essiv = EVP_CIPHER_CTX_new();
    if (!w->essiv || EVP_EncryptInit_ex(w->essiv, evp_cipher(ealg, CipherMode::kEcb), nullptr,
                                        essiv_key_.data(), nullptr) != 1)
      return crypto_error("setting up the ESSIV cipher failed");
    EVP_CIPHER_CTX_set_padding(w->essiv, 0);
  }
  return w.release();
}

void SectorCipher::give_back(Worker* w) const {
  std::lock_guard lock(mutex_);
  pool_.push_back(w);
}

Result<void> SectorCipher::run(uint64_t sector, uint8_t* data, size_t bytes, bool enc) const {
  // QEMU's qcrypto_block_cipher_encdec: 512-byte units, the last one may
  // be shorter (key material of odd size), still whole cipher blocks.
  if (bytes % 16 != 0)
    return Error(ErrorKind::kInvalidArgument, "encrypted I/O must be whole cipher blocks");
  AMBER_TRY_ASSIGN(Worker * w, borrow());
  EVP_CIPHER_CTX* ctx = enc ? w->enc : w->dec;
  const bool ecb = spec_.mode == CipherMode::kEcb;
  Result<void> result = ok();
  for (size_t off = 0; off < bytes; off += kCryptSectorSize, ++sector) {
    const size_t chunk = std::min(kCryptSectorSize, bytes - off);
    uint8_t iv[16] = {};
    uint64_t s = spec_.ivgen == IvGenAlg::kPlain ? (sector & 0xffffffffu) : sector;
    for (int i = 0; i < 8; ++i) iv[i] = static_cast<uint8_t>(s >> (8 * i));  // little-endian
    int outl = 0;
    if (w->essiv != nullptr &&
        (EVP_EncryptInit_ex(w->essiv, nullptr, nullptr, nullptr, nullptr) != 1 ||
         EVP_EncryptUpdate(w->essiv, iv, &outl, iv, 16) != 1)) {
      result = crypto_error("ESSIV failed");
      break;
    }
    if (EVP_CipherInit_ex(ctx, nullptr, nullptr, nullptr, ecb ? nullptr : iv, -1) != 1 ||
        EVP_CipherUpdate(ctx, data + off, &outl, data + off, static_cast<int>(chunk)) != 1 ||
        outl != static_cast<int>(chunk)) {
      result = crypto_error(enc ? "encryption failed" : "decryption failed");
      break;
    }
  }
  give_back(w);
  return result;
}

Result<void> SectorCipher::encrypt(uint64_t sector, uint8_t* data, size_t bytes) const {
  return run(sector, data, bytes, true);
}

Result<void> SectorCipher::decrypt(uint64_t sector, uint8_t* data, size_t bytes) const {
  return run(sector, data, bytes, false);
}

Result<void> pbkdf2(HashAlg hash, std::span<const uint8_t> password, std::span<const uint8_t> salt,
                    uint64_t iterations, std::span<uint8_t> out) {
  if (iterations == 0 || iterations > 0x7fffffffu)
    return Error(ErrorKind::kInvalidArgument,
                 "PBKDF2 iterations " + std::to_string(iterations) + " out of range");
  static const char kEmpty = 0;
  const char* pass = password.empty() ? &kEmpty : reinterpret_cast<const char*>(password.data());
  if (PKCS5_PBKDF2_HMAC(pass, static_cast<int>(password.size()), salt.data(),
                        static_cast<int>(salt.size()), static_cast<int>(iterations), evp_md(hash),
                        static_cast<int>(out.size()), out.data()) != 1)
    return crypto_error("PBKDF2 failed");
  return ok();
}

namespace {

// Microseconds rather than QEMU's milliseconds (getrusage): a fast CPU
// must not measure 0 and fail.
uint64_t thread_cpu_us() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000 + static_cast<uint64_t>(ts.tv_nsec) / 1000;
}

}  // namespace

// QEMU's loop: grow the count until one run takes over 500 ms of CPU.
Result<uint64_t> pbkdf2_iterations_per_second(HashAlg hash, std::span<const uint8_t> password,
                                              std::span<const uint8_t> salt, size_t out_bytes) {
  SecretBytes out(out_bytes);
  uint64_t iterations = 1u << 15;
  uint64_t delta_us = 0;
  while (true) {
    const uint64_t start = thread_cpu_us();
    AMBER_TRY(pbkdf2(hash, password, salt, iterations, out.span()));
    delta_us = thread_cpu_us() - start;
    if (delta_us == 0) return crypto_error("Unable to get accurate CPU usage");
    if (delta_us > 500000 || iterations == 0x7fffffffu) break;
    if (delta_us < 100000)
      iterations *= 10;
    else
      iterations = iterations * 1000000 / delta_us;
    if (iterations > 0x7fffffffu) iterations = 0x7fffffffu;
  }
  return iterations * 1000000 / delta_us;
}

namespace {

void xor_block(size_t n, const uint8_t* a, const uint8_t* b, uint8_t* out) {
  for (size_t i = 0; i < n; ++i) out[i] = a[i] ^ b[i];
}

// QEMU's qcrypto_afsplit_hash: each digest-sized piece i of the block
// becomes hash(be32(i) || piece), the last piece truncated.
Result<void> diffuse(HashAlg hash, std::span<uint8_t> block) {
  const EVP_MD* md = evp_md(hash);
  const size_t digest = hash_digest_bytes(hash);
  if (md == nullptr || digest == 0) return crypto_error("unknown hash");
  const size_t count = (block.size() + digest - 1) / digest;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return crypto_error("out of memory");
  uint8_t out[EVP_MAX_MD_SIZE];
  Result<void> result = ok();
  for (size_t i = 0; i < count; ++i) {
    const size_t len = std::min(digest, block.size() - i * digest);
    const uint8_t iv[4] = {static_cast<uint8_t>(i >> 24), static_cast<uint8_t>(i >> 16),
                           static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
    unsigned int outl = 0;
    if (EVP_DigestInit_ex(ctx, md, nullptr) != 1 || EVP_DigestUpdate(ctx, iv, 4) != 1 ||
        EVP_DigestUpdate(ctx, block.data() + i * digest, len) != 1 ||
        EVP_DigestFinal_ex(ctx, out, &outl) != 1) {
      result = crypto_error("hash failed");
      break;
    }
    std::memcpy(block.data() + i * digest, out, len);
  }
  wipe(out, sizeof out);
  EVP_MD_CTX_free(ctx);
  return result;
}

}  // namespace

Result<void> afsplit_encode(HashAlg hash, std::span<const uint8_t> in, uint32_t stripes,
                            std::span<uint8_t> split) {
  const size_t n = in.size();
  if (stripes == 0 || split.size() != n * stripes)
    return Error(ErrorKind::kInvalidArgument, "bad AFsplit geometry");
  SecretBytes block(n);
  AMBER_TRY(random_bytes(split.first(n * (stripes - 1))));
  for (uint32_t i = 0; i + 1 < stripes; ++i) {
    xor_block(n, split.data() + i * n, block.data(), block.data());
    AMBER_TRY(diffuse(hash, block.span()));
  }
  xor_block(n, in.data(), block.data(), split.data() + size_t{stripes - 1} * n);
  return ok();
}

Result<void> afsplit_decode(HashAlg hash, std::span<const uint8_t> split, uint32_t stripes,
                            std::span<uint8_t> out) {
  const size_t n = out.size();
  if (stripes == 0 || split.size() != n * stripes)
    return Error(ErrorKind::kInvalidArgument, "bad AFsplit geometry");
  SecretBytes block(n);
  for (uint32_t i = 0; i + 1 < stripes; ++i) {
    xor_block(n, split.data() + i * n, block.data(), block.data());
    AMBER_TRY(diffuse(hash, block.span()));
  }
  xor_block(n, split.data() + size_t{stripes - 1} * n, block.data(), out.data());
  return ok();
}

}  // namespace amber::block::crypto
