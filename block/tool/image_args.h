// SPDX-License-Identifier: GPL-2.0-or-later
// qemu-img's --object and --image-opts for amber-img: the secret objects
// that carry passphrases (`secret,id=ID,data=TEXT` or `secret,id=ID,
// file=PATH`), and image option strings (`driver=qcow2,file.filename=X,
// encrypt.key-secret=ID`, `driver=luks,file.filename=X,key-secret=ID`)
// turned into what open_image needs.
//
// Thread-safety: plain values; used from one command's thread.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "block/crypto/cipher.h"
#include "block/image.h"
#include "common/result.h"

namespace amber::block::tool {

using Passphrase = std::shared_ptr<const crypto::SecretBytes>;

// The secrets given with --object, by id.
class Secrets {
 public:
  // Parses one --object value. Only qom-type "secret": id, one of
  // data/file, format=raw|base64, and keyid=ID,iv=BASE64 for a value
  // encrypted with an earlier secret (AES-256-CBC, as QEMU decrypts it).
  Result<void> add_object(std::string_view spec);
  // qemu's "No secret with id 'ID'" when there is none.
  Result<Passphrase> find(const std::string& id) const;

 private:
  Result<crypto::SecretBytes> decrypt_secret(const crypto::SecretBytes& input, bool base64,
                                             const std::string& keyid, const std::string& id,
                                             const std::optional<std::string>& iv) const;

  std::map<std::string, Passphrase> secrets_;
};

// An image named on the command line, resolved.
struct ImageRef {
  std::string name;  // as messages name it (the file name, or json:{...})
  std::string path;  // host path to open
  std::optional<ImageFormat> format;
  Passphrase passphrase;  // from (encrypt.)key-secret, if given
  // The top image's "encrypt.key-secret" / "key-secret" option and the
  // secret id it names (empty when none): qemu-img then names the image
  // with a json:{...} name (see display_name in block/json_name.h).
  std::string key_secret_key, key_secret;
};

// Whether a key-secret is looked up: info opens encrypted images without
// their key (qemu's BDRV_O_NO_IO), so it neither needs nor checks one.
enum class SecretUse { kUnlock, kIgnore };

// A plain file name with -f's value; or, with `image_opts`, an option
// string (then -f must be empty, as qemu-img insists).
Result<ImageRef> resolve_image(const std::string& arg, bool image_opts, const std::string& format,
                               const Secrets& secrets, SecretUse use = SecretUse::kUnlock);

// The ImageRef's format and passphrase into `options`.
void apply(const ImageRef& ref, OpenOptions& options);

}  // namespace amber::block::tool
