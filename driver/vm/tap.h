// SPDX-License-Identifier: GPL-2.0-or-later
// Tap devices for a domain's bridge, ethernet and network interfaces: the
// daemon (root) creates them, adds them to the bridge and brings them up;
// amber-vmm gets the open descriptor and needs no privileges. A tap the
// daemon created is not persistent: it disappears when amber-vmm, the last
// holder, exits.
//
// Thread-safety: plain functions; the kernel serializes the ioctls.
#pragma once

#include <string>

#include "common/result.h"
#include "common/unique_fd.h"

namespace amber::driver::vm {

struct TapDevice {
  UniqueFd fd;
  std::string name;  // as the kernel named it (vnet0, ...)
};

// Creates (or, for an existing persistent tap such as an ethernet
// interface's managed='no' target, attaches to) the tap NAME; a NAME
// ending in "%d" lets the kernel pick the number. IFF_TAP | IFF_NO_PI.
Result<TapDevice> open_tap(const std::string& name);

// Adds TAP to the Linux bridge BRIDGE (which must exist) and brings TAP up.
Result<void> attach_to_bridge(const std::string& tap, const std::string& bridge);
Result<void> set_link_up(const std::string& tap);

// The bridge of libvirt's network NETWORK: the <bridge name=...> of its
// definition under CONFIG_DIR (/etc/libvirt/qemu/networks), or virbr0 for
// 'default' without one; an error naming the network when the host has no
// such bridge (Amber has no network driver of its own).
Result<std::string> network_bridge(const std::string& network,
                                   const std::string& config_dir = "/etc/libvirt/qemu/networks");

}  // namespace amber::driver::vm
