// SPDX-License-Identifier: GPL-2.0-or-later
// open_host_file: opens an image's host file with the cache mode and takes
// QEMU-compatible locks for the access mode (see block/io/image_lock.h).
// Used by every format driver for the files of a chain.
//
// Thread-safety: a free function.
#pragma once

#include <memory>
#include <string>

#include "block/image.h"
#include "block/io/posix_file.h"

namespace amber::block {

Result<std::unique_ptr<io::PosixFile>> open_host_file(const std::string& path,
                                                      const OpenOptions& options);

// Opens (creating it if missing) the file a new image is written to and
// takes the write and resize locks as qemu-img create does, then empties
// it: an image another process has open is refused ('Failed to get
// "write" lock'), never reformatted.
Result<std::unique_ptr<io::PosixFile>> create_host_file(const std::string& path);

// Resolves a backing file name stored in `image_path` the way QEMU does:
// absolute names stay, relative ones are relative to the overlay's folder.
std::string resolve_backing_path(const std::string& image_path, const std::string& backing);

}  // namespace amber::block

namespace amber::block {

// Opens one level of a backing chain: `format` from the overlay's header
// extension, probed when empty. Used by overlay drivers (qcow2). Backing
// files are opened read-only and always through the host page cache (an
// overlay's cache=none / directsync applies to the overlay file only).
Result<std::unique_ptr<Image>> open_backing_image(const std::string& path,
                                                  std::optional<ImageFormat> format,
                                                  const OpenOptions& overlay_options,
                                                  unsigned depth);

}  // namespace amber::block
