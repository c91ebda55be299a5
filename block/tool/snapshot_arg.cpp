// SPDX-License-Identifier: GPL-2.0-or-later
#include "block/tool/snapshot_arg.h"

#include "block/qcow2/qcow2.h"
#include "block/tool/options.h"

namespace amber::block::tool {

Result<void> parse_snapshot_arg(std::string_view arg, SnapshotSelector& selector) {
  if (!arg.starts_with("snapshot.")) {
    selector.id_or_name = std::string(arg);
    return ok();
  }
  // qemu-img's internal_snapshot_opts: snapshot.id and snapshot.name.
  auto list = parse_option_list(std::string(arg));
  if (!list.ok()) return list.error();
  std::optional<std::string> id, name;
  for (const auto& kv : *list) {
    if (kv.key == "snapshot.id") {
      id = kv.value;
    } else if (kv.key == "snapshot.name") {
      name = kv.value;
    } else {
      return Error(ErrorKind::kInvalidArgument, "Invalid parameter '" + kv.key +
                                                    "'\nFailed in parsing snapshot param '" +
                                                    std::string(arg) + "'");
    }
  }
  selector.options = true;
  selector.id = std::move(id);
  selector.name = std::move(name);
  return ok();
}

Result<void> load_selected_snapshot(Image& image, const SnapshotSelector& selector) {
  if (selector.options) return qcow2::load_snapshot_read_only(image, selector.id, selector.name);
  return qcow2::load_snapshot_read_only(image, *selector.id_or_name);
}

}  // namespace amber::block::tool
