// SPDX-License-Identifier: GPL-2.0-or-later
// create_image: makes a new raw or qcow2 image file, as `qemu-img create`.
//
// Thread-safety: a free function with no shared state.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "block/image.h"

namespace amber::block {

enum class CompressionType { kZlib, kZstd };

// LUKS encryption of a new image (qcow2 encrypt.* or the luks format).
struct EncryptOptions {
  std::shared_ptr<const crypto::SecretBytes> passphrase;
  crypto::CipherSpec cipher;  // aes-256 xts plain64 by default, as QEMU
  crypto::HashAlg hash = crypto::HashAlg::kSha256;
  uint64_t iter_time_ms = 2000;
  // qcow2's legacy AES (crypt_method 1, encrypt.format=aes or the old
  // encryption=on): no header, the key is the passphrase; the LUKS fields
  // above are then unused.
  bool legacy_aes = false;
};

struct CreateOptions {
  ImageFormat format = ImageFormat::kRaw;
  // Virtual size; empty = take it from the backing file (qcow2 only).
  std::optional<uint64_t> size;
  std::string backing_file;                   // as it will be stored
  std::optional<ImageFormat> backing_format;  // -F / backing_fmt
  // -u: do not open the backing file (size must then be given).
  BackingMode backing_check = BackingMode::kOpen;
  // qcow2 options, QEMU's defaults.
  uint64_t cluster_size = 65536;
  unsigned version = 3;  // compat=1.1 -> 3, compat=0.10 -> 2
  bool extended_l2 = false;
  bool lazy_refcounts = false;
  unsigned refcount_bits = 16;
  CompressionType compression = CompressionType::kZlib;
  Preallocation preallocation = Preallocation::kOff;
  // qcow2 external data file (data_file=, created raw at the virtual
  // size; a relative name is relative to the working directory, as QEMU
  // 7.2) and data_file_raw= (autoclear bit 1, metadata preallocation).
  std::string data_file;
  bool data_file_raw = false;
  // Encrypt with LUKS (qcow2 crypt_method 2; required for kLuks).
  std::optional<EncryptOptions> encrypt;
};

// Creates (or truncates) `path`. Validates every option first and reports
// the first bad one with qemu-img's wording where it has one.
Result<void> create_image(const std::string& path, const CreateOptions& options);

}  // namespace amber::block
