// SPDX-License-Identifier: GPL-2.0-or-later
// <disk type='file|block|volume' device='disk|cdrom'> with driver, source,
// backingStore, target (virtio, ide or scsi), readonly, boot order, serial
// and a PCI (virtio) or drive (IDE, SCSI) address, derived from the target
// name when absent as libvirt does.
#include <cstdio>

#include "xml/domain/devices.h"

namespace amber::xml::family {
namespace {

// Deeper backing chains than this are not real linked clones; the bound
// keeps the recursion over hostile input short.
constexpr int kMaxBackingDepth = 64;

Result<DiskType> parse_type(const Node& node) {
  AMBER_TRY_ASSIGN(auto type, attribute_in(node, "type", {"file", "block"}));
  return type == "block" ? DiskType::kBlock : DiskType::kFile;
}

Result<std::optional<std::string>> parse_source(const Node& parent, DiskType type,
                                                std::optional<uint64_t>* index) {
  AMBER_TRY_ASSIGN(auto source, parent.unique_child("source"));
  if (!source) return std::optional<std::string>();
  if (index != nullptr) {
    AMBER_TRY_ASSIGN(*index, source->attribute_uint("index"));
  }
  return source->attribute(type == DiskType::kBlock ? "dev" : "file");
}

// <encryption> of a disk or of its <source>: a format and at most one
// passphrase secret, by uuid or by usage.
Result<std::optional<DiskEncryption>> parse_encryption(const Node& parent, bool in_source) {
  AMBER_TRY_ASSIGN(auto node, parent.unique_child("encryption"));
  if (!node) return std::optional<DiskEncryption>();
  DiskEncryption out;
  out.in_source = in_source;
  AMBER_TRY_ASSIGN(auto format, attribute_in(*node, "format", {"default", "qcow", "luks"}));
  if (!format) return xml_error("missing attribute format in " + node->path());
  out.format = *format;
  for (const Node& child : node->children()) {
    if (child.name() != "secret")
      return xml_error("<" + child.name() + "> in " + node->path() +
                       " is not supported (only <secret>)");
  }
  const auto secrets = node->children("secret");
  if (secrets.size() > 1) return xml_error("too many secrets in " + node->path());
  if (!secrets.empty()) {
    const Node& secret = secrets.front();
    AMBER_TRY_ASSIGN(auto type, secret.required_attribute("type"));
    if (type != "passphrase")
      return xml_error("unknown volume encryption secret type " + type + " in " + secret.path());
    out.secret_uuid = secret.attribute("uuid");
    out.secret_usage = secret.attribute("usage");
    if (out.secret_uuid.has_value() == out.secret_usage.has_value())
      return xml_error(secret.path() + " needs either a uuid or a usage");
    if (out.secret_uuid) {
      AMBER_TRY_ASSIGN(auto uuid, Uuid::parse(*out.secret_uuid));
      out.secret_uuid = uuid.to_string();
    }
  }
  return std::optional<DiskEncryption>(std::move(out));
}

void format_encryption(const DiskEncryption& encryption, Element& parent) {
  Element& node = parent.add("encryption");
  node.attr("format", encryption.format);
  if (encryption.secret_uuid || encryption.secret_usage) {
    node.add("secret")
        .attr("type", "passphrase")
        .attr("uuid", encryption.secret_uuid)
        .attr("usage", encryption.secret_usage);
  }
}

Result<void> parse_backing(const Node& parent, Disk& disk, int depth) {
  AMBER_TRY_ASSIGN(auto store, parent.unique_child("backingStore"));
  if (!store) return ok();
  if (depth >= kMaxBackingDepth)
    return xml_error("backing chain deeper than " + std::to_string(kMaxBackingDepth));
  if (!store->has_attribute("type") && store->raw_children().empty()) {
    disk.backing_terminated = true;
    return ok();
  }
  BackingLayer layer;
  AMBER_TRY_ASSIGN(layer.type, parse_type(*store));
  AMBER_TRY_ASSIGN(layer.index, store->attribute_uint("index"));
  AMBER_TRY_ASSIGN(auto format, store->unique_child("format"));
  if (format) layer.format = format->attribute("type");
  AMBER_TRY_ASSIGN(auto path, parse_source(*store, layer.type, nullptr));
  if (!path) return xml_error("missing source in " + store->path());
  layer.path = *path;
  disk.backing.push_back(std::move(layer));
  return parse_backing(*store, disk, depth + 1);
}

void format_backing(const Disk& disk, std::size_t i, Element& parent) {
  if (i == disk.backing.size()) {
    if (disk.backing_terminated) parent.add("backingStore");
    return;
  }
  const BackingLayer& layer = disk.backing[i];
  Element& store = parent.add("backingStore");
  store.attr("type", layer.type == DiskType::kBlock ? "block" : "file").attr("index", layer.index);
  if (layer.format) store.add("format").attr("type", *layer.format);
  store.add("source").attr(layer.type == DiskType::kBlock ? "dev" : "file", layer.path);
  format_backing(disk, i + 1, store);
}

std::string hex(uint64_t value, int width) {
  char out[24];
  std::snprintf(out, sizeof(out), "0x%0*llx", width, static_cast<unsigned long long>(value));
  return out;
}

Error unsupported(const std::string& message) {
  return Error(ErrorKind::kUnsupported, "unsupported configuration: " + message);
}

// libvirt's virDiskNameToIndex for PREFIX ("hd", "sd") names: hda -> 0,
// hdz -> 25, hdaa -> 26; nullopt for anything else.
std::optional<uint64_t> name_index(const std::string& dev, std::string_view prefix) {
  if (dev.size() < 3 || dev.size() > 7 || dev.compare(0, 2, prefix) != 0) return std::nullopt;
  uint64_t index = 0;
  for (size_t i = 2; i < dev.size(); ++i) {
    if (dev[i] < 'a' || dev[i] > 'z') return std::nullopt;
    index = (index + (i == 2 ? 0 : 1)) * 26 + static_cast<uint64_t>(dev[i] - 'a');
  }
  return index;
}

Result<std::optional<DriveAddress>> parse_drive_address(const Node& node) {
  DriveAddress a;
  AMBER_TRY_ASSIGN(auto controller, node.attribute_uint("controller"));
  AMBER_TRY_ASSIGN(auto bus, node.attribute_uint("bus"));
  AMBER_TRY_ASSIGN(auto target, node.attribute_uint("target"));
  AMBER_TRY_ASSIGN(auto unit, node.attribute_uint("unit"));
  a.controller = controller.value_or(0);
  a.bus = bus.value_or(0);
  a.target = target.value_or(0);
  a.unit = unit.value_or(0);
  return std::optional<DriveAddress>(a);
}

// The IDE address, checked as libvirt's domain and QEMU validation do
// (same messages).
Result<void> settle_ide(Disk& disk) {
  if (!disk.drive_address) {
    auto index = name_index(disk.target_dev, "hd");
    if (!index)
      return xml_error("Unknown disk name '" + disk.target_dev + "' and no address specified");
    disk.drive_address = DriveAddress{*index / 4, (*index % 4) / 2, 0, *index % 2};
  }
  const DriveAddress& a = *disk.drive_address;
  if (a.controller != 0) return unsupported("Only 1 IDE controller is supported");
  if (a.target != 0) return unsupported("target must be 0 for ide controller");
  if (a.bus > 1)
    return unsupported("IDE bus " + std::to_string(a.bus) + " of disk '" + disk.target_dev +
                       "' does not exist (the PIIX3 controller has buses 0 and 1)");
  if (a.unit > 1)
    return unsupported("IDE unit " + std::to_string(a.unit) + " of disk '" + disk.target_dev +
                       "' does not exist (an IDE bus has units 0 and 1)");
  return ok();
}

// The SCSI address: libvirt's virDomainDiskDefAssignAddress gives an "sd"
// name 7 units per controller on bus 0, target 0 (sda = 0/0/0/0, sdh =
// controller 1). amber-vmm has one virtio-scsi controller with one channel
// (bus), targets 0..255 and LUNs (libvirt's unit) 0..16383, as QEMU's
// virtio-scsi.
Result<void> settle_scsi(Disk& disk) {
  const std::string at = "/domain/devices/disk[target/@dev='" + disk.target_dev + "']";
  if (!disk.drive_address) {
    auto index = name_index(disk.target_dev, "sd");
    if (!index)
      return xml_error("Unknown disk name '" + disk.target_dev + "' and no address specified");
    disk.drive_address = DriveAddress{*index / 7, 0, 0, *index % 7};
  }
  const DriveAddress& a = *disk.drive_address;
  if (disk.device == DiskDevice::kCdrom)
    return unsupported(at +
                       "/@device='cdrom' (SCSI CD-ROMs are not supported yet: use an IDE "
                       "CD-ROM)");
  if (a.controller != 0)
    return unsupported(at + "/address/@controller='" + std::to_string(a.controller) +
                       "' (amber-vmm has one SCSI controller, index 0: sda..sdg without an "
                       "address)");
  if (a.bus != 0)
    return unsupported(at + "/address/@bus='" + std::to_string(a.bus) +
                       "' (the virtio-scsi controller has one bus, 0)");
  if (a.target > 255)
    return unsupported(at + "/address/@target='" + std::to_string(a.target) +
                       "' (virtio-scsi targets are 0..255)");
  if (a.unit > 16383)
    return unsupported(at + "/address/@unit='" + std::to_string(a.unit) +
                       "' (virtio-scsi LUNs are 0..16383)");
  return ok();
}

// The bus and the cdrom rules, then the bus's own address.
Result<void> settle_bus(const Node& target, Disk& disk) {
  const std::optional<std::string> bus = target.attribute("bus");
  if (bus) {
    if (*bus == "ide") disk.bus = DiskBus::kIde;
    if (*bus == "scsi") disk.bus = DiskBus::kScsi;
    // other values than virtio: refused in unsupported.cpp
  } else if (disk.target_dev.rfind("hd", 0) == 0) {
    disk.bus = DiskBus::kIde;  // libvirt's default bus for an "hd" name
  } else if (disk.target_dev.rfind("sd", 0) == 0) {
    disk.bus = DiskBus::kScsi;  // and for an "sd" name
  }
  if (disk.device == DiskDevice::kCdrom) {
    disk.readonly = true;  // libvirt forces it
    if (disk.bus == DiskBus::kVirtio)
      return unsupported("disk type 'virtio' of '" + disk.target_dev +
                         "' does not support ejectable media");
  }
  if (disk.bus == DiskBus::kVirtio) {
    if (disk.drive_address)
      return unsupported("/domain/devices/disk[target/@dev='" + disk.target_dev +
                         "']/address/@type='drive' (a virtio disk has a PCI address)");
    return ok();
  }
  if (disk.address)
    return unsupported(
        "/domain/devices/disk[target/@dev='" + disk.target_dev + "']/address/@type='pci' (" +
        (disk.bus == DiskBus::kIde ? "an IDE" : "a SCSI") + " disk has a drive address)");
  return disk.bus == DiskBus::kIde ? settle_ide(disk) : settle_scsi(disk);
}

}  // namespace

Result<std::optional<PciAddress>> parse_address(const Node& device) {
  AMBER_TRY_ASSIGN(auto node, device.unique_child("address"));
  if (!node) return std::optional<PciAddress>();
  AMBER_TRY_ASSIGN(auto type, attribute_in(*node, "type", {"pci"}));
  if (!type) return xml_error("missing attribute " + node->path() + "/@type");
  PciAddress a;
  AMBER_TRY_ASSIGN(auto domain, node->attribute_uint("domain"));
  AMBER_TRY_ASSIGN(auto bus, node->attribute_uint("bus"));
  AMBER_TRY_ASSIGN(auto slot, node->attribute_uint("slot"));
  AMBER_TRY_ASSIGN(auto function, node->attribute_uint("function"));
  // libvirt marks function 0 of a multi-function slot (the usb2 set's
  // ich9-uhci1); the usb controllers write it back themselves.
  AMBER_TRY_ASSIGN(auto multifunction, attribute_in(*node, "multifunction", {"on", "off"}));
  (void)multifunction;
  a.domain = domain.value_or(0);
  a.bus = bus.value_or(0);
  a.slot = slot.value_or(0);
  a.function = function.value_or(0);
  if (a.domain > 0xffff || a.bus > 0xff || a.slot > 0x1f || a.function > 7) {
    return xml_error("PCI address out of range in " + node->path());
  }
  return std::optional<PciAddress>(a);
}

void format_address(const std::optional<PciAddress>& address, Element& device, bool multifunction) {
  if (!address) return;
  Element& node = device.add("address")
                      .attr("type", "pci")
                      .attr("domain", hex(address->domain, 4))
                      .attr("bus", hex(address->bus, 2))
                      .attr("slot", hex(address->slot, 2))
                      .attr("function", hex(address->function, 1));
  if (multifunction) node.attr("multifunction", "on");
}

Result<std::optional<std::string>> parse_alias(const Node& device) {
  AMBER_TRY_ASSIGN(auto alias, device.unique_child("alias"));
  if (!alias) return std::optional<std::string>();
  return alias->attribute("name");
}

Result<Disk> parse_disk(const Node& node) {
  Disk disk;
  AMBER_TRY_ASSIGN(auto type, attribute_in(node, "type", {"file", "block", "volume"}));
  disk.type = type == "volume"  ? DiskType::kVolume
              : type == "block" ? DiskType::kBlock
                                : DiskType::kFile;
  AMBER_TRY_ASSIGN(auto device, attribute_in(node, "device", {"disk", "cdrom"}));
  if (device == "cdrom") disk.device = DiskDevice::kCdrom;
  AMBER_TRY_ASSIGN(auto driver, node.unique_child("driver"));
  if (driver) {
    AMBER_TRY_ASSIGN(disk.driver_name, attribute_in(*driver, "name", {"qemu"}));
    AMBER_TRY_ASSIGN(disk.format, attribute_in(*driver, "type", {"qcow2", "raw"}));
    AMBER_TRY_ASSIGN(disk.cache,
                     attribute_in(*driver, "cache",
                                  {"none", "writeback", "writethrough", "directsync", "unsafe"}));
    AMBER_TRY_ASSIGN(disk.io, attribute_in(*driver, "io", {"threads", "native", "io_uring"}));
    AMBER_TRY_ASSIGN(disk.discard, attribute_in(*driver, "discard", {"unmap", "ignore"}));
    AMBER_TRY_ASSIGN(disk.queues, driver->attribute_uint("queues"));
    AMBER_TRY_ASSIGN(disk.iothread, driver->attribute_uint("iothread"));
    AMBER_TRY_ASSIGN(disk.error_policy, attribute_in(*driver, "error_policy",
                                                     {"stop", "report", "ignore", "enospace"}));
    AMBER_TRY_ASSIGN(disk.rerror_policy,
                     attribute_in(*driver, "rerror_policy", {"stop", "report", "ignore"}));
    if (disk.queues && (*disk.queues == 0 || *disk.queues > 256)) {
      return xml_error("/domain/devices/disk/driver/@queues must be between 1 and 256");
    }
  }
  if (disk.type == DiskType::kVolume) {
    AMBER_TRY_ASSIGN(auto source, node.unique_child("source"));
    if (!source) return xml_error("missing <source pool=... volume=...> in a volume disk");
    AMBER_TRY_ASSIGN(disk.source_pool, source->required_attribute("pool"));
    AMBER_TRY_ASSIGN(disk.source_volume, source->required_attribute("volume"));
  } else {
    AMBER_TRY_ASSIGN(disk.source, parse_source(node, disk.type, &disk.source_index));
  }
  AMBER_TRY_ASSIGN(disk.encryption, parse_encryption(node, false));
  AMBER_TRY_ASSIGN(auto source_node, node.unique_child("source"));
  if (source_node) {
    AMBER_TRY_ASSIGN(auto in_source, parse_encryption(*source_node, true));
    if (in_source && disk.encryption)
      return xml_error("<encryption> given both in /domain/devices/disk and in its <source>");
    if (in_source) disk.encryption = std::move(in_source);
  }
  AMBER_TRY(parse_backing(node, disk, 0));
  AMBER_TRY_ASSIGN(auto target, node.unique_child("target"));
  if (!target)
    return xml_error("missing target in /domain/devices/disk (line " + std::to_string(node.line()) +
                     ")");
  AMBER_TRY_ASSIGN(disk.target_dev, target->required_attribute("dev"));
  disk.readonly = node.child("readonly").has_value();
  AMBER_TRY_ASSIGN(auto boot, node.unique_child("boot"));
  if (boot) {
    AMBER_TRY_ASSIGN(disk.boot_order, boot->attribute_uint("order"));
    if (!disk.boot_order || *disk.boot_order == 0)
      return xml_error("invalid boot order in " + boot->path());
  }
  AMBER_TRY_ASSIGN(auto serial, node.unique_child("serial"));
  if (serial) disk.serial = serial->text();
  AMBER_TRY_ASSIGN(disk.alias, parse_alias(node));
  AMBER_TRY_ASSIGN(auto address, node.unique_child("address"));
  if (address && address->attribute("type") == "drive") {
    AMBER_TRY_ASSIGN(disk.drive_address, parse_drive_address(*address));
  } else {
    AMBER_TRY_ASSIGN(disk.address, parse_address(node));
  }
  AMBER_TRY(settle_bus(*target, disk));
  return disk;
}

void format_disk(const Disk& disk, FormatFlags flags, Element& devices) {
  Element& node = devices.add("disk");
  const char* type = disk.type == DiskType::kVolume  ? "volume"
                     : disk.type == DiskType::kBlock ? "block"
                                                     : "file";
  node.attr("type", type).attr("device", disk.device == DiskDevice::kCdrom ? "cdrom" : "disk");
  if (disk.driver_name || disk.format || disk.cache || disk.io || disk.discard || disk.queues ||
      disk.iothread || disk.error_policy || disk.rerror_policy) {
    node.add("driver")
        .attr("name", disk.driver_name)
        .attr("type", disk.format)
        .attr("cache", disk.cache)
        .attr("error_policy", disk.error_policy)
        .attr("rerror_policy", disk.rerror_policy)
        .attr("io", disk.io)
        .attr("discard", disk.discard)
        .attr("queues", disk.queues)
        .attr("iothread", disk.iothread);
  }
  const bool encryption_in_source = disk.encryption && disk.encryption->in_source;
  if (disk.type == DiskType::kVolume) {
    Element& source =
        node.add("source").attr("pool", disk.source_pool).attr("volume", disk.source_volume);
    if (encryption_in_source) format_encryption(*disk.encryption, source);
  } else if (disk.source) {
    Element& source = node.add("source");
    source.attr(disk.type == DiskType::kBlock ? "dev" : "file", *disk.source);
    if (!has_flag(flags, FormatFlags::kInactive)) source.attr("index", disk.source_index);
    if (encryption_in_source) format_encryption(*disk.encryption, source);
  }
  format_backing(disk, 0, node);
  node.add("target")
      .attr("dev", disk.target_dev)
      .attr("bus", disk.bus == DiskBus::kIde    ? "ide"
                   : disk.bus == DiskBus::kScsi ? "scsi"
                                                : "virtio");
  if (disk.readonly) node.add("readonly");
  if (disk.boot_order) node.add("boot").attr("order", *disk.boot_order);
  if (disk.serial) node.add_text("serial", *disk.serial);
  if (disk.encryption && !disk.encryption->in_source) format_encryption(*disk.encryption, node);
  if (disk.alias && !has_flag(flags, FormatFlags::kInactive))
    node.add("alias").attr("name", *disk.alias);
  format_address(disk.address, node);
  if (disk.drive_address) {
    const DriveAddress& a = *disk.drive_address;
    node.add("address")
        .attr("type", "drive")
        .attr("controller", a.controller)
        .attr("bus", a.bus)
        .attr("target", a.target)
        .attr("unit", a.unit);
  }
}

}  // namespace amber::xml::family

namespace amber::xml {

Result<Disk> parse_disk_device(std::string_view xml) {
  AMBER_TRY_ASSIGN(Document doc, Document::parse(xml));
  if (doc.root().name() != "disk")
    return Error(ErrorKind::kInvalidArgument,
                 "unsupported configuration: amber can only update <disk> devices, not <" +
                     doc.root().name() + ">");
  return family::parse_disk(doc.root());
}

}  // namespace amber::xml
