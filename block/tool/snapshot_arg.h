// SPDX-License-Identifier: GPL-2.0-or-later
// qemu-img's -l argument (convert, measure): an internal snapshot named by
// ID or name, or by `snapshot.id=ID,snapshot.name=NAME`, loaded read-only in
// place of the image's active state.
//
// Thread-safety: plain values; used from one command's thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "block/image.h"
#include "common/result.h"

namespace amber::block::tool {

struct SnapshotSelector {
  bool options = false;  // the snapshot.id= / snapshot.name= form
  std::optional<std::string> id, name;
  std::optional<std::string> id_or_name;  // the plain form
  bool given() const { return options || id_or_name.has_value(); }
};

// Parses one -l value into `selector`: as in qemu-img, the last option
// string wins and beats any plain ID or name, else the last plain one
// does. A malformed
// option string gives qemu-img's two lines as the error's context.
Result<void> parse_snapshot_arg(std::string_view arg, SnapshotSelector& selector);

// Loads the selected snapshot into `image` (qcow2 only); the error's
// context is qemu's reason, which callers print after "Failed to load
// snapshot: ".
Result<void> load_selected_snapshot(Image& image, const SnapshotSelector& selector);

}  // namespace amber::block::tool
