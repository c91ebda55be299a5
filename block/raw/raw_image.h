// SPDX-License-Identifier: GPL-2.0-or-later
// RawImage: a raw disk image; guest offset == file offset.
//
// discard punches the range out of the file (writing zeros where the file
// system cannot punch), so it reads as zeros; block_status reports the
// file's holes (SEEK_HOLE) as zero and not data, as qemu-img map does.
//
// Thread-safety: as Image (block/image.h); the file does the locking.
#pragma once

#include <memory>

#include "block/image.h"

namespace amber::block::raw {

Result<std::unique_ptr<Image>> open(std::unique_ptr<io::File> file, const OpenOptions& options);
Result<void> create(const std::string& path, uint64_t size, Preallocation prealloc);

}  // namespace amber::block::raw
