// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/vm/pci_addresses.h"

#include <array>
#include <cstdio>
#include <map>
#include <tuple>
#include <vector>

#include "driver/vm/launch.h"
#include "xml/node.h"

namespace amber::driver::vm {
namespace {

// pci-root's slots: 0 is the host bridge, libvirt's search starts at 1
// (taken by the PIIX3 on a pc machine).
constexpr uint64_t kSlots = 32;
constexpr uint64_t kFirstSearchSlot = 1;
constexpr uint64_t kPiix3Slot = 1;
constexpr uint64_t kPrimaryVideoSlot = 2;

std::string address_text(const xml::PciAddress& a) {
  char text[32];
  std::snprintf(text, sizeof text, "%04llx:%02llx:%02llx.%llx",
                static_cast<unsigned long long>(a.domain), static_cast<unsigned long long>(a.bus),
                static_cast<unsigned long long>(a.slot),
                static_cast<unsigned long long>(a.function));
  return text;
}

// The functions in use, per (domain, bus, slot).
class AddressSet {
 public:
  Result<void> reserve(const xml::PciAddress& a) {
    uint8_t& functions = used_[{a.domain, a.bus, a.slot}];
    const uint8_t bit = static_cast<uint8_t>(1u << (a.function & 7));
    if ((functions & bit) != 0)
      return xml::xml_error("Attempted double use of PCI Address " + address_text(a));
    functions |= bit;
    return ok();
  }
  bool slot_in_use(uint64_t slot) const {
    auto it = used_.find({0, 0, slot});
    return it != used_.end() && it->second != 0;
  }
  // libvirt's ReserveNextAddr: function 0 of the lowest slot of bus 0
  // with no function in use.
  Result<xml::PciAddress> reserve_next() {
    for (uint64_t slot = kFirstSearchSlot; slot < kSlots; ++slot) {
      if (slot_in_use(slot)) continue;
      const xml::PciAddress a{0, 0, slot, 0};
      AMBER_TRY(reserve(a));
      return a;
    }
    return Error(ErrorKind::kUnsupported, "No more available PCI slots");
  }

 private:
  std::map<std::tuple<uint64_t, uint64_t, uint64_t>, uint8_t> used_;
};

// The function of a usb2 set member on its shared slot; -1 for others.
int usb2_function(const std::string& model) {
  if (model == "ich9-uhci1") return 0;
  if (model == "ich9-uhci2") return 1;
  if (model == "ich9-uhci3") return 2;
  if (model == "ich9-ehci1") return 7;
  return -1;
}

bool is_pci_controller_device(const xml::Controller& c) {
  // pci-root is the bus itself; a USB controller of model none is none;
  // the IDE controller lives on the PIIX3 (its address is fixed at parse).
  if (c.type == "pci") return false;
  if (c.type == "usb" && c.model == "none") return false;
  return c.type == "scsi" || c.type == "usb" || c.type == "ide";
}

}  // namespace

Result<void> assign_pci_addresses(xml::Domain& domain) {
  xml::Devices& devices = domain.devices;
  // Every PCI device, once: the ones with an address are reserved first.
  std::vector<std::optional<xml::PciAddress>*> all;
  for (xml::Disk& disk : devices.disks)
    if (disk.bus == xml::DiskBus::kVirtio) all.push_back(&disk.address);
  for (xml::Controller& c : devices.controllers)
    if (is_pci_controller_device(c)) all.push_back(&c.address);
  for (xml::Interface& nic : devices.interfaces) all.push_back(&nic.address);
  for (xml::Video& video : devices.videos)
    if (video.model != "none") all.push_back(&video.address);

  AddressSet used;
  for (std::optional<xml::PciAddress>* address : all)
    if (*address) AMBER_TRY(used.reserve(**address));
  // The PIIX3: its ISA function holds slot 1 even when the XML lists
  // neither its IDE nor its USB function.
  if (!used.slot_in_use(kPiix3Slot)) AMBER_TRY(used.reserve(xml::PciAddress{0, 0, kPiix3Slot, 0}));

  const auto give = [&used](std::optional<xml::PciAddress>& address) -> Result<void> {
    if (address) return ok();
    AMBER_TRY_ASSIGN(xml::PciAddress next, used.reserve_next());
    address = next;
    return ok();
  };
  // The primary video first: 00:02.0, or the lowest free slot when a
  // device the XML placed holds that one (libvirt's PIIX3 validation).
  std::vector<xml::Video*> videos;
  for (xml::Video& video : devices.videos)
    if (video.model != "none") videos.push_back(&video);
  if (!videos.empty() && !videos.front()->address) {
    if (used.slot_in_use(kPrimaryVideoSlot)) {
      AMBER_TRY(give(videos.front()->address));
    } else {
      const xml::PciAddress a{0, 0, kPrimaryVideoSlot, 0};
      AMBER_TRY(used.reserve(a));
      videos.front()->address = a;
    }
  }
  for (xml::Interface& nic : devices.interfaces) AMBER_TRY(give(nic.address));
  // libvirt's usb2 set (virt-install's Windows default) shares one slot:
  // the companions UHCI1..3 at functions 0..2, the EHCI at function 7 (the
  // slot of a member that has an address, else the lowest free one).
  std::optional<uint64_t> usb2_slot;
  bool usb2_members = false;
  for (xml::Controller& c : devices.controllers) {
    if (c.type != "usb" || usb2_function(c.model) < 0) continue;
    usb2_members = true;
    if (c.address) usb2_slot = c.address->slot;
  }
  bool function0_reserved = false;
  if (usb2_members && !usb2_slot) {
    AMBER_TRY_ASSIGN(const xml::PciAddress first, used.reserve_next());
    usb2_slot = first.slot;
    function0_reserved = true;
  }
  for (xml::Controller& c : devices.controllers) {
    if (!is_pci_controller_device(c) || c.type == "ide") continue;
    const int function = c.type == "usb" ? usb2_function(c.model) : -1;
    if (function < 0) {
      AMBER_TRY(give(c.address));
      continue;
    }
    if (c.address) continue;
    const xml::PciAddress a{0, 0, *usb2_slot, static_cast<uint64_t>(function)};
    if (function != 0 || !function0_reserved) AMBER_TRY(used.reserve(a));
    c.address = a;
  }
  for (xml::Disk& disk : devices.disks)
    if (disk.bus == xml::DiskBus::kVirtio) AMBER_TRY(give(disk.address));
  for (xml::Video* video : videos) AMBER_TRY(give(video->address));
  return ok();
}

void keep_earlier_amber_vmm_slots(xml::Domain& domain) {
  // The disks' order is plan_launch's (boot order first): the argv order
  // amber-vmm numbered them by. The context only has to let it through.
  LaunchContext context;
  context.emulator = domain.devices.emulator.value_or("");
  context.vnc_port = 5900;
  context.tap_fds.assign(domain.devices.interfaces.size(), 3);
  auto plan = plan_launch(domain, context);
  if (!plan.ok()) return;
  xml::Devices& devices = domain.devices;
  const auto fill = [](std::optional<xml::PciAddress>& address, uint64_t slot) {
    if (!address) address = xml::PciAddress{0, 0, slot, 0};
  };
  if (plan->settings.vga && !devices.videos.empty()) fill(devices.videos.front().address, 2);
  uint64_t next = 3;
  for (const size_t index : plan->disk_index) fill(devices.disks[index].address, next++);
  if (!plan->settings.scsi.empty()) {
    for (xml::Controller& c : devices.controllers)
      if (c.type == "scsi") fill(c.address, next);
    ++next;
  }
  for (xml::Interface& nic : devices.interfaces) fill(nic.address, next++);
}

}  // namespace amber::driver::vm
