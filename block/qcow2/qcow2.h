// SPDX-License-Identifier: GPL-2.0-or-later
// The qcow2 driver's entry points, called by block/image.cpp's dispatch.
// Everything else under block/qcow2/ is internal to the driver.
//
// Thread-safety: free functions; the returned Image is as block/image.h.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "block/check.h"
#include "block/create.h"
#include "block/crypto/luks.h"
#include "block/image.h"
#include "block/qcow2/bitmap.h"

namespace amber::block::qcow2 {

inline constexpr uint32_t kMagic = 0x514649fb;  // "QFI\xfb"

// Opens a qcow2 image on `file` (already opened and locked by the caller).
// `depth` is this image's level in a chain (0 = top), for the depth limit.
Result<std::unique_ptr<Image>> open(std::unique_ptr<io::File> file, const OpenOptions& options,
                                    unsigned depth);

Result<void> create(const std::string& path, const CreateOptions& options);

Result<CheckReport> check(const std::string& path, const CheckOptions& options);

// The check (and repair) of `check` on an already opened host file; the
// caller owns the file and its locks. Used by check() and by tests that
// keep images in memory.
Result<CheckReport> check_file(io::File& file, RepairMode repair);

// Internal snapshots of an open qcow2 image (block/qcow2/snapshot.h has
// the design and the crash-safety argument). The image must be opened
// read-write, and nobody may use it during the call. Errors carry QEMU's
// errno: ENOENT for a snapshot that is not there, ENOTSUP for an image
// without snapshots (raw), EFBIG for a full table.
// create: names need not be unique (as in qemu-img); the id is the next
// free number.
Result<SnapshotInfo> create_snapshot(Image& image, const std::string& name, uint32_t date_sec,
                                     uint32_t date_nsec);
// apply (qemu-img snapshot -a): by id, else by name; the disk size
// becomes the snapshot's.
Result<void> apply_snapshot(Image& image, const std::string& id_or_name);
// delete (qemu-img snapshot -d): by name only, as qemu-img looks it up.
Result<void> delete_snapshot(Image& image, const std::string& name);
// qemu-img convert -l: the read-only `image` reads as the snapshot from
// now on (QEMU's bdrv_snapshot_load_tmp). With both `id` and `name` the
// snapshot must match both, else the one given (neither: not found).
// ENOENT "Can't find snapshot"; ENOTSUP for other formats (QEMU's text).
Result<void> load_snapshot_read_only(Image& image, const std::optional<std::string>& id,
                                     const std::optional<std::string>& name);
// QEMU's bdrv_snapshot_load_tmp_by_id_or_name: by id, else by name.
Result<void> load_snapshot_read_only(Image& image, const std::string& id_or_name);
// The snapshot table in memory (empty for other formats).
std::vector<SnapshotInfo> list_snapshots(Image& image);

// commit's emptying of the overlay: every active cluster becomes
// unallocated (reads from the backing file); snapshots keep theirs.
Result<void> make_empty(Image& image);
// qemu-img amend -o compat=... / lazy_refcounts=... (Qcow2Image::amend_features).
Result<void> amend_features(Image& image, unsigned version, bool lazy_refcounts);
// qemu-img amend -o encrypt.state=...: LUKS key slots added or erased
// (Qcow2Image::amend_encryption).
Result<void> amend_encryption(Image& image, const crypto::LuksAmendOptions& options);
// qemu-img amend -o refcount_bits=N (Qcow2Image::change_refcount_order).
Result<void> change_refcount_bits(Image& image, unsigned bits);
// rebase's header change: backing file name as given (empty: none) and the
// backing format extension. Durable on return.
Result<void> set_backing_file(Image& image, const std::string& name,
                              std::optional<ImageFormat> format);

// Persistent dirty bitmaps (Qcow2Image::load_bitmaps / store_bitmaps):
// load is empty for other formats; store is ENOTSUP there.
Result<std::vector<StoredBitmap>> load_bitmaps(Image& image);
Result<void> store_bitmaps(Image& image, std::vector<StoredBitmap>& bitmaps);

}  // namespace amber::block::qcow2
