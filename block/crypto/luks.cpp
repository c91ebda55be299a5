// SPDX-License-Identifier: GPL-2.0-or-later
// LUKS1 header, key slots and unlock (see luks.h). Layout facts from the
// LUKS1 on-disk format specification and QEMU 7.2's crypto/block-luks.c.
#include "block/crypto/luks.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "block/qcow2/format.h"

namespace amber::block::crypto {

namespace {

using qcow2::load_be32;
using qcow2::store_be32;

constexpr uint8_t kMagic[6] = {'L', 'U', 'K', 'S', 0xba, 0xbe};
constexpr uint32_t kHeaderSectors = 4096 / 512;  // key material starts here
constexpr uint32_t kMinMasterKeyIters = 1000;
constexpr uint32_t kMinSlotIters = 1000;
constexpr size_t kDigestBytes = 20;

Error corrupt(std::string why) {
  return Error(ErrorKind::kCorrupt, std::move(why));
}

std::string field(const uint8_t* p, size_t n) {
  size_t len = 0;
  while (len < n && p[len] != 0) ++len;
  return std::string(reinterpret_cast<const char*>(p), len);
}

void put_field(uint8_t* p, size_t n, const std::string& s) {
  std::memset(p, 0, n);
  std::memcpy(p, s.data(), std::min(s.size(), n - 1));
}

// QEMU's qcrypto_block_luks_splitkeylen_sectors.
uint32_t split_sectors(uint32_t key_bytes, uint32_t stripes) {
  const uint64_t bytes = uint64_t{key_bytes} * stripes;
  const uint64_t sectors = (bytes + 511) / 512;
  return static_cast<uint32_t>((sectors + kHeaderSectors - 1) / kHeaderSectors * kHeaderSectors);
}

std::string make_uuid(const uint8_t r[16]) {
  uint8_t b[16];
  std::memcpy(b, r, 16);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  char s[37];
  std::snprintf(s, sizeof s, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
                b[13], b[14], b[15]);
  return s;
}

}  // namespace

Result<LuksParams> luks_params(const LuksHeader& h) {
  LuksParams p;
  const std::string& mode = h.cipher_mode;
  const auto dash = mode.find('-');
  const std::string mode_name = mode.substr(0, dash);
  const std::string ivgen = dash == std::string::npos ? "plain" : mode.substr(dash + 1);
  if (mode_name == "ecb")
    p.cipher.mode = CipherMode::kEcb;
  else if (mode_name == "cbc")
    p.cipher.mode = CipherMode::kCbc;
  else if (mode_name == "xts")
    p.cipher.mode = CipherMode::kXts;
  else
    return Error(ErrorKind::kUnsupported, "Unsupported LUKS cipher mode '" + mode + "'");
  if (ivgen == "plain") {
    p.cipher.ivgen = IvGenAlg::kPlain;
  } else if (ivgen == "plain64") {
    p.cipher.ivgen = IvGenAlg::kPlain64;
  } else if (ivgen.rfind("essiv:", 0) == 0) {
    p.cipher.ivgen = IvGenAlg::kEssiv;
    auto hash = parse_hash_alg(ivgen.substr(6));
    if (!hash.ok())
      return Error(ErrorKind::kUnsupported, "Unsupported LUKS ESSIV hash in '" + mode + "'");
    p.cipher.ivgen_hash = *hash;
  } else {
    return Error(ErrorKind::kUnsupported, "Unsupported LUKS IV generator in '" + mode + "'");
  }
  if (h.cipher_name != "aes")
    return Error(ErrorKind::kUnsupported,
                 "Unsupported LUKS cipher '" + h.cipher_name + "' (only aes is supported)");
  const uint32_t per_key = p.cipher.mode == CipherMode::kXts ? h.key_bytes / 2 : h.key_bytes;
  if (per_key == 16 && (h.key_bytes == 16 || h.key_bytes == 32))
    p.cipher.alg = CipherAlg::kAes128;
  else if (per_key == 24)
    p.cipher.alg = CipherAlg::kAes192;
  else if (per_key == 32)
    p.cipher.alg = CipherAlg::kAes256;
  else
    return Error(ErrorKind::kUnsupported, "Algorithm 'aes' with key size " +
                                              std::to_string(h.key_bytes) + " bytes not supported");
  if (p.cipher.key_bytes() != h.key_bytes)
    return Error(ErrorKind::kUnsupported, "Algorithm 'aes' with key size " +
                                              std::to_string(h.key_bytes) + " bytes not supported");
  auto hash = parse_hash_alg(h.hash_spec);
  if (!hash.ok())
    return Error(ErrorKind::kUnsupported, "Unsupported LUKS hash '" + h.hash_spec + "'");
  p.hash = *hash;
  return p;
}

Result<LuksHeader> parse_luks_header(std::span<const uint8_t> b) {
  if (b.size() < kLuksHeaderBytes || std::memcmp(b.data(), kMagic, 6) != 0)
    return corrupt("Volume is not in LUKS format");
  const uint16_t version = static_cast<uint16_t>((b[6] << 8) | b[7]);
  if (version != 1)
    return Error(ErrorKind::kUnsupported, "Unsupported LUKS version " + std::to_string(version));
  LuksHeader h;
  const uint8_t* p = b.data();
  h.cipher_name = field(p + 8, 32);
  h.cipher_mode = field(p + 40, 32);
  h.hash_spec = field(p + 72, 32);
  h.payload_offset_sector = load_be32(p + 104);
  h.key_bytes = load_be32(p + 108);
  std::memcpy(h.mk_digest.data(), p + 112, 20);
  std::memcpy(h.mk_digest_salt.data(), p + 132, 32);
  h.mk_digest_iterations = load_be32(p + 164);
  h.uuid = field(p + 168, 40);
  for (unsigned i = 0; i < kLuksSlots; ++i) {
    const uint8_t* s = p + 208 + i * 48;
    LuksSlot& slot = h.slots[i];
    slot.active = load_be32(s);
    slot.iterations = load_be32(s + 4);
    std::memcpy(slot.salt.data(), s + 8, 32);
    slot.key_offset_sector = load_be32(s + 40);
    slot.stripes = load_be32(s + 44);
  }
  // The cipher first: it bounds key_bytes, which sizes the key material.
  AMBER_TRY(luks_params(h));
  if (h.mk_digest_iterations == 0) return corrupt("LUKS master key digest has 0 iterations");
  if (h.payload_offset_sector < kHeaderSectors)
    return corrupt("LUKS payload is overlapping with the header");
  for (unsigned i = 0; i < kLuksSlots; ++i) {
    const LuksSlot& s1 = h.slots[i];
    if (s1.active != kLuksSlotActive && s1.active != kLuksSlotDisabled)
      return corrupt("Keyslot " + std::to_string(i) + " state (active/disable) is corrupted");
    if (s1.stripes != kLuksStripes)
      return corrupt("Keyslot " + std::to_string(i) + " is corrupted (stripes " +
                     std::to_string(s1.stripes) + " != " + std::to_string(kLuksStripes) + ")");
    if (s1.key_offset_sector < kHeaderSectors)
      return corrupt("Keyslot " + std::to_string(i) + " is overlapping with the LUKS header");
    const uint64_t len1 = split_sectors(h.key_bytes, s1.stripes);
    if (uint64_t{s1.key_offset_sector} + len1 > h.payload_offset_sector)
      return corrupt("Keyslot " + std::to_string(i) + " is overlapping with the encrypted payload");
    if (s1.active == kLuksSlotActive && s1.iterations == 0)
      return corrupt("Keyslot " + std::to_string(i) + " has 0 iterations");
    for (unsigned j = i + 1; j < kLuksSlots; ++j) {
      const LuksSlot& s2 = h.slots[j];
      const uint64_t len2 = split_sectors(h.key_bytes, s2.stripes);
      const uint64_t a = s1.key_offset_sector, b2 = s2.key_offset_sector;
      if (a + len1 > b2 && b2 + len2 > a)
        return corrupt("Keyslots " + std::to_string(i) + " and " + std::to_string(j) +
                       " are overlapping in the header");
    }
  }
  return h;
}

std::vector<uint8_t> serialize_luks_header(const LuksHeader& h) {
  std::vector<uint8_t> b(kLuksHeaderBytes, 0);
  uint8_t* p = b.data();
  std::memcpy(p, kMagic, 6);
  p[7] = 1;
  put_field(p + 8, 32, h.cipher_name);
  put_field(p + 40, 32, h.cipher_mode);
  put_field(p + 72, 32, h.hash_spec);
  store_be32(p + 104, h.payload_offset_sector);
  store_be32(p + 108, h.key_bytes);
  std::memcpy(p + 112, h.mk_digest.data(), 20);
  std::memcpy(p + 132, h.mk_digest_salt.data(), 32);
  store_be32(p + 164, h.mk_digest_iterations);
  put_field(p + 168, 40, h.uuid);
  for (unsigned i = 0; i < kLuksSlots; ++i) {
    uint8_t* s = p + 208 + i * 48;
    const LuksSlot& slot = h.slots[i];
    store_be32(s, slot.active);
    store_be32(s + 4, slot.iterations);
    std::memcpy(s + 8, slot.salt.data(), 32);
    store_be32(s + 40, slot.key_offset_sector);
    store_be32(s + 44, slot.stripes);
  }
  return b;
}

namespace {

// The most PBKDF2 iterations an unlock spends over all active slots (each
// slot's own count plus the master key digest's). A slot's count is a
// 32-bit field, so one slot at QEMU's largest count fits; a hostile header
// that fills all eight slots with it (hours of CPU) is refused up front.
constexpr uint64_t kMaxUnlockIterations = uint64_t{1} << 33;

Result<void> check_unlock_cost(const LuksHeader& h) {
  uint64_t total = 0;
  for (const LuksSlot& s : h.slots)
    if (s.active == kLuksSlotActive) total += uint64_t{s.iterations} + h.mk_digest_iterations;
  if (total > kMaxUnlockIterations)
    return corrupt("LUKS key slots ask for " + std::to_string(total) +
                   " PBKDF2 iterations in all, more than the " +
                   std::to_string(kMaxUnlockIterations) + " Amber spends to unlock an image");
  return ok();
}

// Tries one slot; returns the master key if the passphrase opens it.
Result<std::optional<SecretBytes>> try_slot(io::File& file, uint64_t base, const LuksHeader& h,
                                            const LuksParams& params, const LuksSlot& slot,
                                            const SecretBytes& passphrase) {
  const size_t split_bytes = size_t{h.key_bytes} * slot.stripes;
  SecretBytes slot_key(h.key_bytes);
  AMBER_TRY(pbkdf2(params.hash, passphrase.span(), slot.salt, slot.iterations, slot_key.span()));
  SecretBytes split(split_bytes);
  AMBER_TRY(io::read_exact(file, base + uint64_t{slot.key_offset_sector} * 512, split.data(),
                           split_bytes));
  AMBER_TRY_ASSIGN(auto slot_cipher, SectorCipher::make(params.cipher, slot_key.span()));
  AMBER_TRY(slot_cipher->decrypt(0, split.data(), split_bytes));
  SecretBytes key(h.key_bytes);
  AMBER_TRY(afsplit_decode(params.hash, split.span(), slot.stripes, key.span()));
  uint8_t digest[kDigestBytes];
  AMBER_TRY(pbkdf2(params.hash, key.span(), h.mk_digest_salt, h.mk_digest_iterations,
                   std::span(digest, kDigestBytes)));
  const bool match = CRYPTO_memcmp(digest, h.mk_digest.data(), kDigestBytes) == 0;
  wipe(digest, sizeof digest);
  if (!match) return std::optional<SecretBytes>();
  return std::optional<SecretBytes>(std::move(key));
}

}  // namespace

Result<std::unique_ptr<LuksVolume>> LuksVolume::open(io::File& file, uint64_t base,
                                                     uint64_t area_bytes,
                                                     const SecretBytes* passphrase) {
  uint8_t raw[kLuksHeaderBytes];
  if (area_bytes < kLuksHeaderBytes) return corrupt("Volume is not in LUKS format");
  AMBER_TRY(io::read_exact(file, base, raw, sizeof raw));
  AMBER_TRY_ASSIGN(LuksHeader h, parse_luks_header(std::span(raw, sizeof raw)));
  AMBER_TRY_ASSIGN(LuksParams params, luks_params(h));
  for (unsigned i = 0; i < kLuksSlots; ++i) {
    const LuksSlot& s = h.slots[i];
    if (s.active != kLuksSlotActive) continue;
    if (uint64_t{s.key_offset_sector} * 512 + uint64_t{h.key_bytes} * s.stripes > area_bytes)
      return corrupt("Keyslot " + std::to_string(i) +
                     " key material lies beyond the end of the LUKS area");
  }
  auto v = std::unique_ptr<LuksVolume>(new LuksVolume());
  v->header_ = h;
  v->params_ = params;
  v->area_bytes_ = area_bytes;
  if (passphrase == nullptr) return v;
  AMBER_TRY(check_unlock_cost(h));
  for (const LuksSlot& s : h.slots) {
    if (s.active != kLuksSlotActive) continue;
    AMBER_TRY_ASSIGN(auto key, try_slot(file, base, h, params, s, *passphrase));
    if (!key) continue;
    AMBER_TRY_ASSIGN(v->cipher_, SectorCipher::make(params.cipher, key->span()));
    return v;
  }
  return Error(ErrorKind::kInvalidArgument, "Invalid password, cannot unlock any keyslot");
}

Result<uint64_t> LuksVolume::area_size(const LuksParams& params) {
  const uint32_t key_bytes = static_cast<uint32_t>(params.cipher.key_bytes());
  return (uint64_t{kHeaderSectors} +
          uint64_t{kLuksSlots} * split_sectors(key_bytes, kLuksStripes)) *
         512;
}

Result<std::unique_ptr<LuksVolume>> LuksVolume::create(io::File& file, uint64_t base,
                                                       const LuksCreateOptions& options,
                                                       const SecretBytes& passphrase) {
  const LuksParams& params = options.params;
  LuksHeader h;
  h.cipher_name = "aes";
  h.cipher_mode = std::string(to_string(params.cipher.mode)) + "-" +
                  std::string(to_string(params.cipher.ivgen));
  if (params.cipher.ivgen == IvGenAlg::kEssiv)
    h.cipher_mode += ":" + std::string(to_string(params.cipher.ivgen_hash));
  h.hash_spec = std::string(to_string(params.hash));
  h.key_bytes = static_cast<uint32_t>(params.cipher.key_bytes());
  const uint32_t split = split_sectors(h.key_bytes, kLuksStripes);
  for (unsigned i = 0; i < kLuksSlots; ++i) {
    h.slots[i].active = kLuksSlotDisabled;
    h.slots[i].stripes = kLuksStripes;
    h.slots[i].key_offset_sector = kHeaderSectors + i * split;
  }
  h.payload_offset_sector = kHeaderSectors + kLuksSlots * split;
  uint8_t r[16];
  AMBER_TRY(random_bytes(std::span(r, 16)));
  h.uuid = make_uuid(r);

  SecretBytes key(h.key_bytes);
  AMBER_TRY(random_bytes(key.span()));
  // The master key cipher first: it refuses unsupported combinations
  // (XTS with aes-192, ESSIV hashes without an AES key size).
  AMBER_TRY_ASSIGN(auto cipher, SectorCipher::make(params.cipher, key.span()));
  AMBER_TRY(random_bytes(h.mk_digest_salt));
  const uint64_t iter_time = options.iter_time_ms;
  if (options.fixed_iterations) {
    h.mk_digest_iterations = std::max(*options.fixed_iterations, 1u);
  } else {
    AMBER_TRY_ASSIGN(
        uint64_t mk_rate,
        pbkdf2_iterations_per_second(params.hash, key.span(), h.mk_digest_salt, kDigestBytes));
    // QEMU (after cryptsetup): an eighth of the time for the digest.
    const uint64_t mk_iters = mk_rate * iter_time / 1000 / 8;
    h.mk_digest_iterations =
        static_cast<uint32_t>(std::clamp<uint64_t>(mk_iters, kMinMasterKeyIters, 0x7fffffffu));
  }
  AMBER_TRY(pbkdf2(params.hash, key.span(), h.mk_digest_salt, h.mk_digest_iterations, h.mk_digest));

  LuksSlot& slot = h.slots[0];
  slot.active = kLuksSlotActive;
  AMBER_TRY(random_bytes(slot.salt));
  if (options.fixed_iterations) {
    slot.iterations = std::max(*options.fixed_iterations, 1u);
  } else {
    AMBER_TRY_ASSIGN(uint64_t rate, pbkdf2_iterations_per_second(params.hash, passphrase.span(),
                                                                 slot.salt, h.key_bytes));
    if (iter_time != 0 && rate > UINT64_MAX / iter_time)
      return Error(ErrorKind::kInvalidArgument,
                   "PBKDF iterations " + std::to_string(rate) + " too large to scale");
    const uint64_t iters = rate * iter_time / 1000;
    if (iters > 0xffffffffu)
      return Error(ErrorKind::kInvalidArgument,
                   "PBKDF iterations " + std::to_string(iters) + " larger than 4294967295");
    slot.iterations =
        static_cast<uint32_t>(std::clamp<uint64_t>(iters, kMinSlotIters, 0x7fffffffu));
  }
  SecretBytes slot_key(h.key_bytes);
  AMBER_TRY(pbkdf2(params.hash, passphrase.span(), slot.salt, slot.iterations, slot_key.span()));
  const size_t split_bytes = size_t{h.key_bytes} * kLuksStripes;
  SecretBytes material(split_bytes);
  AMBER_TRY(afsplit_encode(params.hash, key.span(), kLuksStripes, material.span()));
  AMBER_TRY_ASSIGN(auto slot_cipher, SectorCipher::make(params.cipher, slot_key.span()));
  AMBER_TRY(slot_cipher->encrypt(0, material.data(), split_bytes));

  const std::vector<uint8_t> bytes = serialize_luks_header(h);
  AMBER_TRY(io::write_exact(file, base, bytes.data(), bytes.size()));
  AMBER_TRY(io::write_exact(file, base + uint64_t{slot.key_offset_sector} * 512, material.data(),
                            split_bytes));
  auto v = std::unique_ptr<LuksVolume>(new LuksVolume());
  v->header_ = h;
  v->params_ = params;
  v->area_bytes_ = v->payload_bytes();
  v->cipher_ = std::move(cipher);
  return v;
}

// ---- amend: adding and erasing key slots (qcrypto_block_luks_amend_*) ----

namespace {

constexpr uint64_t kDefaultIterTimeMs = 2000;
// QEMU overwrites an erased slot's key material this many times.
constexpr unsigned kEraseIterations = 40;

Error amend_error(std::string message) {
  return Error(ErrorKind::kInvalidArgument, std::move(message));
}

bool slot_active(const LuksHeader& h, unsigned i) {
  return h.slots[i].active == kLuksSlotActive;
}

unsigned count_active(const LuksHeader& h) {
  unsigned n = 0;
  for (unsigned i = 0; i < kLuksSlots; ++i) n += slot_active(h, i) ? 1 : 0;
  return n;
}

// The slot's master key when `passphrase` opens it (an inactive slot opens
// with nothing).
Result<std::optional<SecretBytes>> load_key(io::File& file, uint64_t base, const LuksHeader& h,
                                            const LuksParams& params, unsigned index,
                                            const SecretBytes& passphrase) {
  if (!slot_active(h, index)) return std::optional<SecretBytes>();
  return try_slot(file, base, h, params, h.slots[index], passphrase);
}

Result<SecretBytes> find_key(io::File& file, uint64_t base, const LuksHeader& h,
                             const LuksParams& params, const SecretBytes& passphrase) {
  AMBER_TRY(check_unlock_cost(h));
  for (unsigned i = 0; i < kLuksSlots; ++i) {
    AMBER_TRY_ASSIGN(auto key, load_key(file, base, h, params, i, passphrase));
    if (key) return std::move(*key);
  }
  return amend_error(
      "Invalid password, cannot unlock any keyslot\nFailed to retrieve the master key");
}

}  // namespace

Result<void> LuksVolume::store_header(io::File& file, uint64_t base) const {
  const std::vector<uint8_t> bytes = serialize_luks_header(header_);
  AMBER_TRY(io::write_exact(file, base, bytes.data(), bytes.size()));
  return file.flush();
}

Result<void> LuksVolume::amend(io::File& file, uint64_t base, const SecretBytes& unlock,
                               const LuksAmendOptions& options) {
  if (options.activate) return add_slot(file, base, unlock, options);
  return erase_slots(file, base, options);
}

// qcrypto_block_luks_amend_add_keyslot and qcrypto_block_luks_store_key.
Result<void> LuksVolume::add_slot(io::File& file, uint64_t base, const SecretBytes& unlock,
                                  const LuksAmendOptions& o) {
  if (!o.new_secret) return amend_error("'new-secret' is required to activate a keyslot");
  if (o.old_secret) return amend_error("'old-secret' must not be given when activating keyslots");
  int index = -1;
  if (o.keyslot) {
    index = static_cast<int>(static_cast<int32_t>(static_cast<uint64_t>(*o.keyslot)));
    if (index < 0 || index >= static_cast<int>(kLuksSlots))
      return amend_error("Invalid keyslot " + std::to_string(static_cast<uint32_t>(index)) +
                         " specified, must be between 0 and " + std::to_string(kLuksSlots - 1));
  } else {
    for (unsigned i = 0; i < kLuksSlots && index < 0; ++i)
      if (!slot_active(header_, i)) index = static_cast<int>(i);
    if (index < 0) return amend_error("Can't add a keyslot - all keyslots are in use");
  }
  const unsigned slot_index = static_cast<unsigned>(index);
  if (!o.force && slot_active(header_, slot_index))
    return amend_error("Refusing to overwrite active keyslot " + std::to_string(index) +
                       " - please erase it first");
  AMBER_TRY_ASSIGN(SecretBytes master, find_key(file, base, header_, params_, unlock));
  AMBER_TRY_ASSIGN(std::shared_ptr<const SecretBytes> password, o.lookup(*o.new_secret));

  const std::string hint = "\nFailed to write to keyslot " + std::to_string(index);
  LuksHeader next = header_;
  LuksSlot& slot = next.slots[slot_index];
  const size_t split_bytes = size_t{next.key_bytes} * slot.stripes;
  if (uint64_t{slot.key_offset_sector} * 512 + split_bytes > area_bytes_)
    return corrupt("Keyslot " + std::to_string(index) +
                   " key material lies beyond the end of the LUKS area");
  AMBER_TRY(random_bytes(slot.salt));
  const uint64_t iter_time = o.iter_time_ms.value_or(kDefaultIterTimeMs);
  AMBER_TRY_ASSIGN(uint64_t rate, pbkdf2_iterations_per_second(params_.hash, password->span(),
                                                               slot.salt, next.key_bytes));
  if (iter_time != 0 && rate > UINT64_MAX / iter_time)
    return Error(ErrorKind::kOutOfRange, "PBKDF iterations " + std::to_string(rate) +
                                             " too large to scale: Numerical result out of "
                                             "range" +
                                             hint);
  const uint64_t iters = rate * iter_time / 1000;
  if (iters > 0xffffffffu)
    return Error(ErrorKind::kOutOfRange, "PBKDF iterations " + std::to_string(iters) +
                                             " larger than 4294967295: Numerical result out "
                                             "of range" +
                                             hint);
  slot.iterations = static_cast<uint32_t>(std::max<uint64_t>(iters, kMinSlotIters));

  SecretBytes slot_key(next.key_bytes);
  AMBER_TRY(pbkdf2(params_.hash, password->span(), slot.salt, slot.iterations, slot_key.span()));
  SecretBytes material(split_bytes);
  AMBER_TRY(afsplit_encode(params_.hash, master.span(), slot.stripes, material.span()));
  AMBER_TRY_ASSIGN(auto slot_cipher, SectorCipher::make(params_.cipher, slot_key.span()));
  AMBER_TRY(slot_cipher->encrypt(0, material.data(), split_bytes));
  // The key material first, durably: until the header names the slot
  // active, a crash leaves the image as it was.
  AMBER_TRY(io::write_exact(file, base + uint64_t{slot.key_offset_sector} * 512, material.data(),
                            split_bytes));
  AMBER_TRY(file.flush());
  slot.active = kLuksSlotActive;
  const LuksHeader before = header_;
  header_ = next;
  if (auto r = store_header(file, base); !r.ok()) {
    header_ = before;
    return r;
  }
  return ok();
}

// qcrypto_block_luks_erase_key: the header first (the slot inactive, its
// salt and iterations zero), then the key material overwritten with
// random bytes, as QEMU does even when the header write failed.
Result<void> LuksVolume::erase_slot(io::File& file, uint64_t base, unsigned index) {
  LuksSlot& slot = header_.slots[index];
  const size_t split_bytes = size_t{header_.key_bytes} * slot.stripes;
  slot.salt.fill(0);
  slot.iterations = 0;
  slot.active = kLuksSlotDisabled;
  auto stored = store_header(file, base);
  const uint64_t offset = base + uint64_t{slot.key_offset_sector} * 512;
  if (offset - base + split_bytes > area_bytes_) return stored;
  std::vector<uint8_t> garbage(split_bytes, 0);
  for (unsigned i = 0; i < kEraseIterations; ++i) {
    if (auto r = random_bytes(garbage); !r.ok() && i > 0) return r;
    AMBER_TRY(io::write_exact(file, offset, garbage.data(), split_bytes));
  }
  AMBER_TRY(file.flush());
  return stored;
}

// qcrypto_block_luks_amend_erase_keyslots.
Result<void> LuksVolume::erase_slots(io::File& file, uint64_t base, const LuksAmendOptions& o) {
  if (o.new_secret) return amend_error("'new-secret' must not be given when erasing keyslots");
  if (o.iter_time_ms) return amend_error("'iter-time' must not be given when erasing keyslots");
  std::shared_ptr<const SecretBytes> old_password;
  if (o.old_secret) {
    AMBER_TRY_ASSIGN(old_password, o.lookup(*o.old_secret));
  }
  if (o.keyslot) {
    const int index = static_cast<int>(static_cast<int32_t>(static_cast<uint64_t>(*o.keyslot)));
    if (index < 0 || index >= static_cast<int>(kLuksSlots))
      return amend_error("Invalid keyslot " + std::to_string(index) +
                         " specified, must be between 0 and " + std::to_string(kLuksSlots - 1));
    const unsigned i = static_cast<unsigned>(index);
    if (old_password) {
      AMBER_TRY_ASSIGN(auto key, load_key(file, base, header_, params_, i, *old_password));
      if (!key)
        return amend_error("Given keyslot " + std::to_string(index) +
                           " doesn't contain the given old password for erase operation");
    }
    if (!o.force && !slot_active(header_, i))
      return amend_error("Given keyslot " + std::to_string(index) +
                         " is already erased (inactive) ");
    if (!o.force && count_active(header_) == 1)
      return amend_error("Attempt to erase the only active keyslot " + std::to_string(index) +
                         " which will erase all the data in the image irreversibly - refusing "
                         "operation");
    if (auto r = erase_slot(file, base, i); !r.ok())
      return Error(r.error().kind(),
                   r.error().message() + "\nFailed to erase keyslot " + std::to_string(index));
    return ok();
  }
  if (!old_password)
    return amend_error(
        "To erase keyslot(s), either explicit keyslot index or the password currently contained "
        "in them must be given");
  std::array<bool, kLuksSlots> matches{};
  unsigned matched = 0;
  for (unsigned i = 0; i < kLuksSlots; ++i) {
    AMBER_TRY_ASSIGN(auto key, load_key(file, base, header_, params_, i, *old_password));
    matches[i] = key.has_value();
    matched += matches[i] ? 1 : 0;
  }
  if (matched == 0)
    return amend_error("No keyslots match given (old) password for erase operation");
  if (!o.force && matched == count_active(header_))
    return amend_error(
        "All the active keyslots match the (old) password that was given and erasing them will "
        "erase all the data in the image irreversibly - refusing operation");
  for (unsigned i = 0; i < kLuksSlots; ++i) {
    if (!matches[i]) continue;
    if (auto r = erase_slot(file, base, i); !r.ok())
      return Error(r.error().kind(),
                   r.error().message() + "\nFailed to erase keyslot " + std::to_string(i));
  }
  return ok();
}

}  // namespace amber::block::crypto
