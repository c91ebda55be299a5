// SPDX-License-Identifier: GPL-2.0-or-later
// `json:{...}` pseudo file names (QEMU's): the image's options as a JSON
// object, e.g. json:{"driver":"qcow2","file":{"driver":"file",
// "filename":"a.qcow2"}} or with flattened keys {"file.filename":"a.qcow2"}.
// Users pass them on the command line and libvirt stores them as backing
// file names. The engine opens them itself (open_image, backing files);
// relative file names in them are relative to the working directory, as in
// QEMU. Supported options: driver (qcow2, raw, luks), file.filename,
// file.driver=file, encrypt.key-secret (qcow2), key-secret (luks),
// encrypt.format, backing.[...](encrypt.)key-secret, "backing": null (the
// backing file is not opened, unallocated data reads as zeros), the general
// node options read-only, auto-read-only, force-share, cache.direct,
// cache.no-flush, discard, detect-zeroes, node-name, and the file driver's
// locking, aio, aio-max-batch, drop-cache, x-check-cache-dropped (checked as
// QEMU checks them; those that change how the image is opened are applied
// by apply_json_options); anything else is refused with QEMU's messages.
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "block/image.h"
#include "common/result.h"

namespace amber::block {

bool is_json_name(std::string_view name);

struct JsonImageSpec {
  std::string filename;  // the host file (file.filename)
  std::optional<ImageFormat> format;
  std::string key_secret_key;                // "encrypt.key-secret" or "key-secret", if given
  std::string key_secret;                    // the secret's id
  std::vector<std::string> backing_secrets;  // backing.[...](encrypt.)key-secret ids
  // Options for the format layer that are checked once the format is known
  // (after probing): unknown ones there are refused by check_format_options.
  std::vector<std::string> format_options;
  // General node options; unset ones leave the opener's choice.
  std::optional<bool> read_only, force_share, cache_direct, cache_no_flush;
  std::optional<bool> file_cache_direct;  // file.cache.direct
  // O_DIRECT as the file node sees it: its own cache.direct, else the
  // format node's.
  std::optional<bool> direct() const {
    return file_cache_direct ? file_cache_direct : cache_direct;
  }
  bool aio_native = false;  // file.aio=native (served by threads)
  std::optional<DiscardMode> discard;
  std::optional<Locking> locking;  // file.locking (auto = on)
  std::optional<io::AioBackend> aio;
  bool no_backing = false;                  // "backing": null
  std::optional<std::string> backing_node;  // "backing": "NODE"
};

// Parses a json: name (with its "json:" prefix). Errors are QEMU's texts
// without the "Could not open 'NAME': " that callers put before them.
Result<JsonImageSpec> parse_json_name(std::string_view name);

// QEMU's "Block format 'qcow2' does not support the option 'x'" for what
// `format` does not take.
Result<void> check_format_options(const JsonImageSpec& spec, ImageFormat format);

// The spec's node options into `options` (how the image is opened). QEMU's
// "Block node is read-only" when a writer opens a read-only=on name, and
// "force-share=on can only be used with read-only images".
Result<void> apply_json_options(const JsonImageSpec& spec, OpenOptions& options);

// How qemu-img names an image opened from `spec` (info's "image:"): the
// plain file name when nothing but driver and file name were given, else
// QEMU's regenerated json: name.
std::string display_name(const JsonImageSpec& spec, ImageFormat format);

}  // namespace amber::block
