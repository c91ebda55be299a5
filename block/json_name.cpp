// SPDX-License-Identifier: GPL-2.0-or-later
// json: pseudo file names (see json_name.h), checked in QEMU's order: the
// driver, then the protocol (file) level, then what needs the format.
//
// Thread-safety: no shared state.
#include "block/json_name.h"

#include <array>
#include <cctype>

#include "block/json_parse.h"

namespace amber::block {
namespace {

constexpr std::string_view kPrefix = "json:";

Error invalid(std::string message) {
  return Error(ErrorKind::kInvalidArgument, std::move(message));
}

// QEMU protocol drivers Amber does not have (others are unknown to QEMU too).
bool is_qemu_protocol(std::string_view name) {
  static constexpr std::array<std::string_view, 14> kNames = {
      "host_device", "host_cdrom", "nbd", "iscsi", "iser",    "rbd", "ssh",
      "http",        "https",      "ftp", "ftps",  "gluster", "nfs", "null-co"};
  for (std::string_view n : kNames)
    if (n == name) return true;
  return false;
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[(c >> 4) & 0xF];
      out += kHex[c & 0xF];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// QEMU's qapi_bool_parse: a JSON boolean, or on/yes/true/y, off/no/false/n.
Result<bool> option_bool(const std::string& key, const json::Value& value) {
  if (value.kind == json::Value::Kind::kBool) return value.boolean;
  if (value.is_string()) {
    for (std::string_view yes : {"on", "yes", "true", "y"})
      if (value.text == yes) return true;
    for (std::string_view no : {"off", "no", "false", "n"})
      if (value.text == no) return false;
  }
  return invalid("Parameter '" + key + "' expects 'on' or 'off'");
}

// A JSON scalar as QEMU's option parser sees it (its text).
std::string option_text(const json::Value& value) {
  if (value.kind == json::Value::Kind::kBool) return value.boolean ? "true" : "false";
  return value.text;
}

// QEMU's id_wellformed plus the 31-character node name limit.
Result<void> check_node_name(const std::string& name) {
  bool well_formed = !name.empty() && std::isalpha(static_cast<unsigned char>(name[0]));
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_')
      well_formed = false;
  }
  if (!well_formed) return invalid("Invalid node-name: '" + name + "'");
  if (name.size() > 31) return invalid("Node name too long");
  return ok();
}

// The file driver's options (QEMU's raw_runtime_opts) other than filename.
Result<bool> take_file_option(const std::string& sub, const json::Value& value,
                              JsonImageSpec& spec) {
  if (sub == "locking") {
    const std::string v = option_text(value);
    if (v == "off" || v == "false")
      spec.locking = Locking::kOff;
    else if (v == "on" || v == "auto" || v == "true")
      spec.locking = Locking::kOn;
    else
      return invalid("invalid parameter value: " + v);
    return true;
  }
  if (sub == "aio") {
    const std::string v = option_text(value);
    if (v == "io_uring")
      spec.aio = io::AioBackend::kIoUring;
    else if (v == "threads" || v == "native")
      spec.aio = io::AioBackend::kThreads;  // Linux AIO: Amber's threads serve it
    else
      return invalid("invalid parameter value: " + v);
    spec.aio_native = v == "native";
    return true;
  }
  if (sub == "aio-max-batch") {
    const std::string v = option_text(value);
    const bool number = value.kind == json::Value::Kind::kNumber ||
                        (!v.empty() && v.find_first_not_of("0123456789") == std::string::npos);
    if (!number) return invalid("Parameter 'aio-max-batch' expects a number");
    return true;
  }
  if (sub == "drop-cache" || sub == "x-check-cache-dropped") {
    AMBER_TRY(option_bool(sub, value));
    return true;
  }
  if (sub == "cache.direct" || sub == "cache.no-flush") {
    AMBER_TRY_ASSIGN(bool b, option_bool(sub, value));
    (sub == "cache.direct" ? spec.file_cache_direct : spec.cache_no_flush) = b;
    return true;
  }
  if (sub == "pr-manager")
    return invalid("No persistent reservation manager with id '" + option_text(value) + "'");
  return false;
}

// The general node options (QEMU's bdrv_runtime_opts and friends).
Result<bool> take_node_option(const std::string& key, const json::Value& value, JsonImageSpec& spec,
                              std::string& detect_zeroes) {
  if (key == "read-only" || key == "auto-read-only" || key == "force-share" ||
      key == "cache.direct" || key == "cache.no-flush") {
    AMBER_TRY_ASSIGN(bool b, option_bool(key, value));
    if (key == "read-only") spec.read_only = b;
    if (key == "force-share") spec.force_share = b;
    if (key == "cache.direct") spec.cache_direct = b;
    if (key == "cache.no-flush") spec.cache_no_flush = b;
    return true;
  }
  if (key == "node-name") {
    AMBER_TRY(check_node_name(option_text(value)));
    return true;
  }
  if (key == "discard") {
    const std::string v = option_text(value);
    if (v == "ignore" || v == "off")
      spec.discard = DiscardMode::kIgnore;
    else if (v == "unmap" || v == "on")
      spec.discard = DiscardMode::kUnmap;
    else
      return invalid("Invalid discard option");
    return true;
  }
  if (key == "detect-zeroes") {
    const std::string v = option_text(value);
    if (v != "off" && v != "on" && v != "unmap") return invalid("invalid parameter value: " + v);
    detect_zeroes = v;
    return true;
  }
  if (key == "backing" && value.kind == json::Value::Kind::kNull) {
    spec.no_backing = true;
    return true;
  }
  // A node name as the backing file: Amber has no named nodes. Kept as an
  // option too, so an opener that takes no backing file refuses it as
  // QEMU's does (info).
  if (key == "backing" && value.is_string()) spec.backing_node = value.text;
  return false;
}

}  // namespace

bool is_json_name(std::string_view name) {
  return name.starts_with(kPrefix);
}

Result<JsonImageSpec> parse_json_name(std::string_view name) {
  auto parsed = json::parse(name.substr(kPrefix.size()));
  if (!parsed.ok()) return invalid("Could not parse the JSON options: " + parsed.error().message());
  if (parsed->kind != json::Value::Kind::kObject) return invalid("Invalid JSON object given");
  const auto options = json::flatten(*parsed);

  JsonImageSpec spec;
  // The driver first (QEMU's bdrv_fill_options); a non-string one is
  // ignored as QEMU does.
  bool have_driver = false;
  for (const auto& [key, value] : options) {
    if (key != "driver" || !value.is_string()) continue;
    auto format = parse_format(value.text);
    if (!format.ok()) return invalid("Unknown driver '" + value.text + "'");
    spec.format = *format;
    have_driver = true;
  }
  // The protocol level: "file" and file.*.
  bool have_file_options = false, have_file_driver = false, have_filename = false;
  std::vector<std::string> protocol_unknown;
  for (const auto& [key, value] : options) {
    if (key == "file" && value.is_string())
      return invalid("Cannot find device='" + value.text + "' nor node-name='" + value.text + "'");
    if (!key.starts_with("file.")) continue;
    have_file_options = true;
    const std::string sub = key.substr(5);
    if (sub == "driver") {
      if (!value.is_string()) continue;
      if (value.text == "file") {
        have_file_driver = true;
      } else if (is_qemu_protocol(value.text)) {
        return Error(ErrorKind::kUnsupported,
                     "Protocol driver '" + value.text + "' is not supported (only 'file')");
      } else {
        return invalid("Unknown driver '" + value.text + "'");
      }
    } else if (sub == "filename") {
      if (!value.is_string()) continue;
      spec.filename = value.text;
      have_filename = true;
    } else {
      AMBER_TRY_ASSIGN(bool taken, take_file_option(sub, value, spec));
      if (!taken) protocol_unknown.push_back(sub);
    }
  }
  if (!have_file_options) {
    if (have_driver) return invalid("A block device must be specified for \"file\"");
    return invalid("Must specify either driver or file");
  }
  if (!have_filename) {
    if (have_file_driver) return invalid("The 'file' block driver requires a file name");
    return invalid("Must specify either driver or file");
  }
  if (spec.filename.find('\0') != std::string::npos || spec.filename.empty())
    return invalid("The 'file' block driver requires a file name");
  if (!protocol_unknown.empty())
    return invalid("Block protocol 'file' doesn't support the option '" + protocol_unknown[0] +
                   "'");
  // The format level.
  std::string detect_zeroes;
  for (const auto& [key, value] : options) {
    if (key == "driver" || key == "file" || key.starts_with("file.")) continue;
    AMBER_TRY_ASSIGN(bool general, take_node_option(key, value, spec, detect_zeroes));
    if (general) continue;
    std::string_view k = key;
    bool below = false;
    while (k.starts_with("backing.")) {
      k.remove_prefix(8);
      below = true;
    }
    if (below && value.is_string() && (k == "encrypt.key-secret" || k == "key-secret")) {
      spec.backing_secrets.push_back(value.text);
      continue;
    }
    if (!below && value.is_string() && (k == "encrypt.key-secret" || k == "key-secret")) {
      spec.key_secret_key = key;
      spec.key_secret = value.text;
    }
    if (key == "encrypt.format" && (!value.is_string() || value.text != "luks"))
      return Error(ErrorKind::kUnsupported, "encrypt.format is not supported (only 'luks')");
    spec.format_options.push_back(key);
  }
  if (spec.aio_native && !spec.direct().value_or(false))
    return invalid(
        "aio=native was specified, but it requires cache.direct=on, which was not specified.");
  if (detect_zeroes == "unmap" && spec.discard != DiscardMode::kUnmap)
    return invalid(
        "setting detect-zeroes to unmap is not allowed without setting discard operation to unmap");
  return spec;
}

Result<void> check_format_options(const JsonImageSpec& spec, ImageFormat format) {
  for (const std::string& key : spec.format_options) {
    const bool taken = (format == ImageFormat::kQcow2 &&
                        (key == "encrypt.key-secret" || key == "encrypt.format")) ||
                       (format == ImageFormat::kLuks && key == "key-secret");
    if (!taken)
      return invalid("Block format '" + std::string(to_string(format)) +
                     "' does not support the option '" + key + "'");
  }
  return ok();
}

Result<void> apply_json_options(const JsonImageSpec& spec, OpenOptions& options) {
  const bool writer = options.access == io::Access::kReadWrite;
  if (spec.read_only.value_or(false) && writer) return invalid("Block node is read-only");
  if (spec.force_share.value_or(false)) {
    if (writer) return invalid("force-share=on can only be used with read-only images");
    options.sharing = Sharing::kForceShare;
  }
  // cache.direct picks O_DIRECT (cache=none / directsync keep their
  // flushing); cache.no-flush turns flushes off (cache=unsafe). Amber has no
  // O_DIRECT mode without flushes, so direct=on,no-flush=on stays "none".
  using io::CacheMode;
  const std::optional<bool> direct = spec.direct();
  if (direct) {
    const bool sync =
        options.cache == CacheMode::kWritethrough || options.cache == CacheMode::kDirectSync;
    if (*direct)
      options.cache = sync ? CacheMode::kDirectSync : CacheMode::kNone;
    else if (options.cache == CacheMode::kNone || options.cache == CacheMode::kDirectSync)
      options.cache = sync ? CacheMode::kWritethrough : CacheMode::kWriteback;
  }
  if (spec.cache_no_flush.value_or(false) && !direct.value_or(false))
    options.cache = CacheMode::kUnsafe;
  if (spec.discard) options.discard = *spec.discard;
  if (spec.locking) options.locking = *spec.locking;
  if (spec.aio) options.aio = *spec.aio;
  if (spec.backing_node && options.backing == BackingMode::kOpen)
    return invalid("Could not open backing file: Cannot find device='" + *spec.backing_node +
                   "' nor node-name='" + *spec.backing_node + "'");
  if (spec.no_backing) options.backing = BackingMode::kDetached;
  return ok();
}

std::string display_name(const JsonImageSpec& spec, ImageFormat format) {
  if (spec.key_secret_key.empty()) return spec.filename;
  // QEMU regenerates the name from the options that matter, in its QDict's
  // hash order: qcow2's "encrypt.key-secret" comes before "driver", the
  // luks driver's "key-secret" after "file" (checked with qemu-img 7.2).
  const std::string secret = quote(spec.key_secret_key) + ": " + quote(spec.key_secret);
  const std::string rest =
      "\"driver\": " + quote(to_string(format)) +
      ", \"file\": {\"driver\": \"file\", \"filename\": " + quote(spec.filename) + "}";
  if (spec.key_secret_key == "key-secret") return "json:{" + rest + ", " + secret + "}";
  return "json:{" + secret + ", " + rest + "}";
}

}  // namespace amber::block
