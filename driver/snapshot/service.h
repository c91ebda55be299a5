// SPDX-License-Identifier: GPL-2.0-or-later
// Service: internal snapshots of a stopped domain's qcow2 disks, with
// libvirt's metadata (driver/snapshot/store.h) beside them. Each snapshot
// is a qcow2 internal snapshot named as the libvirt snapshot in every
// qcow2 disk of the domain (what libvirt's QEMU driver does for an
// offline snapshot, so `qemu-img snapshot -l` shows them and a disk moved
// to QEMU keeps them); revert applies it on each disk, delete removes it.
//
// Refusals: a running domain (kLocked: live snapshots need a memory
// state, not there yet), flags Amber does not do (kInvalidArgument
// naming them), --disk-only and external snapshots, a raw or volume disk
// (kUnsupported, "unsupported configuration: ..."), a disk whose image is
// locked by another user (kLocked). The disks change all or none: a disk
// that fails midway makes the ones already done undo their part.
//
// Thread-safety: every method may be called from any thread; one mutex
// serialises the operations that change disks (they are rare and short).
#pragma once

#include <mutex>
#include <string>
#include <string_view>

#include "common/result.h"
#include "driver/snapshot/store.h"
#include "driver/vm/manager.h"

namespace amber::driver::snapshot {

class Service {
 public:
  Service(vm::Manager& manager, Store& store) : manager_(manager), store_(store) {}

  Store& store() { return store_; }
  // The domain's name (the key of the store) from its UUID.
  Result<std::string> domain_name(const xml::Uuid& uuid);

  // VIR_DOMAIN_SNAPSHOT_CREATE_* flags; returns the snapshot's name.
  Result<std::string> create(const xml::Uuid& uuid, std::string_view xml, unsigned flags);
  // VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING / _PAUSED start the domain after.
  Result<void> revert(const xml::Uuid& uuid, const std::string& name, unsigned flags);
  // VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN / _CHILDREN_ONLY / _METADATA_ONLY.
  Result<void> remove(const xml::Uuid& uuid, const std::string& name, unsigned flags);

 private:
  vm::Manager& manager_;
  Store& store_;
  std::mutex mutex_;
};

}  // namespace amber::driver::snapshot
