// SPDX-License-Identifier: GPL-2.0-or-later
// The refusal table. Later issues delete entries from it as devices land.
#include "xml/domain/unsupported.h"

#include <algorithm>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>

namespace amber::xml {
namespace {

using Check = std::function<std::optional<Refusal>(const Node&, const std::string& path)>;

struct Rule {
  std::string path;
  bool whole_element;  // a refused element's subtree is not walked
  Check check;
};

std::optional<std::string> raw(const Node& node, std::string_view name) {
  for (auto& [k, v] : node.raw_attributes()) {
    if (k == name) return v;
  }
  return std::nullopt;
}

Rule element(std::string path, std::string reason) {
  return {std::move(path), true, [reason](const Node&, const std::string& p) {
            return std::optional<Refusal>({p, reason});
          }};
}

// ATTR may only take one of ALLOWED.
Rule only(std::string path, std::string attr, std::vector<std::string> allowed,
          std::string reason) {
  return {
      std::move(path), false,
      [attr, allowed, reason](const Node& node, const std::string& p) -> std::optional<Refusal> {
        auto value = raw(node, attr);
        if (!value) return std::nullopt;
        for (const std::string& a : allowed) {
          if (*value == a) return std::nullopt;
        }
        return Refusal{p + "/@" + attr + "='" + *value + "'", reason};
      }};
}

// ATTR must not be present at all.
Rule no_attribute(std::string path, std::string attr, std::string reason) {
  return {std::move(path), false,
          [attr, reason](const Node& node, const std::string& p) -> std::optional<Refusal> {
            auto value = raw(node, attr);
            if (!value) return std::nullopt;
            return Refusal{p + "/@" + attr + "='" + *value + "'", reason};
          }};
}

std::optional<Refusal> check_machine(const Node& node, const std::string& p) {
  auto machine = raw(node, "machine");
  if (!machine || *machine == "pc" || machine->rfind("pc-i440fx-", 0) == 0) return std::nullopt;
  return Refusal{p + "/@machine='" + *machine + "'",
                 "only the i440FX machine types 'pc' and 'pc-i440fx-*' are supported"};
}

std::optional<Refusal> check_timer(const Node& node, const std::string& p) {
  const std::string name = raw(node, "name").value_or("");
  const std::string at = p + "[@name='" + name + "']";
  for (const auto& [k, v] : node.raw_attributes()) {
    if (k != "name" && k != "tickpolicy" && k != "present") {
      return Refusal{at + "/@" + k + "='" + v + "'",
                     "timer attribute '" + k + "' is not supported yet"};
    }
  }
  // The tick policies and presence each timer can have are the driver's
  // to check at start (driver/vm/launch.cpp), as libvirt's QEMU driver
  // does; here only the timers amber-vmm knows of.
  if (name == "rtc" || name == "pit" || name == "hpet" || name == "hypervclock" ||
      name == "kvmclock" || name == "tsc")
    return std::nullopt;
  return Refusal{at, "timer '" + name + "' is not supported yet"};
}

// amber-vmm's one transitional virtio-scsi controller with 1..62 request
// queues. No model: Amber's default, virtio-scsi (see devices.cpp).
std::optional<Refusal> check_scsi_controller(const Node& node, const std::string& p,
                                             const std::string& model) {
  if (!model.empty() && model != "virtio-scsi" && model != "virtio-transitional")
    return Refusal{p + "[@model='" + model + "']",
                   "the SCSI controller model '" + model +
                       "' is not supported: amber-vmm has only virtio-scsi"};
  const std::string index = raw(node, "index").value_or("0");
  if (index != "0")
    return Refusal{p + "/@index='" + index + "'", "amber-vmm has one SCSI controller, index 0"};
  for (const Node& child : node.raw_children()) {
    if (child.name() != "driver") continue;
    for (const auto& [k, v] : child.raw_attributes()) {
      if (k == "queues") {
        const bool digits =
            !v.empty() && v.size() <= 2 &&
            std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
        const int n = digits ? std::stoi(v) : 0;
        if (n >= 1 && n <= 62) continue;
        return Refusal{p + "/driver/@queues='" + v + "'",
                       "amber-vmm's virtio-scsi controller runs 1 to 62 request queues"};
      }
      return Refusal{p + "/driver/@" + k + "='" + v + "'",
                     "virtio-scsi driver attribute '" + k + "' is not supported"};
    }
  }
  return std::nullopt;
}

std::optional<Refusal> check_controller(const Node& node, const std::string& p) {
  const std::string type = raw(node, "type").value_or("");
  const std::string model = raw(node, "model").value_or("");
  if ((type == "pci" && model == "pci-root") || (type == "usb" && model == "none"))
    return std::nullopt;
  if (type == "usb" && (model == "piix3-uhci" || model.empty() || model == "ich9-ehci1" ||
                        model == "ich9-uhci1" || model == "ich9-uhci2" || model == "ich9-uhci3")) {
    const std::string index = raw(node, "index").value_or("0");
    if (index != "0")
      return Refusal{p + "[@type='usb']/@index='" + index + "'",
                     "amber-vmm has one USB controller, index 0"};
    return std::nullopt;
  }
  if (type == "ide") {
    const std::string index = raw(node, "index").value_or("0");
    if (index != "0")
      return Refusal{p + "[@type='ide']/@index='" + index + "'",
                     "Only 1 IDE controller is supported"};
    if (!model.empty())
      return Refusal{p + "[@type='ide'][@model='" + model + "']",
                     "the IDE controller is the PIIX3 one, no model can be chosen"};
    return std::nullopt;
  }
  if (type == "scsi") return check_scsi_controller(node, p + "[@type='scsi']", model);
  return Refusal{
      p + "[@type='" + type + "']" + (model.empty() ? "" : "[@model='" + model + "']"),
      "controllers are not supported yet (only the implicit pci-root, ide index 0, scsi "
      "model='virtio-scsi' index 0, usb model='piix3-uhci' index 0, the usb2 set ich9-ehci1 + "
      "ich9-uhci1..3 index 0 and usb model='none')"};
}

// <driver queues='N'/> only (multiqueue virtio-net); vhost, txmode,
// the offload switches and the rest are refused.
std::optional<Refusal> check_interface_driver(const Node& node, const std::string& p) {
  for (const auto& [k, v] : node.raw_attributes()) {
    if (k == "queues") continue;
    if (k == "name" && v == "qemu") continue;
    return Refusal{p + "/@" + k + "='" + v + "'",
                   "network driver attribute '" + k + "' is not supported"};
  }
  for (const Node& child : node.raw_children())
    return Refusal{p + "/" + child.name(), "network driver offload settings are not supported"};
  return std::nullopt;
}

// Mouse and keyboard on PS/2 or USB, a USB tablet; virtio and Xen input
// are refused.
std::optional<Refusal> check_input(const Node& node, const std::string& p) {
  const std::string type = raw(node, "type").value_or("");
  const std::string bus = raw(node, "bus").value_or("");
  if (type != "mouse" && type != "tablet" && type != "keyboard")
    return Refusal{p + "/@type='" + type + "'", "only mouse, tablet and keyboard inputs exist"};
  if (!bus.empty() && bus != "ps2" && bus != "usb")
    return Refusal{p + "/@bus='" + bus + "'", "only PS/2 and USB input devices are supported"};
  if (raw(node, "model"))
    return Refusal{p + "/@model='" + *raw(node, "model") + "'",
                   "input models (virtio) are not supported"};
  return std::nullopt;
}

std::optional<Refusal> check_action(const Node& node, const std::string& p) {
  const std::string text = node.text();
  if (text == "destroy" || text == "restart") return std::nullopt;
  return Refusal{p + "='" + text + "'", "only destroy and restart are supported"};
}

std::vector<Rule> make_rules() {
  std::vector<Rule> rules = {
      only("/domain", "type", {"kvm"},
           "only type='kvm' is supported: Amber runs guests on KVM, it has no emulation "
           "(type='qemu')"),
      only("/domain/os/type", "arch", {"x86_64"}, "only arch='x86_64' is supported"),
      {"/domain/os/type", false, check_machine},
      only("/domain/os/boot", "dev", {"hd", "cdrom"}, "only boot from hd or cdrom is supported"),
      only("/domain/os/loader", "type", {"rom"}, "UEFI (pflash) firmware is not supported yet"),
      no_attribute("/domain/os/loader", "secure", "secure boot is not supported"),
      element("/domain/os/nvram", "UEFI variable stores are not supported yet"),
      element("/domain/os/firmware", "firmware auto-selection is not supported yet"),
      only("/domain/os/smbios", "mode", {"emulate", "sysinfo"},
           "the host's SMBIOS strings are not passed to guests: use mode='sysinfo' with "
           "<sysinfo type='smbios'>, or mode='emulate'"),
      only("/domain/sysinfo", "type", {"smbios"}, "only <sysinfo type='smbios'> is supported"),
      element("/domain/sysinfo/oemStrings", "SMBIOS OEM strings (type 11) are not supported yet"),
      element("/domain/sysinfo/processor", "SMBIOS processor entries are host-only"),
      element("/domain/sysinfo/memory", "SMBIOS memory entries are host-only"),
      element("/domain/os/bios", "BIOS settings (useserial, reboot timeout) are not supported yet"),
      no_attribute("/domain/vcpu", "cpuset", "vCPU pinning is not supported yet"),
      only("/domain/cpu", "mode", {"host-passthrough", "host-model"},
           "only cpu mode host-passthrough and host-model are supported"),
      only("/domain/cpu/feature", "policy", {"disable"},
           "only <feature policy='disable'> is supported"),
      element("/domain/cpu/model", "CPU models are not supported"),
      element("/domain/cpu/numa", "guest NUMA is not supported"),
      element("/domain/cpu/cache", "CPU cache settings are not supported"),
      only("/domain/features/vmport", "state", {"off"}, "there is no VMware port"),
      only("/domain/clock", "offset", {"utc", "localtime"},
           "only clock offset utc and localtime are supported"),
      {"/domain/clock/timer", false, check_timer},
      {"/domain/on_poweroff", false, check_action},
      {"/domain/on_reboot", false, check_action},
      {"/domain/on_crash", false, check_action},
      only("/domain/pm/suspend-to-mem", "enabled", {"no"}, "guest suspend is not supported"),
      only("/domain/pm/suspend-to-disk", "enabled", {"no"}, "guest hibernation is not supported"),
      only("/domain/devices/disk", "type", {"file", "block", "volume"},
           "only file, block and volume disks are supported"),
      only("/domain/devices/disk", "device", {"disk", "cdrom"},
           "only device='disk' and 'cdrom' are supported yet (no floppy, lun)"),
      only("/domain/devices/disk/target", "bus", {"virtio", "ide", "scsi"},
           "only virtio, ide and scsi disks are supported yet"),
      only("/domain/devices/disk/driver", "name", {"qemu"}, "only driver name='qemu' is supported"),
      only("/domain/devices/disk/driver", "type", {"qcow2", "raw"},
           "only qcow2 and raw images are supported"),
      only("/domain/devices/disk/address", "type", {"pci", "drive"},
           "only PCI (virtio) and drive (IDE, SCSI) addresses are supported"),
      {"/domain/devices/controller", true, check_controller},
      only("/domain/devices/serial", "type", {"pty"}, "only pty serial ports are supported"),
      only("/domain/devices/console", "type", {"pty"}, "only pty consoles are supported"),
      only("/domain/devices/graphics", "type", {"vnc"},
           "only VNC graphics are supported (no SPICE, SDL, RDP or D-Bus display)"),
      no_attribute("/domain/devices/graphics", "websocket", "VNC websockets are not supported yet"),
      no_attribute("/domain/devices/graphics", "passwdValidTo",
                   "VNC password expiry is not supported yet"),
      no_attribute("/domain/devices/graphics", "connected",
                   "keeping clients connected on a "
                   "password change is not supported"),
      only("/domain/devices/graphics", "keymap", {"en-us"},
           "amber-vmm's VNC server maps keysyms with the en-us layout only"),
      only("/domain/devices/graphics/listen", "type", {"address"},
           "only <listen type='address'> is supported (no network, socket or none)"),
      only("/domain/devices/video/model", "type", {"vga", "none"},
           "only the standard VGA (model type='vga') is supported"),
      only("/domain/devices/video/model", "heads", {"1"}, "the standard VGA has one head"),
      no_attribute("/domain/devices/video/model", "ram", "only QXL has a ram bar"),
      no_attribute("/domain/devices/video/model", "vgamem", "only QXL has vgamem"),
      no_attribute("/domain/devices/video/model", "vram64", "only QXL has vram64"),
      element("/domain/devices/video/model/acceleration", "video acceleration is not supported"),
      element("/domain/devices/video/model/resolution", "a video resolution is not supported"),
      element("/domain/devices/video/driver", "video driver settings are not supported"),
      only("/domain/devices/interface", "type", {"user", "bridge", "ethernet", "network"},
           "only user, bridge, ethernet and network interfaces are supported (no direct, "
           "vhostuser, hostdev or vdpa)"),
      only("/domain/devices/interface/model", "type", {"e1000", "virtio"},
           "only the e1000 and virtio network models are supported"),
      only("/domain/devices/interface/link", "state", {"up"},
           "an interface whose link is down is not supported yet"),
      only("/domain/devices/interface/ip", "family", {"ipv4"},
           "only IPv4 user networks are supported"),
      element("/domain/devices/interface/boot", "network boot is not supported yet"),
      element("/domain/devices/interface/backend",
              "network backends (passt, vhost) cannot be "
              "chosen: amber-vmm runs its own"),
      element("/domain/devices/interface/portForward", "port forwarding is not supported yet"),
      element("/domain/devices/interface/bandwidth", "bandwidth limits are not supported yet"),
      element("/domain/devices/interface/vlan", "VLAN tags are not supported"),
      element("/domain/devices/interface/virtualport",
              "virtual ports (Open vSwitch, 802.1Qbg) "
              "are not supported"),
      element("/domain/devices/interface/filterref", "network filters are not supported"),
      element("/domain/devices/interface/route", "routes of a user network are not supported"),
      {"/domain/devices/interface/driver", false, check_interface_driver},
      {"/domain/devices/input", false, check_input},
      only("/domain/devices/memballoon", "model", {"none"},
           "memory ballooning is not supported yet"),
  };
  const std::pair<const char*, const char*> devices[] = {
      {"sound", "sound devices are not supported"},
      {"audio", "audio backends are not supported"},
      {"hostdev", "host device passthrough is not supported"},
      {"redirdev", "USB redirection is not supported"},
      {"redirfilter", "USB redirection is not supported"},
      {"channel", "channels (guest agent, spicevmc) are not supported yet"},
      {"smartcard", "smartcards are not supported"},
      {"rng", "random number generators are not supported yet"},
      {"tpm", "TPM devices are not supported"},
      {"watchdog", "watchdogs are not supported yet"},
      {"filesystem", "shared file systems are not supported"},
      {"hub", "USB hubs are not supported"},
      {"panic", "panic devices are not supported"},
      {"shmem", "shared memory devices are not supported"},
      {"iommu", "IOMMUs are not supported"},
      {"vsock", "vsock devices are not supported"},
      {"parallel", "parallel ports are not supported"},
      {"lease", "lock leases are not supported"},
      {"memory", "memory hotplug devices are not supported"},
      {"crypto", "crypto devices are not supported"},
      {"nvram", "nvram devices are not supported"},
  };
  for (auto [name, reason] : devices)
    rules.push_back(element(std::string("/domain/devices/") + name, reason));
  for (const char* name : {"shareable", "transient", "iotune", "auth", "geometry", "blockio", "wwn",
                           "vendor", "product", "mirror"}) {
    rules.push_back(element(std::string("/domain/devices/disk/") + name,
                            std::string("disk <") + name + "> is not supported yet"));
  }
  for (const char* name :
       {"maxMemory", "numatune", "cputune", "memtune", "blkiotune", "idmap", "seclabel", "keywrap",
        "launchSecurity", "perf", "genid", "bootloader", "iothreadids", "vcpus", "on_lockfailure",
        "resource", "throttlegroups"}) {
    rules.push_back(element(std::string("/domain/") + name,
                            std::string("<") + name + "> is not supported yet"));
  }
  for (const char* name : {"nosharepages", "locked", "source", "access", "allocation", "discard"}) {
    rules.push_back(element(std::string("/domain/memoryBacking/") + name,
                            std::string("memoryBacking <") + name + "> is not supported yet"));
  }
  for (const char* name :
       {"reenlightenment", "tlbflush", "ipi", "evmcs", "avic", "emsr_bitmap", "xmm_input"}) {
    rules.push_back(only(std::string("/domain/features/hyperv/") + name, "state", {"off"},
                         std::string("the Hyper-V enlightenment '") + name +
                             "' is not supported yet (amber-vmm offers relaxed, vapic, "
                             "spinlocks, vpindex, runtime, synic, stimer, reset, frequencies, "
                             "vendor_id and the hypervclock timer)"));
  }
  rules.push_back(element("/domain/features/hyperv/stimer/direct",
                          "direct-mode synthetic timers are not supported yet"));
  for (const char* name : {"smm", "ioapic",     "kvm",        "pvspinlock", "gic",
                           "hpt", "vmcoreinfo", "htm",        "msrs",       "pmu",
                           "hap", "privnet",    "viridian",   "tcg",        "async-teardown",
                           "xen", "nested-hv",  "ccf-assist", "cfpc",       "sbbc",
                           "ibs", "tseg",       "sev"}) {
    rules.push_back(element(std::string("/domain/features/") + name,
                            std::string("the feature '") + name + "' is not supported yet"));
  }
  return rules;
}

const std::vector<Rule>& rules() {
  static const std::vector<Rule> table = make_rules();
  return table;
}

void walk(const Node& node, const std::string& path, std::vector<Refusal>& out) {
  for (const Rule& rule : rules()) {
    if (rule.path != path) continue;
    if (auto refusal = rule.check(node, path)) {
      out.push_back(std::move(*refusal));
      if (rule.whole_element) return;
    }
  }
  for (const Node& child : node.raw_children()) walk(child, path + "/" + child.name(), out);
}

}  // namespace

std::string Refusal::message() const {
  return "unsupported configuration: " + path + " (" + reason + ")";
}

std::vector<Refusal> find_refusals(const Node& root) {
  std::vector<Refusal> out;
  walk(root, "/" + root.name(), out);
  return out;
}

}  // namespace amber::xml
