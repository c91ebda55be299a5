// SPDX-License-Identifier: GPL-2.0-or-later
// Launch translation: a domain's XML (xml::Domain) plus what the daemon
// decides itself (LaunchContext) -> amber-vmm's launch settings. A pure
// function, no I/O, tested with golden files (tests/data/launch/).
//
// Everything the XML says that the settings cannot express is refused with
// kUnsupported "unsupported configuration: PATH (reason)", naming the XML
// path; nothing is dropped silently. What the XML leaves out takes
// libvirt's default where Amber has it (raw format, writeback cache).
//
// Thread-safety: pure function over values.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "vmmctl/launch.h"
#include "xml/domain/domain.h"

namespace amber::driver::vm {

struct LaunchContext {
  std::string control_socket;  // --control PATH
  // The backend of the XML's pty serial port / console: kPty normally; the
  // path is for kFile / kUnix (tests).
  vmmctl::SerialKind serial = vmmctl::SerialKind::kPty;
  std::string serial_path;
  // Firmware when the XML has neither <loader> nor <kernel>.
  std::string default_firmware = std::string(vmmctl::kDefaultFirmware);
  // The amber-vmm the daemon runs; an <emulator> naming another is refused.
  // Empty: any <emulator> is refused.
  std::string emulator;
  // The port the daemon chose for an autoport VNC display (5900 and up;
  // -1: none chosen), and the address when <graphics> names none
  // (libvirt's qemu.conf vnc_listen default).
  int64_t vnc_port = -1;
  std::string vnc_listen = "127.0.0.1";
  // The inherited descriptors (as amber-vmm will number them) of the tap
  // devices the daemon opened for the bridge, ethernet and network
  // interfaces, in the XML's order.
  std::vector<int> tap_fds;
};

struct LaunchPlan {
  vmmctl::LaunchSettings settings;
  // settings.disks[i] is domain.devices.disks[disk_index[i]]: the argv
  // order is the boot order (amber-vmm's fw_cfg bootorder follows the
  // slots), so disks with <boot order> go first.
  std::vector<size_t> disk_index;
  // settings.ide[i] is domain.devices.disks[ide_index[i]] (IDE drives, in
  // boot order; amber-vmm's firmware tries them before the virtio disks).
  std::vector<size_t> ide_index;
  // settings.scsi[i] is domain.devices.disks[scsi_index[i]] (SCSI disks, in
  // boot order; the firmware tries them after the virtio disks).
  std::vector<size_t> scsi_index;
};

Result<LaunchPlan> plan_launch(const xml::Domain& domain, const LaunchContext& context);

// The desktop devices of plan_launch (launch_desktop.cpp): <video>,
// <graphics type='vnc'>, the USB controller and inputs, <interface>.
Result<void> plan_desktop(const xml::Domain& domain, const LaunchContext& context,
                          vmmctl::LaunchSettings& settings);

// The SMBIOS strings of plan_launch (launch_smbios.cpp): <os><smbios
// mode='sysinfo'/> maps <sysinfo type='smbios'> onto --smbios; emulate or
// no mode leaves SMBIOS to QEMU's defaults; host is refused.
Result<void> plan_smbios(const xml::Domain& domain, vmmctl::SmbiosSettings& smbios);

// Pieces the launch files share (launch.cpp, launch_desktop.cpp,
// launch_smbios.cpp): a kUnsupported "unsupported configuration: PATH
// (REASON)" as xml/ words it, and the addr= of a device's <address
// type='pci'> at PATH (empty without one), refusing a domain or bus other
// than 0, a function other than 0 and slots 0 and 1.
Error refuse(const std::string& path, const std::string& reason);
Result<std::optional<vmmctl::PciSlot>> plan_pci_address(
    const std::optional<xml::PciAddress>& address, const std::string& path);

}  // namespace amber::driver::vm
