// SPDX-License-Identifier: GPL-2.0-or-later
// LUKS1 volumes as QEMU 7.2 writes and reads them (crypto/block-luks.c):
// the 592-byte big-endian header, 8 key slots whose key material is the
// master key AFsplit into 4000 stripes and encrypted with a PBKDF2-derived
// key, and the master-key digest that tells a right passphrase. Used by
// raw LUKS images (the area starts at file offset 0 and the payload
// follows it) and by qcow2 (the area is the clusters the full disk
// encryption header extension points to).
//
// Thread-safety: functions are reentrant; a LuksVolume is immutable after
// open/create and its cipher is safe for concurrent use. The master key
// lives only inside the SectorCipher (wiped on destruction).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "block/crypto/cipher.h"
#include "block/io/file.h"
#include "common/result.h"

namespace amber::block::crypto {

inline constexpr size_t kLuksHeaderBytes = 592;
inline constexpr unsigned kLuksSlots = 8;
inline constexpr uint32_t kLuksStripes = 4000;
inline constexpr uint32_t kLuksSlotActive = 0x00AC71F3;
inline constexpr uint32_t kLuksSlotDisabled = 0x0000DEAD;

struct LuksSlot {
  uint32_t active = kLuksSlotDisabled;
  uint32_t iterations = 0;
  std::array<uint8_t, 32> salt{};
  uint32_t key_offset_sector = 0;
  uint32_t stripes = kLuksStripes;
};

struct LuksHeader {
  std::string cipher_name;  // "aes"
  std::string cipher_mode;  // "xts-plain64", "cbc-essiv:sha256"
  std::string hash_spec;    // "sha256"
  uint32_t payload_offset_sector = 0;
  uint32_t key_bytes = 0;
  std::array<uint8_t, 20> mk_digest{};
  std::array<uint8_t, 32> mk_digest_salt{};
  uint32_t mk_digest_iterations = 0;
  std::string uuid;
  std::array<LuksSlot, kLuksSlots> slots;
};

// The header's cipher strings as QEMU's QAPI names (info shows these).
struct LuksParams {
  CipherSpec cipher;
  HashAlg hash = HashAlg::kSha256;
};

// Parses and validates the header as QEMU does (magic, version, slot
// geometry, overlaps, known cipher/mode/ivgen/hash and key size); every
// failure is a clear kCorrupt/kUnsupported error. (LuksVolume::open also
// checks every active slot's key material against the area's size.)
Result<LuksHeader> parse_luks_header(std::span<const uint8_t> bytes);
Result<LuksParams> luks_params(const LuksHeader& header);
std::vector<uint8_t> serialize_luks_header(const LuksHeader& header);

struct LuksCreateOptions {
  LuksParams params;
  // As qemu-img's iter-time: PBKDF2 runs about this long per unlock.
  uint64_t iter_time_ms = 2000;
  // When set, the slot and master-key digest iterations, instead of the
  // timing above (tests, which must not spend seconds benchmarking).
  std::optional<uint32_t> fixed_iterations;
};

// qemu-img amend's LUKS key slot options (QCryptoBlockAmendOptionsLUKS),
// parsed as QEMU parses them: `keyslot` is the 64-bit value the option
// string gave, cut to a C int as QEMU does; the secrets are ids looked up
// through `lookup` at the point QEMU looks them up (so a missing one is
// reported where qemu-img reports it).
struct LuksAmendOptions {
  bool activate = false;  // state=active (else inactive)
  std::optional<int64_t> keyslot;
  std::optional<std::string> new_secret, old_secret;  // secret ids
  std::optional<uint64_t> iter_time_ms;
  bool force = false;
  std::function<Result<std::shared_ptr<const SecretBytes>>(const std::string&)> lookup;
};

class LuksVolume {
 public:
  // Reads the header at `base` of `file`; with a passphrase, unlocks a key
  // slot ("Invalid password, cannot unlock any keyslot" otherwise). Without
  // one the volume is open for info only (cipher() is null).
  static Result<std::unique_ptr<LuksVolume>> open(io::File& file, uint64_t base,
                                                  uint64_t area_bytes,
                                                  const SecretBytes* passphrase);
  // Writes a new header and key slot 0 at `base`; the area is
  // payload_bytes() long afterwards.
  static Result<std::unique_ptr<LuksVolume>> create(io::File& file, uint64_t base,
                                                    const LuksCreateOptions& options,
                                                    const SecretBytes& passphrase);
  // Adds or erases key slots as QEMU 7.2's qcrypto_block_luks_amend_options:
  // `unlock` (the passphrase the image was opened with) gives the master
  // key. A new slot's key material is written and flushed before the
  // header that activates it; an erased slot's header goes first, then its
  // key material is overwritten with random bytes. Nothing outside the
  // header and the slots touched changes; keys are wiped after use.
  Result<void> amend(io::File& file, uint64_t base, const SecretBytes& unlock,
                     const LuksAmendOptions& options);

  // The header and key material size a new volume with these options has.
  static Result<uint64_t> area_size(const LuksParams& params);

  const LuksHeader& header() const { return header_; }
  const LuksParams& params() const { return params_; }
  uint64_t payload_bytes() const { return uint64_t{header_.payload_offset_sector} * 512; }
  const SectorCipher* cipher() const { return cipher_.get(); }

 private:
  Result<void> store_header(io::File& file, uint64_t base) const;
  Result<void> add_slot(io::File& file, uint64_t base, const SecretBytes& unlock,
                        const LuksAmendOptions& options);
  Result<void> erase_slots(io::File& file, uint64_t base, const LuksAmendOptions& options);
  Result<void> erase_slot(io::File& file, uint64_t base, unsigned index);

  LuksHeader header_;
  LuksParams params_;
  uint64_t area_bytes_ = 0;
  std::unique_ptr<SectorCipher> cipher_;
};

}  // namespace amber::block::crypto
