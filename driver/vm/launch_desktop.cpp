// SPDX-License-Identifier: GPL-2.0-or-later
// The desktop part of plan_launch: <video> -> --vga std, <graphics
// type='vnc'> -> --vnc, the USB controller and USB inputs -> --usb and
// --usb-device, <interface> -> --nic. The daemon's own choices (the VNC
// port, the tap descriptors) come in through LaunchContext.
#include <arpa/inet.h>

#include <algorithm>
#include <bit>

#include "driver/vm/launch.h"

namespace amber::driver::vm {
namespace {

// amber-vmm's VGA: QEMU's vgamem_mb rounded up to a power of two (QEMU
// does the same), 1 to 256 MiB.
constexpr uint64_t kMaxVramKib = 256 * 1024;

Result<void> plan_video(const xml::Domain& domain, vmmctl::LaunchSettings& settings) {
  const std::vector<xml::Video>& videos = domain.devices.videos;
  if (videos.size() > 1)
    return refuse("/domain/devices/video[2]", "amber-vmm has one display (the standard VGA)");
  if (videos.empty() || videos.front().model == "none") {
    if (!domain.devices.graphics.empty())
      return refuse("/domain/devices/graphics", "a VNC display needs a <video> device to show");
    return ok();
  }
  const xml::Video& video = videos.front();
  AMBER_TRY_ASSIGN(settings.vga_addr, plan_pci_address(video.address, "/domain/devices/video"));
  const uint64_t kib = video.vram_kib.value_or(16384);
  if (kib > kMaxVramKib)
    return refuse("/domain/devices/video/model/@vram",
                  "the standard VGA has at most 256 MiB of video memory");
  const uint64_t mib = std::bit_ceil(std::max<uint64_t>(1, (kib + 1023) / 1024));
  settings.vga = true;
  settings.vga_vram = mib << 20;
  return ok();
}

Result<void> plan_graphics(const xml::Domain& domain, const LaunchContext& context,
                           vmmctl::LaunchSettings& settings) {
  const std::vector<xml::Graphics>& graphics = domain.devices.graphics;
  if (graphics.empty()) return ok();
  if (graphics.size() > 1)
    return refuse("/domain/devices/graphics[2]", "amber-vmm serves one VNC display");
  const xml::Graphics& g = graphics.front();
  vmmctl::VncSettings vnc;
  vnc.host = g.listen.value_or(context.vnc_listen);  // IPv6 without brackets
  const int64_t port = g.autoport ? context.vnc_port : g.port;
  if (port < 5900)
    return refuse("/domain/devices/graphics/@port",
                  "no VNC port was chosen (autoport needs the daemon's port)");
  vnc.display = static_cast<unsigned>(port - 5900);
  vnc.password = g.passwd.has_value();
  settings.vnc = vnc;
  return ok();
}

// The USB controller: the PIIX3 UHCI (two root ports), or the usb2 set
// (ich9-ehci1 + ich9-uhci1..3, checked whole when the XML was parsed:
// six root ports, the EHCI's slot from its address) -> --usb ehci.
Result<void> plan_usb(const xml::Domain& domain, vmmctl::LaunchSettings& settings) {
  const xml::Devices& devices = domain.devices;
  bool controller = false;
  for (const xml::Controller& c : devices.controllers) {
    if (c.type != "usb") continue;
    if (c.model == "piix3-uhci") controller = true;
    if (c.model == "ich9-ehci1") {
      controller = true;
      settings.usb_model = vmmctl::UsbModel::kIch9Ehci;
      if (c.address) settings.usb_slot = static_cast<unsigned>(c.address->slot);
    }
  }
  settings.usb = controller;
  const bool ehci = settings.usb_model == vmmctl::UsbModel::kIch9Ehci;
  const unsigned root_ports = ehci ? vmmctl::kMaxEhciUsbDevices : vmmctl::kMaxUsbDevices;
  const std::string hub = ehci ? "the EHCI controller has root ports 1 to 6 and no hub"
                               : "the UHCI controller has root ports 1 and 2 and no hub";
  // The root ports in use: addresses the XML gives, the rest in order.
  std::vector<std::pair<unsigned, vmmctl::UsbDeviceKind>> ports;
  unsigned next = 1;
  for (size_t i = 0; i < devices.inputs.size(); ++i) {
    const xml::Input& input = devices.inputs[i];
    if (input.bus != xml::InputBus::kUsb) continue;
    const std::string path = "/domain/devices/input[" + std::to_string(i + 1) + "]";
    if (!controller)
      return refuse(path, "a USB input needs the piix3-uhci controller or the ich9 usb2 set");
    if (input.usb_bus && *input.usb_bus != 0)
      return refuse(path + "/address/@bus", "there is one USB bus, 0");
    unsigned port = 0;
    if (input.usb_port) {
      const std::string& text = *input.usb_port;
      if (text.size() != 1 || text[0] < '1' || text[0] > static_cast<char>('0' + root_ports))
        return refuse(path + "/address/@port='" + text + "'", hub);
      port = static_cast<unsigned>(text[0] - '0');
    } else {
      while (std::any_of(ports.begin(), ports.end(), [&](auto& p) { return p.first == next; }))
        ++next;
      port = next;
    }
    if (port > root_ports)
      return refuse(path, ehci ? "the EHCI controller has six root ports, and no hub to add more"
                               : "the UHCI controller has two root ports, and no hub to add more");
    for (const auto& used : ports) {
      if (used.first == port) return refuse(path + "/address", "USB port already in use");
    }
    const vmmctl::UsbDeviceKind kind =
        input.type == xml::InputType::kTablet     ? vmmctl::UsbDeviceKind::kTablet
        : input.type == xml::InputType::kKeyboard ? vmmctl::UsbDeviceKind::kKeyboard
                                                  : vmmctl::UsbDeviceKind::kMouse;
    ports.emplace_back(port, kind);
  }
  std::sort(ports.begin(), ports.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 0; i < ports.size(); ++i) {
    // amber-vmm attaches --usb-device N to root port N+1.
    if (ports[i].first != i + 1)
      return refuse("/domain/devices/input",
                    "USB devices must fill the root ports from port 1 (amber-vmm has no "
                    "empty-port placement yet)");
    settings.usb_devices.push_back(ports[i].second);
  }
  return ok();
}

// "192.168.76.0" + 24 -> QEMU's net=192.168.76.0/24 and the addresses
// libvirt's QEMU driver derives: host .2, DNS .3, DHCP from .15.
Result<void> plan_user_network(const xml::Interface& nic, const std::string& path,
                               vmmctl::NicSettings& out) {
  if (nic.ips.empty()) return ok();
  if (nic.ips.size() > 1) return refuse(path + "/ip[2]", "a user network has one IPv4 network");
  const xml::InterfaceIp& ip = nic.ips.front();
  const uint64_t prefix = ip.prefix.value_or(24);
  in_addr address{};
  if (inet_pton(AF_INET, ip.address.c_str(), &address) != 1)
    return refuse(path + "/ip/@address", "'" + ip.address + "' is not an IPv4 address");
  if (prefix < 1 || prefix > 28)
    return refuse(path + "/ip/@prefix", "a user network's prefix must be 1 to 28");
  const uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  const uint32_t net = ntohl(address.s_addr) & mask;
  const auto text = [](uint32_t host_order) {
    in_addr a{htonl(host_order)};
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a, buf, sizeof buf);
    return std::string(buf);
  };
  out.net = text(net) + "/" + std::to_string(prefix);
  out.host = text(net + 2);
  out.dns = text(net + 3);
  out.dhcp_start = text(net + 15);
  return ok();
}

Result<void> plan_interfaces(const xml::Domain& domain, const LaunchContext& context,
                             vmmctl::LaunchSettings& settings) {
  const std::vector<xml::Interface>& nics = domain.devices.interfaces;
  size_t tap = 0;
  for (size_t i = 0; i < nics.size(); ++i) {
    const xml::Interface& nic = nics[i];
    const std::string path = "/domain/devices/interface[" + std::to_string(i + 1) + "]";
    vmmctl::NicSettings out;
    const std::string model = nic.model.value_or("e1000");
    out.model = model == "virtio" ? vmmctl::NicModel::kVirtio : vmmctl::NicModel::kE1000;
    auto mac = vmmctl::parse_mac(nic.mac);
    if (!mac.ok()) return refuse(path + "/mac", "'" + nic.mac + "' is not a MAC address");
    out.mac = *mac;
    if (nic.queues && *nic.queues != 1) {
      if (out.model != vmmctl::NicModel::kVirtio)
        return refuse(path + "/driver/@queues", "multiqueue networking needs model virtio");
      if (*nic.queues < 1 || *nic.queues > vmmctl::kMaxNicQueues)
        return refuse(path + "/driver/@queues", "amber-vmm's virtio-net has 1.." +
                                                    std::to_string(vmmctl::kMaxNicQueues) +
                                                    " queue pairs");
      out.queues = *nic.queues;
    }
    AMBER_TRY_ASSIGN(out.addr, plan_pci_address(nic.address, path));
    if (nic.rom_enabled && !*nic.rom_enabled) out.romfile = "none";
    if (nic.rom_file) out.romfile = *nic.rom_file;
    if (nic.type == xml::InterfaceType::kUser) {
      out.backend = vmmctl::NetBackend::kUser;
      AMBER_TRY(plan_user_network(nic, path, out));
    } else {
      if (!nic.ips.empty())
        return refuse(path + "/ip", "only a user network takes an <ip> (this one is a tap)");
      if (tap >= context.tap_fds.size())
        return refuse(path, "the daemon opened no tap device for this interface");
      out.backend = vmmctl::NetBackend::kTap;
      out.tap_fd = context.tap_fds[tap++];
    }
    settings.nics.push_back(std::move(out));
  }
  return ok();
}

}  // namespace

Result<void> plan_desktop(const xml::Domain& domain, const LaunchContext& context,
                          vmmctl::LaunchSettings& settings) {
  AMBER_TRY(plan_video(domain, settings));
  AMBER_TRY(plan_graphics(domain, context, settings));
  AMBER_TRY(plan_usb(domain, settings));
  AMBER_TRY(plan_interfaces(domain, context, settings));
  return ok();
}

}  // namespace amber::driver::vm
