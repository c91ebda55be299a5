// SPDX-License-Identifier: GPL-2.0-or-later
// <serial type='pty'> and <console type='pty'> with <log file append>.
#include "xml/domain/devices.h"

namespace amber::xml::family {

Result<CharDevice> parse_chardev(const Node& node) {
  CharDevice device;
  AMBER_TRY_ASSIGN(auto type, attribute_in(node, "type", {"pty"}));
  if (!type) return xml_error("missing attribute " + node.path() + "/@type");
  device.tty = node.attribute("tty");
  AMBER_TRY_ASSIGN(auto source, node.unique_child("source"));
  if (source) device.source_path = source->attribute("path");
  AMBER_TRY_ASSIGN(auto log, node.unique_child("log"));
  if (log) {
    CharLog l;
    AMBER_TRY_ASSIGN(l.file, log->required_attribute("file"));
    AMBER_TRY_ASSIGN(l.append, log->attribute_bool("append"));
    device.log = std::move(l);
  }
  AMBER_TRY_ASSIGN(auto target, node.unique_child("target"));
  if (target) {
    AMBER_TRY_ASSIGN(device.target_type, attribute_in(*target, "type", {"isa-serial", "serial"}));
    AMBER_TRY_ASSIGN(device.port, target->attribute_uint("port"));
    if (device.port && *device.port > 3)
      return xml_error("serial port " + std::to_string(*device.port) + " is over 3");
    AMBER_TRY_ASSIGN(auto model, target->unique_child("model"));
    if (model) {
      AMBER_TRY_ASSIGN(device.model, attribute_in(*model, "name", {"isa-serial"}));
    }
  }
  AMBER_TRY_ASSIGN(device.alias, parse_alias(node));
  return device;
}

void format_chardev(const CharDevice& device, std::string_view element, FormatFlags flags,
                    Element& devices) {
  const bool live = !has_flag(flags, FormatFlags::kInactive);
  Element& node = devices.add(std::string(element));
  node.attr("type", "pty");
  if (live) node.attr("tty", device.tty);
  if (live && device.source_path) node.add("source").attr("path", *device.source_path);
  if (device.log) {
    Element& log = node.add("log").attr("file", device.log->file);
    if (device.log->append) log.attr("append", on_off(*device.log->append));
  }
  if (device.target_type || device.port || device.model) {
    Element& target = node.add("target").attr("type", device.target_type).attr("port", device.port);
    if (device.model) target.add("model").attr("name", *device.model);
  }
  if (live && device.alias) node.add("alias").attr("name", *device.alias);
}

}  // namespace amber::xml::family
