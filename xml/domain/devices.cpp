// SPDX-License-Identifier: GPL-2.0-or-later
// <devices>: emulator, disks, the implicit controllers Amber accepts,
// serial ports, consoles, memballoon model='none'.
#include "xml/domain/devices.h"

namespace amber::xml::family {

Result<void> parse_devices(const Node& root, Devices& devices) {
  AMBER_TRY_ASSIGN(auto node, root.unique_child("devices"));
  if (!node) return ok();
  AMBER_TRY_ASSIGN(auto emulator, node->unique_child("emulator"));
  if (emulator) devices.emulator = emulator->text();
  for (const Node& disk : node->children("disk")) {
    AMBER_TRY_ASSIGN(Disk d, parse_disk(disk));
    devices.disks.push_back(std::move(d));
  }
  for (const Node& c : node->children("controller")) {
    Controller controller;
    AMBER_TRY_ASSIGN(controller.type, c.required_attribute("type"));
    AMBER_TRY_ASSIGN(controller.index, c.attribute_uint("index"));
    AMBER_TRY_ASSIGN(controller.model, c.required_attribute("model"));
    (void)c.child("alias");
    devices.controllers.push_back(std::move(controller));
  }
  for (const Node& s : node->children("serial")) {
    AMBER_TRY_ASSIGN(CharDevice d, parse_chardev(s));
    devices.serials.push_back(std::move(d));
  }
  for (const Node& s : node->children("console")) {
    AMBER_TRY_ASSIGN(CharDevice d, parse_chardev(s));
    devices.consoles.push_back(std::move(d));
  }
  AMBER_TRY_ASSIGN(auto balloon, node->unique_child("memballoon"));
  if (balloon) {
    AMBER_TRY_ASSIGN(auto model, attribute_in(*balloon, "model", {"none"}));
    devices.memballoon_none = model.has_value();
  }
  return ok();
}

void format_devices(const Devices& devices, FormatFlags flags, Element& root) {
  Element& node = root.add("devices");
  if (devices.emulator) node.add_text("emulator", *devices.emulator);
  for (const Disk& disk : devices.disks) format_disk(disk, flags, node);
  for (const Controller& c : devices.controllers) {
    node.add("controller").attr("type", c.type).attr("index", c.index).attr("model", c.model);
  }
  for (const CharDevice& s : devices.serials) format_chardev(s, "serial", flags, node);
  for (const CharDevice& s : devices.consoles) format_chardev(s, "console", flags, node);
  if (devices.memballoon_none) node.add("memballoon").attr("model", "none");
}

}  // namespace amber::xml::family
