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
// libvirt's USB controller of a pc machine: the PIIX3's UHCI function.
constexpr const char* kUsbModel = "piix3-uhci";
constexpr PciAddress kUhciAddress{0, 0, 1, 2};
// libvirt's usb2 controller set (ICH9 EHCI1 and its UHCI companions).
constexpr const char* kEhciModel = "ich9-ehci1";
constexpr const char* kCompanionModels[3] = {"ich9-uhci1", "ich9-uhci2", "ich9-uhci3"};

bool same_address(const PciAddress& a, const PciAddress& b) {
  return a.domain == b.domain && a.bus == b.bus && a.slot == b.slot && a.function == b.function;
}

// The implicit devices libvirt adds: a USB controller for USB inputs, and
// with a display the PS/2 mouse and keyboard and a VGA.
Result<void> add_implicit_devices(Devices& devices) {
  const auto has_controller = [&](std::string_view type) {
    return std::any_of(devices.controllers.begin(), devices.controllers.end(),
                       [&](const Controller& c) { return c.type == type; });
  };
  const bool usb_input = std::any_of(devices.inputs.begin(), devices.inputs.end(),
                                     [](const Input& i) { return i.bus == InputBus::kUsb; });
  if (usb_input && !has_controller("usb"))
    devices.controllers.push_back(
        Controller{"usb", 0, kUsbModel, std::nullopt, kUhciAddress, std::nullopt});
  if (usb_input) {
    for (const Controller& c : devices.controllers) {
      if (c.type == "usb" && c.model == "none")
        return Error(ErrorKind::kUnsupported,
                     "unsupported configuration: USB is disabled for this domain, but USB "
                     "devices are present in the domain XML");
    }
  }
  if (devices.graphics.empty()) return ok();
  const auto has_input = [&](InputType type) {
    return std::any_of(devices.inputs.begin(), devices.inputs.end(),
                       [&](const Input& i) { return i.type == type && i.bus == InputBus::kPs2; });
  };
  for (InputType type : {InputType::kMouse, InputType::kKeyboard}) {
    if (has_input(type)) continue;
    Input ps2;
    ps2.type = type;
    devices.inputs.push_back(ps2);
  }
  if (devices.videos.empty()) {
    Video vga;
    vga.vram_kib = 16384;
    vga.heads = 1;
    vga.primary = true;
    devices.videos.push_back(vga);
  }
  return ok();
}

// libvirt's usb2 set (what virt-install writes for Windows): ich9-ehci1
// and its companions ich9-uhci1..3 with <master startport='0|2|4'/>, all
// index 0, on one slot (EHCI function 7, UHCI 0..2) when addressed.
// amber-vmm builds exactly that set: a partial or odd one is refused.
Result<void> check_usb2_set(const std::vector<Controller>& controllers) {
  const auto refuse = [](const std::string& what) -> Result<void> {
    return Error(ErrorKind::kUnsupported,
                 "unsupported configuration: /domain/devices/controller[@type='usb']" + what);
  };
  const Controller* ehci = nullptr;
  const Controller* uhci[3] = {};
  bool piix = false;
  for (const Controller& c : controllers) {
    if (c.type != "usb") continue;
    if (c.model == kUsbModel) piix = true;
    if (c.model == kEhciModel) {
      if (ehci != nullptr) return refuse("[@model='ich9-ehci1'] (one EHCI only)");
      ehci = &c;
    }
    for (unsigned i = 0; i < 3; ++i) {
      if (c.model != kCompanionModels[i]) continue;
      if (uhci[i] != nullptr)
        return refuse("[@model='" + std::string(kCompanionModels[i]) + "'] (one of each only)");
      uhci[i] = &c;
      if (c.master_startport != 2 * i)
        return refuse("[@model='" + std::string(kCompanionModels[i]) +
                      "']/master/@startport (the companion of EHCI ports " + std::to_string(2 * i) +
                      "-" + std::to_string(2 * i + 1) + ": startport='" + std::to_string(2 * i) +
                      "')");
    }
  }
  const bool any = ehci != nullptr || uhci[0] || uhci[1] || uhci[2];
  if (!any) return ok();
  if (piix) return refuse(" (piix3-uhci and the ich9 usb2 set together: one USB bus only)");
  if (ehci == nullptr) return refuse(" (ich9-uhci companions without their ich9-ehci1)");
  for (unsigned i = 0; i < 3; ++i)
    if (uhci[i] == nullptr)
      return refuse("[@model='ich9-ehci1'] without its companion " +
                    std::string(kCompanionModels[i]) + " (amber-vmm builds the whole usb2 set)");
  if (ehci->index.value_or(0) != 0) return refuse("[@model='ich9-ehci1']/@index (one USB bus, 0)");
  for (unsigned i = 0; i < 3; ++i)
    if (uhci[i]->index.value_or(0) != 0)
      return refuse("[@model='" + std::string(kCompanionModels[i]) + "']/@index (one USB bus, 0)");
  if (!ehci->address) {
    for (unsigned i = 0; i < 3; ++i)
      if (uhci[i]->address)
        return refuse("[@model='" + std::string(kCompanionModels[i]) +
                      "']/address (give the ich9-ehci1 an address too)");
    return ok();
  }
  const PciAddress& a = *ehci->address;
  if (a.domain != 0 || a.bus != 0 || a.function != 7 || a.slot < 2 || a.slot > 31)
    return refuse("[@model='ich9-ehci1']/address (bus 0, function 7, slot 0x02..0x1f)");
  for (unsigned i = 0; i < 3; ++i) {
    const std::optional<PciAddress>& u = uhci[i]->address;
    if (!u || !same_address(*u, PciAddress{0, 0, a.slot, i}))
      return refuse("[@model='" + std::string(kCompanionModels[i]) +
                    "']/address (the EHCI's slot, function " + std::to_string(i) + ")");
  }
  return ok();
}

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
    } else if (controller.type == "usb") {
      // Other models and indexes: refused in unsupported.cpp.
      controller.model = c.attribute("model").value_or(kUsbModel);
      AMBER_TRY_ASSIGN(controller.address, parse_address(c));
      if (controller.model == kUsbModel) {
        if (controller.address && !same_address(*controller.address, kUhciAddress))
          return Error(ErrorKind::kUnsupported,
                       "unsupported configuration: /domain/devices/controller[@type='usb']/address "
                       "(the PIIX3 UHCI controller is at 0000:00:01.2)");
        controller.address = kUhciAddress;
      }
      AMBER_TRY_ASSIGN(auto master, c.unique_child("master"));
      if (master) {
        AMBER_TRY_ASSIGN(controller.master_startport, master->attribute_uint("startport"));
      }
    } else {
      AMBER_TRY_ASSIGN(controller.model, c.required_attribute("model"));
    }
    (void)c.child("alias");
    devices.controllers.push_back(std::move(controller));
  }
  AMBER_TRY(check_usb2_set(devices.controllers));
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
    devices.controllers.push_back(
        Controller{"ide", 0, "", std::nullopt, PciAddress{0, 0, 1, 1}, std::nullopt});
  // libvirt's QEMU driver would pick lsilogic for a pc machine's implicit
  // SCSI controller (qemuDomainDefaultSCSIControllerModel); amber-vmm has
  // no LSI HBA, only virtio-scsi, so that is the model Amber adds, and it
  // writes the model out so the stored XML says which one the guest sees.
  if (any_scsi && !has_controller("scsi"))
    devices.controllers.push_back(
        Controller{"scsi", 0, kScsiModel, std::nullopt, std::nullopt, std::nullopt});
  for (const Node& s : node->children("serial")) {
    AMBER_TRY_ASSIGN(CharDevice d, parse_chardev(s));
    devices.serials.push_back(std::move(d));
  }
  for (const Node& s : node->children("console")) {
    AMBER_TRY_ASSIGN(CharDevice d, parse_chardev(s));
    devices.consoles.push_back(std::move(d));
  }
  for (const Node& n : node->children("interface")) {
    AMBER_TRY_ASSIGN(Interface nic, parse_interface(n));
    devices.interfaces.push_back(std::move(nic));
  }
  for (const Node& n : node->children("input")) {
    AMBER_TRY_ASSIGN(Input input, parse_input(n));
    devices.inputs.push_back(std::move(input));
  }
  for (const Node& n : node->children("graphics")) {
    AMBER_TRY_ASSIGN(Graphics graphics, parse_graphics(n));
    devices.graphics.push_back(std::move(graphics));
  }
  for (const Node& n : node->children("video")) {
    AMBER_TRY_ASSIGN(Video video, parse_video(n));
    devices.videos.push_back(std::move(video));
  }
  AMBER_TRY(add_implicit_devices(devices));
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
    if (c.master_startport) controller.add("master").attr("startport", *c.master_startport);
    format_address(c.address, controller, c.model == kCompanionModels[0]);
  }
  for (const Interface& nic : devices.interfaces) format_interface(nic, flags, node);
  for (const CharDevice& s : devices.serials) format_chardev(s, "serial", flags, node);
  for (const CharDevice& s : devices.consoles) format_chardev(s, "console", flags, node);
  for (const Input& input : devices.inputs) format_input(input, flags, node);
  for (const Graphics& graphics : devices.graphics) format_graphics(graphics, flags, node);
  for (const Video& video : devices.videos) format_video(video, flags, node);
  if (devices.memballoon_none) node.add("memballoon").attr("model", "none");
}

}  // namespace amber::xml::family
