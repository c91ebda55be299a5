// SPDX-License-Identifier: GPL-2.0-or-later
// <os>: type hvm, arch x86_64, machine pc / pc-i440fx-*, boot order,
// bootmenu, loader, smbios mode, and direct kernel boot.
#include "xml/domain/family.h"

namespace amber::xml::family {

Result<void> parse_os(const Node& root, OsConfig& os) {
  AMBER_TRY_ASSIGN(auto node, root.unique_child("os"));
  if (!node) return xml_error("missing /domain/os");
  AMBER_TRY_ASSIGN(auto type, node->unique_child("type"));
  if (!type) return xml_error("missing /domain/os/type");
  if (type->text() != "hvm") return xml_error("/domain/os/type must be 'hvm'");
  if (auto arch = type->attribute("arch")) os.arch = *arch;
  if (auto machine = type->attribute("machine")) os.machine = *machine;
  for (const Node& boot : node->children("boot")) {
    AMBER_TRY_ASSIGN(auto dev, attribute_in(boot, "dev", {"hd", "cdrom"}));
    if (!dev) return xml_error("missing attribute " + boot.path() + "/@dev");
    os.boot.push_back(*dev == "cdrom" ? BootDevice::kCdrom : BootDevice::kHd);
  }
  AMBER_TRY_ASSIGN(auto menu, node->unique_child("bootmenu"));
  if (menu) {
    AMBER_TRY_ASSIGN(os.bootmenu, menu->attribute_bool("enable"));
    AMBER_TRY_ASSIGN(os.bootmenu_timeout_ms, menu->attribute_uint("timeout"));
    if (!os.bootmenu) return xml_error("missing attribute /domain/os/bootmenu/@enable");
  }
  AMBER_TRY_ASSIGN(auto loader, node->unique_child("loader"));
  if (loader) {
    os.loader = loader->text();
    AMBER_TRY_ASSIGN(os.loader_readonly, loader->attribute_bool("readonly"));
    AMBER_TRY_ASSIGN(os.loader_type, attribute_in(*loader, "type", {"rom"}));
  }
  AMBER_TRY_ASSIGN(auto smbios, node->unique_child("smbios"));
  if (smbios) {
    AMBER_TRY_ASSIGN(os.smbios_mode, attribute_in(*smbios, "mode", {"emulate", "host", "sysinfo"}));
    if (!os.smbios_mode) return xml_error("missing attribute /domain/os/smbios/@mode");
  }
  for (auto [name, field] : {std::pair{"kernel", &os.kernel}, std::pair{"initrd", &os.initrd},
                             std::pair{"cmdline", &os.cmdline}}) {
    AMBER_TRY_ASSIGN(auto element, node->unique_child(name));
    if (element) *field = element->text();
  }
  return ok();
}

void format_os(const OsConfig& os, Element& root) {
  Element& node = root.add("os");
  node.add("type").attr("arch", os.arch).attr("machine", os.machine).text("hvm");
  if (os.loader) {
    Element& loader = node.add("loader");
    if (os.loader_readonly) loader.attr("readonly", yes_no(*os.loader_readonly));
    loader.attr("type", os.loader_type);
    loader.text(*os.loader);
  }
  if (os.kernel) node.add_text("kernel", *os.kernel);
  if (os.initrd) node.add_text("initrd", *os.initrd);
  if (os.cmdline) node.add_text("cmdline", *os.cmdline);
  for (BootDevice dev : os.boot)
    node.add("boot").attr("dev", dev == BootDevice::kCdrom ? "cdrom" : "hd");
  if (os.bootmenu) {
    node.add("bootmenu")
        .attr("enable", yes_no(*os.bootmenu))
        .attr("timeout", os.bootmenu_timeout_ms);
  }
  if (os.smbios_mode) node.add("smbios").attr("mode", *os.smbios_mode);
}

}  // namespace amber::xml::family
