// SPDX-License-Identifier: GPL-2.0-or-later
// ManagerImpl's desktop devices: what the daemon does for <graphics> and
// <interface> around a start (a free VNC port for autoport, the tap
// devices and their bridges, the VNC password once amber-vmm runs, the
// live XML's port and tap names), and the calls that read them back
// (virDomainScreenshot, virDomainInterfaceStats, virDomainInterfaceAddresses).
#include <arpa/inet.h>
#include <libvirt/libvirt.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <iterator>

#include "driver/vm/manager_impl.h"
#include "driver/vm/tap.h"

namespace amber::driver::vm {
namespace {

constexpr int64_t kVncFirstPort = 5900;
constexpr int64_t kVncLastPort = 65535;

// Whether a listener could bind ADDRESS:PORT now.
bool port_free(const std::string& address, int64_t port) {
  const bool v6 = address.find(':') != std::string::npos;
  UniqueFd fd(::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return false;
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (v6) {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, address.c_str(), &sa.sin6_addr) != 1) sa.sin6_addr = in6addr_any;
    return ::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  }
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, address.c_str(), &sa.sin_addr) != 1) sa.sin_addr.s_addr = INADDR_ANY;
  return ::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
}

// The interface's alias in the live XML and in query-nics: net0, net1, ...
std::string nic_alias(size_t index) {
  return "net" + std::to_string(index);
}

}  // namespace

Result<DesktopLaunch> ManagerImpl::prepare_desktop(const xml::Domain& domain,
                                                   LaunchContext& context) {
  DesktopLaunch out;
  if (!domain.devices.graphics.empty() && domain.devices.graphics.front().autoport) {
    const xml::Graphics& g = domain.devices.graphics.front();
    const std::string listen = g.listen.value_or(context.vnc_listen);
    std::lock_guard lock(mutex_);
    std::set<int64_t> used = vnc_ports_pending_;
    for (const auto& [uuid, entry] : by_uuid_) {
      if (!entry->vm) continue;
      for (const xml::Graphics& other : entry->vm->live.devices.graphics) used.insert(other.port);
    }
    for (int64_t port = kVncFirstPort; port <= kVncLastPort; ++port) {
      if (used.count(port) != 0 || !port_free(listen, port)) continue;
      out.vnc_port = port;
      vnc_ports_pending_.insert(port);
      break;
    }
    if (out.vnc_port < 0)
      return Error(ErrorKind::kInternal, "Unable to find an unused port for the VNC display");
    context.vnc_port = out.vnc_port;
  }
  for (size_t i = 0; i < domain.devices.interfaces.size(); ++i) {
    const xml::Interface& nic = domain.devices.interfaces[i];
    if (nic.type == xml::InterfaceType::kUser) continue;
    const std::string where = "interface " + nic.mac + ": ";
    std::string bridge;
    if (nic.type == xml::InterfaceType::kBridge) bridge = *nic.source_bridge;
    if (nic.type == xml::InterfaceType::kNetwork) {
      auto found = network_bridge(*nic.source_network);
      if (!found.ok()) return Error(found.error().kind(), where + found.error().message());
      bridge = *found;
    }
    // A tap the user named (ethernet) is used as is; otherwise the kernel
    // numbers one vnetN as libvirt's names go.
    const bool named = nic.target_dev && nic.target_dev->rfind("vnet", 0) != 0;
    auto tap = open_tap(named ? *nic.target_dev : "vnet%d");
    if (!tap.ok()) return Error(tap.error().kind(), where + tap.error().message());
    if (!bridge.empty()) {
      if (auto attached = attach_to_bridge(tap->name, bridge); !attached.ok())
        return Error(attached.error().kind(), where + attached.error().message());
    } else if (!(nic.target_managed && !*nic.target_managed)) {
      if (auto up = set_link_up(tap->name); !up.ok())
        return Error(up.error().kind(), where + up.error().message());
    }
    context.tap_fds.push_back(kFirstInheritedFd + static_cast<int>(out.taps.size()));
    out.tap_names.emplace_back(i, tap->name);
    out.tap_bridges.emplace_back(i, bridge);
    out.taps.push_back(std::move(tap->fd));
  }
  return out;
}

void ManagerImpl::release_vnc_port(int64_t port) {
  if (port < 0) return;
  std::lock_guard lock(mutex_);
  vnc_ports_pending_.erase(port);
}

Result<void> ManagerImpl::finish_desktop(RunningVm& vm, const DesktopLaunch& desktop,
                                         const vmmctl::LaunchSettings& settings) {
  const xml::Devices& given = vm.live.devices;  // not changed by other threads
  if (!given.graphics.empty() && given.graphics.front().passwd) {
    vmmctl::VncPasswordArguments request;
    request.password = *given.graphics.front().passwd;
    AMBER_TRY(vm.monitor->call<vmmctl::ChangeVncPassword>(request));
  }
  std::lock_guard lock(mutex_);  // live_view readers
  xml::Devices& devices = vm.live.devices;
  if (!devices.graphics.empty() && settings.vnc) {
    xml::Graphics& g = devices.graphics.front();
    g.port = kVncFirstPort + settings.vnc->display;
    // The address as given (an empty host is every address: 0.0.0.0).
    g.listen = settings.vnc->host.empty() ? "0.0.0.0" : settings.vnc->host;
  }
  for (const auto& [index, name] : desktop.tap_names) devices.interfaces[index].target_dev = name;
  for (const auto& [index, bridge] : desktop.tap_bridges) {
    if (!bridge.empty()) devices.interfaces[index].source_bridge = bridge;
  }
  return ok();
}

LaunchContext ManagerImpl::reattach_context(const xml::Domain& live,
                                            const std::string& control) const {
  LaunchContext context = launch_context(live, control);
  if (!live.devices.graphics.empty()) context.vnc_port = live.devices.graphics.front().port;
  int fd = kFirstInheritedFd;
  for (const xml::Interface& nic : live.devices.interfaces) {
    if (nic.type != xml::InterfaceType::kUser) context.tap_fds.push_back(fd++);
  }
  return context;
}

// As libvirt's QEMU driver: amber-vmm writes the screen to a file the
// daemon then streams (PPM, "image/x-portable-pixmap").
Result<Screenshot> ManagerImpl::screenshot(const xml::Uuid& uuid, unsigned screen, unsigned flags) {
  if (flags != 0) return unsupported_flags("screenshot", flags);
  AMBER_TRY_ASSIGN(auto entry, get(uuid));
  std::lock_guard op(entry->op);
  AMBER_TRY_ASSIGN(auto vm, running(entry));
  if (vm->live.devices.videos.empty() || vm->live.devices.videos.front().model == "none")
    return Error(ErrorKind::kInvalidArgument, "no screens to take screenshot from");
  if (screen != 0)
    return Error(ErrorKind::kInvalidArgument,
                 "invalid screen " + std::to_string(screen) + " (the VGA has screen 0 only)");
  const std::string path = options_.run_dir + "/" + uuid.to_string() + ".screendump.ppm";
  ::unlink(path.c_str());
  vmmctl::ScreendumpArguments request;
  request.filename = path;
  auto dumped = vm->monitor->call<vmmctl::Screendump>(request);
  if (!dumped.ok()) {
    ::unlink(path.c_str());
    return std::move(dumped).error();
  }
  std::ifstream in(path, std::ios::binary);
  Screenshot shot;
  shot.mime = "image/x-portable-pixmap";
  shot.data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  ::unlink(path.c_str());
  if (shot.data.empty())
    return Error(ErrorKind::kInternal, "amber-vmm wrote no screenshot to " + path);
  return shot;
}

Result<UniqueFd> ManagerImpl::open_graphics_fd(const xml::Uuid& uuid, unsigned index,
                                               unsigned flags) {
  if ((flags & ~unsigned{VIR_DOMAIN_OPEN_GRAPHICS_SKIPAUTH}) != 0)
    return unsupported_flags("open graphics fd", flags);
  AMBER_TRY_ASSIGN(auto entry, get(uuid));
  std::lock_guard op(entry->op);
  AMBER_TRY_ASSIGN(auto vm, running(entry));
  xml::Graphics graphics;
  {
    std::lock_guard lock(mutex_);
    const auto& all = vm->live.devices.graphics;
    if (index >= all.size())
      return Error(ErrorKind::kInvalidArgument,
                   "No graphics backend with index " + std::to_string(index));
    graphics = all[index];
  }
  // amber-vmm's VNC server has no way to take a client past its password;
  // QEMU's add_client skipauth does. Without a password there is none to skip.
  if ((flags & VIR_DOMAIN_OPEN_GRAPHICS_SKIPAUTH) != 0 && graphics.passwd)
    return Error(ErrorKind::kUnsupported,
                 "skipping the VNC password (VIR_DOMAIN_OPEN_GRAPHICS_SKIPAUTH) is not supported");
  if (graphics.port <= 0 || graphics.port > 65535)
    return Error(ErrorKind::kInternal, "the VNC server has no port yet");
  // A wildcard listen address is reached on loopback.
  std::string host = graphics.listen.value_or("127.0.0.1");
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  sockaddr_storage address{};
  socklen_t length = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&address);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&address);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(graphics.port));
    length = sizeof *v4;
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(graphics.port));
    length = sizeof *v6;
  } else {
    return Error(ErrorKind::kUnsupported,
                 "the VNC listen address '" + host + "' is not a numeric address");
  }
  UniqueFd fd(::socket(address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return Error::from_errno(errno, "socket for the VNC connection");
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), length) != 0)
    return Error::from_errno(
        errno, "cannot connect to the VNC server at " + host + ":" + std::to_string(graphics.port));
  return fd;
}

Result<InterfaceStats> ManagerImpl::interface_stats(const xml::Uuid& uuid,
                                                    const std::string& device) {
  AMBER_TRY_ASSIGN(auto entry, get(uuid));
  std::lock_guard op(entry->op);
  AMBER_TRY_ASSIGN(auto vm, running(entry));
  const std::vector<xml::Interface>& nics = vm->live.devices.interfaces;
  std::optional<size_t> found;
  for (size_t i = 0; i < nics.size(); ++i) {
    // libvirt accepts the tap name, the MAC or the alias.
    if ((nics[i].target_dev && *nics[i].target_dev == device) || nics[i].mac == device ||
        nic_alias(i) == device)
      found = i;
  }
  if (!found)
    return Error(ErrorKind::kInvalidArgument, "invalid path, '" + device +
                                                  "' is not a known "
                                                  "interface");
  AMBER_TRY_ASSIGN(auto rows, vm->monitor->call<vmmctl::QueryNics>());
  for (const vmmctl::NicInfo& row : rows) {
    if (row.id != nic_alias(*found)) continue;
    InterfaceStats stats;
    stats.rx_bytes = static_cast<int64_t>(row.rx_bytes);
    stats.rx_packets = static_cast<int64_t>(row.rx_packets);
    stats.rx_errs = static_cast<int64_t>(row.rx_errors);
    stats.rx_drop = static_cast<int64_t>(row.rx_drops);
    stats.tx_bytes = static_cast<int64_t>(row.tx_bytes);
    stats.tx_packets = static_cast<int64_t>(row.tx_packets);
    stats.tx_errs = static_cast<int64_t>(row.tx_errors);
    stats.tx_drop = static_cast<int64_t>(row.tx_drops);
    return stats;
  }
  return Error(ErrorKind::kInternal, "amber-vmm reports no NIC " + nic_alias(*found));
}

namespace {

// IPv4 entries of the host's ARP table for MAC (virsh domifaddr --source arp).
std::vector<InterfaceAddress> arp_addresses(const std::string& mac) {
  std::vector<InterfaceAddress> out;
  std::ifstream in("/proc/net/arp");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    char ip[64], hw[64];
    unsigned type = 0, flags = 0;
    if (sscanf(line.c_str(), "%63s 0x%x 0x%x %63s", ip, &type, &flags, hw) != 4) continue;
    if (mac == hw && (flags & 0x2) != 0) out.push_back({VIR_IP_ADDR_TYPE_IPV4, ip, 0});
  }
  return out;
}

// The leases libvirt's network driver keeps for BRIDGE (dnsmasq's status
// file, a JSON array of {"ip-address", "mac-address", ...}).
std::vector<InterfaceAddress> dnsmasq_leases(const std::string& bridge, const std::string& mac) {
  std::vector<InterfaceAddress> out;
  std::ifstream in("/var/lib/libvirt/dnsmasq/" + bridge + ".status");
  if (!in) return out;
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto parsed = vmmctl::parse_json(text, text.size() + 1);
  if (!parsed.ok() || !parsed->is_array()) return out;
  for (const vmmctl::Json& row : *parsed) {
    const vmmctl::Json* ip = vmmctl::find_member(row, "ip-address");
    const vmmctl::Json* hw = vmmctl::find_member(row, "mac-address");
    if (ip == nullptr || hw == nullptr || !ip->is_string() || !hw->is_string()) continue;
    if (hw->get<std::string>() != mac) continue;
    const std::string address = ip->get<std::string>();
    const bool v6 = address.find(':') != std::string::npos;
    out.push_back({v6 ? VIR_IP_ADDR_TYPE_IPV6 : VIR_IP_ADDR_TYPE_IPV4, address, v6 ? 64u : 24u});
  }
  return out;
}

// The leases amber-vmm saw its user network hand to MAC on card ALIAS.
std::vector<InterfaceAddress> slirp_leases(const std::vector<vmmctl::NicInfo>& rows,
                                           const std::string& alias, const std::string& mac) {
  std::vector<InterfaceAddress> out;
  for (const vmmctl::NicInfo& row : rows) {
    if (row.id != alias) continue;
    for (const vmmctl::NicLease& lease : row.leases)
      if (lease.mac_address == mac)
        out.push_back({VIR_IP_ADDR_TYPE_IPV4, lease.ip_address, lease.prefix});
  }
  return out;
}

}  // namespace

Result<std::vector<InterfaceAddresses>> ManagerImpl::interface_addresses(const xml::Uuid& uuid,
                                                                         unsigned source,
                                                                         unsigned flags) {
  if (flags != 0) return unsupported_flags("interface addresses", flags);
  if (source == VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT)
    return Error(ErrorKind::kUnsupported,
                 "Guest agent is not configured (Amber has no guest agent channel yet)");
  if (source != VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE &&
      source != VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP)
    return Error(ErrorKind::kInvalidArgument,
                 "Unknown IP address data source " + std::to_string(source));
  AMBER_TRY_ASSIGN(auto entry, get(uuid));
  std::lock_guard op(entry->op);
  AMBER_TRY_ASSIGN(auto vm, running(entry));
  std::vector<xml::Interface> nics;
  {
    std::lock_guard lock(mutex_);
    nics = vm->live.devices.interfaces;
  }
  // User networking's leases come from amber-vmm (libslirp's DHCP server
  // runs inside it); a VMM that cannot answer leaves them out.
  std::vector<vmmctl::NicInfo> rows;
  if (source == VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE) {
    auto answered = vm->monitor->call<vmmctl::QueryNics>();
    if (answered.ok()) rows = std::move(answered).value();
  }
  std::vector<InterfaceAddresses> out;
  for (size_t i = 0; i < nics.size(); ++i) {
    const xml::Interface& nic = nics[i];
    InterfaceAddresses iface;
    iface.name = nic.target_dev.value_or(nic_alias(i));
    iface.hwaddr = nic.mac;
    if (source == VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP) {
      if (nic.type == xml::InterfaceType::kUser) continue;  // no host ARP entry
      iface.addresses = arp_addresses(nic.mac);
    } else if (nic.type == xml::InterfaceType::kUser) {
      iface.addresses = slirp_leases(rows, nic_alias(i), nic.mac);
    } else if (nic.source_bridge) {
      iface.addresses = dnsmasq_leases(*nic.source_bridge, nic.mac);
    }
    if (!iface.addresses.empty()) out.push_back(std::move(iface));
  }
  return out;
}

}  // namespace amber::driver::vm
