// SPDX-License-Identifier: GPL-2.0-or-later
// The two ends of virsh vol-upload and vol-download on a volume's file:
// a StreamSink that writes an upload into PATH and a StreamSource that
// reads a download out of it (protocol/stream.h), with libvirt's semantics
// (storage_util.c virStorageBackendVolUploadLocal / DownloadLocal and
// virfdstream.c):
//   - the bytes are the file's own: a qcow2 volume moves its qcow2 file;
//   - OFFSET is where the transfer starts; LENGTH (0 = no limit) bounds
//     it: an upload longer than LENGTH writes what fits and then fails, a
//     download stops after LENGTH bytes or at the end of the file;
//   - an upload writes the bytes it is sent and nothing else: nothing is
//     truncated, and writing past the end grows the file, as libvirt does;
//   - with VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM a hole the client sends is
//     punched (the range reads as zeros, the host blocks are freed; past
//     the end the file grows). libvirt instead ftruncate()s the file to
//     the end of each hole, which would drop whatever follows the upload's
//     range; we keep it. On a block device a hole is written as zeros;
//   - with VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM the file's holes
//     (SEEK_DATA/SEEK_HOLE) go out as holes instead of zeros, and so does
//     each read chunk that is all zeros (libvirt sends those as data, so
//     a download of a fully allocated file was never sparse);
//   - an upload takes QEMU's image locks for writing (block/io/
//     image_lock.h) for as long as it runs, so a volume a running domain
//     (QEMU or amber-vmm) has open is refused with kLocked (the client
//     sees VIR_ERR_OPERATION_INVALID), and a domain cannot start on a
//     volume being uploaded into. A download takes no lock: libvirt lets
//     one read a volume in use;
//   - an upload's finish() fdatasync()s the file; its error is the stream's.
// At most kMaxOpenTransfers run at once in the daemon; more are refused.
//
// Thread-safety: open_* from any thread; each sink or source is used by one
// thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"
#include "driver/protocol/stream.h"

namespace amber::driver::storage {

// Each transfer holds an open file and, in the daemon, a thread.
inline constexpr size_t kMaxOpenTransfers = 64;

// `flags`: VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM or 0. The path must be a
// regular file or a block device that exists.
Result<std::unique_ptr<protocol::StreamSink>> open_upload(const std::string& path, uint64_t offset,
                                                          uint64_t length, unsigned flags);
// `flags`: VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM or 0.
Result<std::unique_ptr<protocol::StreamSource>> open_download(const std::string& path,
                                                              uint64_t offset, uint64_t length,
                                                              unsigned flags);

}  // namespace amber::driver::storage
