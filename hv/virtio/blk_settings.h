// SPDX-License-Identifier: GPL-2.0-or-later
// blk_settings.h: the settings of one virtio-blk disk, as the VM builder
// hands them over (BlkConfig: how to open the image) and as the device
// uses them (BlkOptions: what the guest is offered).
//
// Plain values; no state, safe to copy between threads.
#pragma once

#include <optional>
#include <string>

#include "block/image.h"
#include "hv/virtio/blk_io_error.h"

namespace amber::hv::virtio {

// Whether the guest may write the disk (RO feature bit, no image writes).
enum class DiskAccess { kReadWrite, kReadOnly };

// Device-level options (everything that is not about opening the file).
struct BlkOptions {
  // Number of request queues (VIRTIO_BLK_F_MQ when > 1); 1..kMaxQueues.
  unsigned queues = 1;
  // kUnmap offers DISCARD and WRITE_ZEROES to the guest; kIgnore offers
  // neither (QEMU's discard=ignore, the libvirt default).
  block::DiscardMode discard = block::DiscardMode::kIgnore;
  DiskAccess access = DiskAccess::kReadWrite;
  // GET_ID answer; at most 20 bytes are used (longer is truncated).
  std::string serial;
  // What a host I/O error does (blk_io_error.h), QEMU's defaults:
  // werror=enospc for writes, flushes, discards and write-zeroes,
  // rerror=report for reads.
  BlkErrorPolicy write_error = BlkErrorPolicy::kEnospc;
  BlkErrorPolicy read_error = BlkErrorPolicy::kReport;
};

// Everything the builder knows from the domain definition.
struct BlkConfig {
  std::string path;
  std::optional<block::ImageFormat> format;  // empty: probe
  block::io::CacheMode cache = block::io::CacheMode::kWriteback;
  block::io::AioBackend aio = block::io::AioBackend::kThreads;
  BlkOptions options;
  // The passphrase of an encrypted image; null: none.
  std::shared_ptr<const block::crypto::SecretBytes> passphrase;
};

}  // namespace amber::hv::virtio
