// SPDX-License-Identifier: GPL-2.0-or-later
// --object secret,... and --image-opts parsing (see image_args.h).
#include "block/tool/image_args.h"

#include <algorithm>
#include <fstream>
#include <iterator>

#include "block/json_name.h"
#include "block/tool/command.h"
#include "block/tool/options.h"

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

}  // namespace

Result<void> Secrets::add_object(std::string_view spec) {
  AMBER_TRY_ASSIGN(std::vector<KeyValue> list, parse_option_list(spec));
  if (list.empty() || list[0].value != "on") return invalid("Parameter 'qom-type' is missing");
  if (list[0].key != "secret")
    return Error(ErrorKind::kUnsupported,
                 "Object type '" + list[0].key + "' is not supported (only 'secret')");
  std::string id, file;
  std::optional<std::string> data;
  for (size_t i = 1; i < list.size(); ++i) {
    const KeyValue& kv = list[i];
    if (kv.key == "id") {
      id = kv.value;
    } else if (kv.key == "data") {
      data = kv.value;
    } else if (kv.key == "file") {
      file = kv.value;
    } else if (kv.key == "format") {
      if (kv.value != "raw")
        return Error(ErrorKind::kUnsupported, "secret format '" + kv.value + "' is not supported");
    } else {
      return invalid("Property 'secret." + kv.key + "' not found");
    }
  }
  if (id.empty()) return invalid("Parameter 'id' is missing");
  if (data && !file.empty()) return invalid("'data' and 'file' are mutually exclusive");
  if (!data && file.empty()) return invalid("Either 'data' or 'file' must be provided");
  if (secrets_.count(id) != 0)
    return invalid("attempt to add duplicate property '" + id + "' to object (type 'objects')");
  std::string text;
  if (data) {
    text = std::move(*data);
  } else {
    AMBER_TRY_ASSIGN(text, read_secret_file(file));
  }
  secrets_[id] = std::make_shared<const crypto::SecretBytes>(text);
  crypto::wipe(text.data(), text.size());
  for (KeyValue& kv : list) crypto::wipe(kv.value.data(), kv.value.size());
  return ok();
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
