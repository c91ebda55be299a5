// SPDX-License-Identifier: GPL-2.0-or-later
// json: pseudo file names (see json_name.h), checked in QEMU's order: the
// driver, then the protocol (file) level, then what needs the format.
//
// Thread-safety: no shared state.
#include "block/json_name.h"

#include <array>

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
      protocol_unknown.push_back(sub);
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
  for (const auto& [key, value] : options) {
    if (key == "driver" || key == "file" || key.starts_with("file.")) continue;
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
