// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/vm/tap.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "xml/node.h"

namespace amber::driver::vm {
namespace {

bool copy_name(const std::string& name, char (&out)[IFNAMSIZ]) {
  if (name.empty() || name.size() >= IFNAMSIZ) return false;
  std::memset(out, 0, IFNAMSIZ);
  std::memcpy(out, name.data(), name.size());
  return true;
}

Result<UniqueFd> control_socket() {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return Error::from_errno(errno, "socket(AF_INET) for interface ioctls");
  return fd;
}

bool is_bridge(const std::string& name) {
  struct stat st {};
  return ::stat(("/sys/class/net/" + name + "/bridge").c_str(), &st) == 0;
}

}  // namespace

Result<TapDevice> open_tap(const std::string& name) {
  ifreq request{};
  if (!copy_name(name, request.ifr_name))
    return Error(ErrorKind::kInvalidArgument, "tap device name '" + name + "' is not valid");
  UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
  if (!fd) return Error::from_errno(errno, "cannot open /dev/net/tun for a tap device");
  request.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (::ioctl(fd.get(), TUNSETIFF, &request) != 0)
    return Error::from_errno(errno, "cannot create tap device '" + name + "'");
  TapDevice tap;
  tap.fd = std::move(fd);
  tap.name = request.ifr_name;
  return tap;
}

Result<void> set_link_up(const std::string& tap) {
  AMBER_TRY_ASSIGN(UniqueFd sock, control_socket());
  ifreq request{};
  if (!copy_name(tap, request.ifr_name))
    return Error(ErrorKind::kInvalidArgument, "interface name '" + tap + "' is not valid");
  if (::ioctl(sock.get(), SIOCGIFFLAGS, &request) != 0)
    return Error::from_errno(errno, "cannot read the flags of '" + tap + "'");
  request.ifr_flags |= IFF_UP;
  if (::ioctl(sock.get(), SIOCSIFFLAGS, &request) != 0)
    return Error::from_errno(errno, "cannot bring '" + tap + "' up");
  return ok();
}

Result<void> attach_to_bridge(const std::string& tap, const std::string& bridge) {
  if (!is_bridge(bridge))
    return Error(ErrorKind::kNotFound, "Cannot get interface MTU on '" + bridge +
                                           "': No such device (no bridge of that name)");
  AMBER_TRY_ASSIGN(UniqueFd sock, control_socket());
  ifreq request{};
  if (!copy_name(bridge, request.ifr_name))
    return Error(ErrorKind::kInvalidArgument, "bridge name '" + bridge + "' is not valid");
  ifreq index{};
  if (!copy_name(tap, index.ifr_name) || ::ioctl(sock.get(), SIOCGIFINDEX, &index) != 0)
    return Error::from_errno(errno, "no interface '" + tap + "'");
  request.ifr_ifindex = index.ifr_ifindex;
  if (::ioctl(sock.get(), SIOCBRADDIF, &request) != 0)
    return Error::from_errno(errno, "cannot add '" + tap + "' to bridge '" + bridge + "'");
  return set_link_up(tap);
}

Result<std::string> network_bridge(const std::string& network, const std::string& config_dir) {
  std::string bridge;
  std::ifstream in(config_dir + "/" + network + ".xml");
  if (in) {
    std::stringstream text;
    text << in.rdbuf();
    // libvirt's network XML: <network><bridge name='virbr0' .../></network>.
    // A file that does not parse is treated as naming no bridge.
    auto doc = xml::Document::parse(text.str());
    if (doc.ok()) {
      if (auto node = doc->root().child("bridge")) bridge = node->attribute("name").value_or("");
    }
  }
  if (bridge.empty() && network == "default") bridge = "virbr0";
  if (bridge.empty())
    return Error(ErrorKind::kNotFound, "Network not found: no network with matching name '" +
                                           network +
                                           "' (Amber has no network driver; use "
                                           "<interface type='bridge'> or type='user')");
  if (!is_bridge(bridge))
    return Error(ErrorKind::kUnsupported,
                 "unsupported configuration: network '" + network + "' needs the bridge '" +
                     bridge +
                     "', which does not exist on this host (Amber has no network driver to "
                     "create it: start libvirt's network or use <interface type='bridge'> or "
                     "type='user')");
  return bridge;
}

}  // namespace amber::driver::vm
