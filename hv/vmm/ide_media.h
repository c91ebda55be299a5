// SPDX-License-Identifier: GPL-2.0-or-later
// The IDE drives as the control socket sees them: their ids (libvirt's
// device aliases, "ide0-BUS-UNIT": hdc is "ide0-1-0"), query-block rows, and
// the removable-media commands (eject, blockdev-change-medium) with QEMU's
// error texts. A new medium opens through the block engine read-only, with
// the cache mode and image locking of the --ide drive it goes into.
//
// Thread-safety: call from the control thread only (the handles' paths are
// its state); the bus calls take the bus's own mutex.
#pragma once

#include <string>

#include "block/io/file.h"
#include "common/result.h"
#include "hv/devices/ide_bus.h"
#include "hv/virtio/blk_stats.h"
#include "vmmctl/commands.h"

namespace amber::hv::vmm {

struct IdeDriveHandle {
  std::string id;  // "ide0-1-0"
  unsigned bus = 0, unit = 0;
  bool cdrom = false;
  std::string path;  // the current medium; empty: none
  block::io::CacheMode cache = block::io::CacheMode::kWriteback;
  devices::IdeBus* ide_bus = nullptr;  // owned by the machine
};

std::string ide_drive_id(unsigned bus, unsigned unit);
// query-block's counters of any disk (virtio-blk, IDE, SCSI).
void set_block_counters(vmmctl::BlockInfo& info, const virtio::BlkStats& stats);
// IDE function 00:01.1: slot 1.
vmmctl::BlockInfo ide_block_info(const IdeDriveHandle& drive);
Result<void> ide_eject(IdeDriveHandle& drive, bool force);
Result<void> ide_change_medium(IdeDriveHandle& drive, const vmmctl::ChangeMediumRequest& request);

}  // namespace amber::hv::vmm
