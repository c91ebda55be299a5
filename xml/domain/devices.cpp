// SPDX-License-Identifier: GPL-2.0-or-later
// <devices>: emulator, disks, the implicit controllers Amber accepts,
// serial ports, consoles, memballoon model='none'. An IDE disk brings the
// implicit <controller type='ide' index='0'> (PIIX3, 0000:00:01.1) as on
// libvirt's pc machine, a SCSI disk <controller type='scsi' index='0'
// model='virtio-scsi'>; two disks on one drive address are refused.
#include "xml/domain/devices.h"

#include <algorithm>

namespace amber::xml::family {
namespace {

constexpr const char* kScsiModel = "virtio-scsi";

}  // namespace

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
    if (controller.type == "ide") {
      // No model (piix3 implied); refusals of index > 0 in unsupported.cpp.
      AMBER_TRY_ASSIGN(controller.address, parse_address(c));
      if (controller.address &&
          (controller.address->domain != 0 || controller.address->bus != 0 ||
           controller.address->slot != 1 || controller.address->function != 1))
        return Error(ErrorKind::kUnsupported,
                     "unsupported configuration: /domain/devices/controller[@type='ide']/address "
                     "(the PIIX3 IDE controller is at 0000:00:01.1)");
      controller.address = PciAddress{0, 0, 1, 1};
    } else if (controller.type == "scsi") {
      // Other models, indexes and queue counts: refused in unsupported.cpp.
      // The PCI address is checked against amber-vmm's slot at start.
      controller.model = c.attribute("model").value_or(kScsiModel);
      AMBER_TRY_ASSIGN(auto driver, c.unique_child("driver"));
      if (driver) {
        AMBER_TRY_ASSIGN(controller.queues, driver->attribute_uint("queues"));
      }
      AMBER_TRY_ASSIGN(controller.address, parse_address(c));
    } else {
      AMBER_TRY_ASSIGN(controller.model, c.required_attribute("model"));
    }
    (void)c.child("alias");
    devices.controllers.push_back(std::move(controller));
  }
  bool any_ide = false, any_scsi = false;
  for (size_t i = 0; i < devices.disks.size(); ++i) {
    const Disk& disk = devices.disks[i];
    if (!disk.drive_address) continue;
    (disk.bus == DiskBus::kScsi ? any_scsi : any_ide) = true;
    for (size_t j = 0; j < i; ++j) {
      if (devices.disks[j].bus == disk.bus &&
          devices.disks[j].drive_address == disk.drive_address) {
        const DriveAddress& a = *disk.drive_address;
        return xml_error("Found duplicate drive address for disk with target name '" +
                         disk.target_dev + "' controller='" + std::to_string(a.controller) +
                         "' bus='" + std::to_string(a.bus) + "' target='" +
                         std::to_string(a.target) + "' unit='" + std::to_string(a.unit) + "'");
      }
    }
  }
  const auto has_controller = [&](std::string_view type) {
    return std::any_of(devices.controllers.begin(), devices.controllers.end(),
                       [&](const Controller& c) { return c.type == type; });
  };
  if (any_ide && !has_controller("ide"))
    devices.controllers.push_back(Controller{"ide", 0, "", std::nullopt, PciAddress{0, 0, 1, 1}});
  // libvirt's QEMU driver would pick lsilogic for a pc machine's implicit
  // SCSI controller (qemuDomainDefaultSCSIControllerModel); amber-vmm has
  // no LSI HBA, only virtio-scsi, so that is the model Amber adds, and it
  // writes the model out so the stored XML says which one the guest sees.
  if (any_scsi && !has_controller("scsi"))
    devices.controllers.push_back(Controller{"scsi", 0, kScsiModel, std::nullopt, std::nullopt});
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
    Element& controller = node.add("controller").attr("type", c.type).attr("index", c.index);
    if (!c.model.empty()) controller.attr("model", c.model);
    if (c.queues) controller.add("driver").attr("queues", *c.queues);
    format_address(c.address, controller);
  }
  for (const CharDevice& s : devices.serials) format_chardev(s, "serial", flags, node);
  for (const CharDevice& s : devices.consoles) format_chardev(s, "console", flags, node);
  if (devices.memballoon_none) node.add("memballoon").attr("model", "none");
}

}  // namespace amber::xml::family
