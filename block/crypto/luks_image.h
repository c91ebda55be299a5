// SPDX-License-Identifier: GPL-2.0-or-later
// LuksImage: a raw LUKS1 volume as QEMU's "luks" block driver
// (block/crypto.c) presents it: the guest disk is the payload after the
// header and key material, 512-byte sectors numbered from the payload's
// start, encrypted with the volume's cipher.
//
// discard is ignored (as QEMU's crypto driver, which has none);
// write_zeroes writes encrypted zeros; block_status reports data with no
// raw-readable offset.
//
// Thread-safety: as Image (block/image.h).
#pragma once

#include <memory>

#include "block/create.h"
#include "block/image.h"

namespace amber::block::crypto {

Result<std::unique_ptr<Image>> open_luks_image(std::unique_ptr<io::File> file,
                                               const OpenOptions& options);
Result<void> create_luks_image(const std::string& path, const CreateOptions& options);

// qemu-img amend on a raw LUKS image opened by open_luks_image (with its
// passphrase): key slots added or erased (LuksVolume::amend).
struct LuksAmendOptions;
Result<void> amend_luks_image(Image& image, const LuksAmendOptions& options);

// The LUKS block of `info` from a volume's header.
struct LuksHeader;
LuksInfo luks_info(const LuksHeader& header);

}  // namespace amber::block::crypto
