// SPDX-License-Identifier: GPL-2.0-or-later
// Store: the snapshot metadata of every domain, as libvirt's QEMU driver
// keeps it: DIR/DOMAIN/NAME.xml per snapshot (DIR is config_dir/snapshot),
// each file the snapshot's XML with the embedded inactive domain and
// <active>1</active> on the domain's current snapshot. Files are written
// atomically (driver/vm/store.h), so a crash leaves the old or the new one.
// The tree (parents, children, the current snapshot) lives in memory and
// is rebuilt from the files by open().
//
// Domains are named by their name (the file layout is by name); snapshot
// names have passed xml::check_snapshot_name.
//
// Errors: kNotFound "Domain snapshot not found: no domain snapshot with
// matching name 'NAME'" (VIR_ERR_NO_DOMAIN_SNAPSHOT), kLocked for a name
// already taken, kIo from the files.
//
// Thread-safety: every method may be called from any thread; one mutex
// guards the tree. Callers that change disks and metadata together
// serialise per domain themselves (driver/snapshot/service.h).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "xml/snapshot.h"

namespace amber::driver::snapshot {

Error snapshot_not_found(const std::string& name);

class Store {
 public:
  // Loads DIR/*/*.xml; a file that does not parse is skipped with a line
  // on stderr (one damaged file must not keep the daemon from starting).
  static Result<std::unique_ptr<Store>> open(const std::string& dir);

  // Every snapshot of DOMAIN, parents before children, siblings by
  // creation time then name. `active` is set on the current one.
  std::vector<xml::DomainSnapshot> list(const std::string& domain) const;
  size_t count(const std::string& domain) const;
  Result<xml::DomainSnapshot> find(const std::string& domain, const std::string& name) const;
  std::optional<std::string> current(const std::string& domain) const;
  // Names of the direct children of NAME (or every descendant).
  std::vector<std::string> children(const std::string& domain, const std::string& name,
                                    bool descendants) const;

  // Writes the new snapshot's file; with MAKE_CURRENT it becomes the
  // current one (and the previous current file is rewritten).
  Result<void> add(const std::string& domain, xml::DomainSnapshot snapshot, bool make_current);
  Result<void> set_current(const std::string& domain, const std::optional<std::string>& name);
  // Removes NAME's file; its children take its parent. When it was the
  // current one, its parent becomes current (libvirt's rule).
  Result<void> remove(const std::string& domain, const std::string& name);
  // Removes every file of DOMAIN (undefine --snapshots-metadata).
  Result<void> remove_all(const std::string& domain);

 private:
  explicit Store(std::string dir) : dir_(std::move(dir)) {}
  Result<void> write_locked(const std::string& domain, const xml::DomainSnapshot& snapshot);

  std::string dir_;
  mutable std::mutex mutex_;
  // domain -> snapshot name -> definition (`active` marks the current)
  std::map<std::string, std::map<std::string, xml::DomainSnapshot>> domains_;
};

}  // namespace amber::driver::snapshot
