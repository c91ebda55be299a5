// SPDX-License-Identifier: GPL-2.0-or-later
// --object secret,... and --image-opts parsing (see image_args.h).
#include "block/tool/image_args.h"

#include <algorithm>
#include <fstream>
#include <iterator>

#include "block/json_name.h"
#include "block/tool/command.h"
#include "block/tool/options.h"
#include "common/base64.h"

namespace amber::block::tool {
namespace {

// A secret file larger than this is not a passphrase (and reading it
// whole would let a wrong path exhaust memory).
constexpr uint64_t kMaxSecretFileBytes = 1 << 20;

Error invalid(std::string message) {
  return Error(ErrorKind::kInvalidArgument, std::move(message));
}

Result<std::string> read_secret_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return invalid("Unable to read " + path + ": No such file or directory");
  std::string data;
  char buf[4096];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    data.append(buf, static_cast<size_t>(in.gcount()));
    if (data.size() > kMaxSecretFileBytes) {
      crypto::wipe(data.data(), data.size());
      return invalid("Secret file " + path + " is larger than 1 MiB");
    }
  }
  crypto::wipe(buf, sizeof buf);
  return data;
}

// QEMU's qbase64_decode then glib's g_base64_decode (common/base64.h's
// kGlib dialect), into wiping memory.
Result<crypto::SecretBytes> base64_decode_like_glib(const crypto::SecretBytes& in) {
  crypto::SecretBytes out(base64_decoded_bound(in.size()));
  AMBER_TRY_ASSIGN(
      const size_t n,
      base64_decode_into(std::span<const uint8_t>(in.data(), in.size()), Base64Dialect::kGlib,
                         std::span<uint8_t>(out.data(), out.size())));
  crypto::SecretBytes result(n);
  std::copy_n(out.data(), n, result.data());
  return result;
}

}  // namespace

Result<void> Secrets::add_object(std::string_view spec) {
  AMBER_TRY_ASSIGN(std::vector<KeyValue> list, parse_option_list(spec));
  // Every value is wiped when this returns, whichever way.
  struct WipeValues {
    std::vector<KeyValue>& list;
    ~WipeValues() {
      for (KeyValue& kv : list) crypto::wipe(kv.value.data(), kv.value.size());
    }
  } wipe_values{list};
  if (list.empty() || list[0].value != "on") return invalid("Parameter 'qom-type' is missing");
  if (list[0].key != "secret")
    return Error(ErrorKind::kUnsupported,
                 "Object type '" + list[0].key + "' is not supported (only 'secret')");
  std::string id, file;
  std::optional<std::string> data, keyid, iv;
  bool base64 = false;
  for (size_t i = 1; i < list.size(); ++i) {
    const KeyValue& kv = list[i];
    if (kv.key == "id") {
      id = kv.value;
    } else if (kv.key == "data") {
      data = kv.value;
    } else if (kv.key == "file") {
      file = kv.value;
    } else if (kv.key == "keyid") {
      keyid = kv.value;
    } else if (kv.key == "iv") {
      iv = kv.value;
    } else if (kv.key == "format") {
      if (kv.value != "raw" && kv.value != "base64")
        return invalid("Parameter 'format' does not accept value '" + kv.value + "'");
      base64 = kv.value == "base64";
    } else {
      return invalid("Parameter '" + kv.key + "' is unexpected");
    }
  }
  if (id.empty()) return invalid("Parameter 'id' is missing");
  if (data && !file.empty()) return invalid("'file' and 'data' are mutually exclusive");
  if (!data && file.empty()) return invalid("Either 'file' or 'data' must be provided");
  crypto::SecretBytes input;
  if (data) {
    input = crypto::SecretBytes(*data);
  } else {
    AMBER_TRY_ASSIGN(std::string text, read_secret_file(file));
    input = crypto::SecretBytes(text);
    crypto::wipe(text.data(), text.size());
  }
  crypto::SecretBytes value;
  if (keyid) {
    AMBER_TRY_ASSIGN(value, decrypt_secret(input, base64, *keyid, id, iv));
  } else if (base64) {
    AMBER_TRY_ASSIGN(value, base64_decode_like_glib(input));
  } else {
    value = std::move(input);
  }
  if (secrets_.count(id) != 0)
    return invalid("attempt to add duplicate property '" + id + "' to object (type 'objects')");
  secrets_[id] = std::make_shared<const crypto::SecretBytes>(std::move(value));
  return ok();
}

// QEMU's qcrypto_secret_decrypt: the data (base64 when format=base64) is
// AES-256-CBC ciphertext under the 32-byte value of secret `keyid`, with
// the base64 `iv`; the plaintext carries PKCS#7 padding, which is removed.
Result<crypto::SecretBytes> Secrets::decrypt_secret(const crypto::SecretBytes& input, bool base64,
                                                    const std::string& keyid, const std::string& id,
                                                    const std::optional<std::string>& iv) const {
  if (keyid == id) return invalid("Secret with id '" + id + "' has no data");
  AMBER_TRY_ASSIGN(Passphrase key, find(keyid));
  if (key->size() != 32) return invalid("Key should be 32 bytes in length");
  if (!iv) return invalid("IV is required to decrypt secret");
  AMBER_TRY_ASSIGN(crypto::SecretBytes iv_bytes,
                   base64_decode_like_glib(crypto::SecretBytes(std::string_view(*iv))));
  if (iv_bytes.size() != 16)
    return invalid("IV should be 16 bytes in length not " + std::to_string(iv_bytes.size()));
  crypto::SecretBytes text;
  if (base64) {
    AMBER_TRY_ASSIGN(text, base64_decode_like_glib(input));
  } else {
    text = input;
  }
  AMBER_TRY(crypto::aes256_cbc_decrypt(key->span(), iv_bytes.span(), text.span()));
  if (text.size() > 0) {
    const uint8_t pad = text.data()[text.size() - 1];
    if (pad > 16 || pad > text.size())
      return invalid("Incorrect number of padding bytes (" + std::to_string(pad) +
                     ") found on decrypted data");
    crypto::SecretBytes plain(text.size() - pad);
    std::copy_n(text.data(), plain.size(), plain.data());
    return plain;
  }
  return text;
}

Result<Passphrase> Secrets::find(const std::string& id) const {
  auto it = secrets_.find(id);
  if (it == secrets_.end()) return invalid("No secret with id '" + id + "'");
  return it->second;
}

Result<ImageRef> resolve_image(const std::string& arg, bool image_opts, const std::string& format,
                               const Secrets& secrets, SecretUse use) {
  ImageRef ref;
  if (!image_opts && is_json_name(arg)) {
    // The engine opens json: names itself; a malformed one is reported
    // when the command opens it, as qemu-img does.
    ref.name = ref.path = arg;
    AMBER_TRY_ASSIGN(ref.format, parse_format_option(format, arg));
    auto spec = parse_json_name(arg);
    if (spec.ok()) {
      ref.key_secret_key = spec->key_secret_key;
      ref.key_secret = spec->key_secret;
    }
    if (!spec.ok() || use != SecretUse::kUnlock) return ref;
    std::vector<std::string> ids = spec->backing_secrets;
    if (!spec->key_secret.empty()) ids.insert(ids.begin(), spec->key_secret);
    for (const std::string& id : ids) {
      auto value = secrets.find(id);
      if (!value.ok()) return invalid("Could not open '" + arg + "': " + value.error().message());
      if (!ref.passphrase) ref.passphrase = *value;
    }
    return ref;
  }
  if (!image_opts) {
    ref.name = arg;
    ref.path = host_path(arg);
    AMBER_TRY_ASSIGN(ref.format, parse_format_option(format, ref.path));
    return ref;
  }
  if (!format.empty()) return invalid("--image-opts and --format are mutually exclusive");
  AMBER_TRY_ASSIGN(std::vector<KeyValue> list, parse_option_list(arg));
  std::string driver, key_secret_key, key_secret;
  std::vector<std::string> backing_secrets;  // backing.[backing.]...(encrypt.)key-secret
  for (const KeyValue& kv : list) {
    std::string_view key = kv.key;
    bool below = false;
    while (key.starts_with("backing.")) {
      key.remove_prefix(8);
      below = true;
    }
    if (below && (key == "encrypt.key-secret" || key == "key-secret")) {
      backing_secrets.push_back(kv.value);
      continue;
    }
    if (kv.key == "driver") {
      driver = kv.value;
    } else if (kv.key == "file.filename" || kv.key == "file") {
      ref.path = kv.value;
    } else if (kv.key == "file.driver") {
      if (kv.value != "file")
        return Error(ErrorKind::kUnsupported,
                     "Protocol driver '" + kv.value + "' is not supported (only 'file')");
    } else if (kv.key == "encrypt.key-secret" || kv.key == "key-secret") {
      key_secret_key = kv.key;
      key_secret = kv.value;
    } else if (kv.key == "encrypt.format") {
      if (kv.value != "luks")
        return Error(ErrorKind::kUnsupported,
                     "encrypt.format '" + kv.value + "' is not supported (only 'luks')");
    } else {
      return invalid("Invalid parameter '" + kv.key + "'");
    }
  }
  if (ref.path.empty()) return invalid("A block device must be specified for \"file\"");
  ref.name = ref.path;
  ref.key_secret_key = key_secret_key;
  ref.key_secret = key_secret;
  if (!driver.empty()) {
    auto parsed = parse_format(driver);
    if (!parsed.ok()) return invalid("Unknown driver '" + driver + "'");
    ref.format = *parsed;
  }
  if (!key_secret.empty()) {
    // qcow2 names it encrypt.key-secret, the luks driver key-secret.
    const bool luks = ref.format == ImageFormat::kLuks;
    if (!ref.format || (luks != (key_secret_key == "key-secret")))
      return invalid("Invalid parameter '" + key_secret_key + "'");
    if (use == SecretUse::kUnlock) {
      AMBER_TRY_ASSIGN(ref.passphrase, secrets.find(key_secret));
    }
  }
  // The engine opens a chain with one passphrase: the backing levels'
  // secrets must hold the same value (or be the only one given).
  if (use == SecretUse::kUnlock) {
    for (const std::string& id : backing_secrets) {
      AMBER_TRY_ASSIGN(Passphrase value, secrets.find(id));
      if (!ref.passphrase) {
        ref.passphrase = value;
      } else if (ref.passphrase->size() != value->size() ||
                 !std::equal(value->data(), value->data() + value->size(),
                             ref.passphrase->data())) {
        return Error(ErrorKind::kUnsupported,
                     "backing files with a passphrase different from the image's are not "
                     "supported yet");
      }
    }
  }
  return ref;
}

void apply(const ImageRef& ref, OpenOptions& options) {
  options.format = ref.format;
  options.passphrase = ref.passphrase;
}

}  // namespace amber::block::tool
