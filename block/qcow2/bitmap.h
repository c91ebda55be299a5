// SPDX-License-Identifier: GPL-2.0-or-later
// qcow2 persistent dirty bitmaps: reads the bitmap directory that header
// extension 0x23852875 points to, for `info` (name, granularity, flags).
// Amber does not maintain bitmaps; a read-write open clears the bitmaps
// autoclear bit (image.cpp), which tells QEMU they are stale.
//
// Thread-safety: a free function; reads `file` only.
#pragma once

#include <vector>

#include "block/image.h"
#include "block/io/file.h"
#include "block/qcow2/header.h"
#include "common/result.h"

namespace amber::block::qcow2 {

// The bitmaps of `header`'s extension, in directory order; empty without
// the extension or without the bitmaps autoclear bit (QEMU then treats them
// as inconsistent and lists none). A malformed extension or directory is
// kCorrupt with QEMU's wording.
Result<std::vector<BitmapInfo>> read_bitmap_list(io::File& file, const Header& header);

}  // namespace amber::block::qcow2
