// SPDX-License-Identifier: GPL-2.0-or-later
// build_vm: turns a Config into a ready-to-run Vm. Every device of the
// platform is created and attached in this one place (builder.cpp), in
// the order a reader would look for them; nothing attaches itself.
//
// Thread-safety: call from the main thread before Machine::run().
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "hv/devices/vga.h"
#include "hv/vmm/config.h"
#include "hv/vmm/ide_media.h"
#include "hv/vmm/machine.h"
#include "vmmctl/commands.h"

namespace amber::hv::virtio {
class BlkDevice;
class ScsiDisk;
}  // namespace amber::hv::virtio
namespace amber::hv::devices {
class I8042;
}
namespace amber::hv::net {
class DhcpSnoop;
class NicStats;
}  // namespace amber::hv::net
namespace amber::hv::display {
class VncServer;
}
namespace amber::hv::usb {
class HidDevice;
}

namespace amber::hv::vmm {

struct DiskHandle {
  std::string name;  // "disk0", ...
  std::string path;
  unsigned slot = 0;
  virtio::BlkDevice* device = nullptr;  // owned by the machine (via its transport)
};

// A --scsi disk: "scsi0-0-T-L" (libvirt's alias of it) in query-block
// and BLOCK_IO_ERROR.
struct ScsiDiskHandle {
  std::string id;
  std::string path;
  unsigned slot = 0;  // the controller's
  std::shared_ptr<virtio::ScsiDisk> disk;
};

struct NicHandle {
  std::string id;  // "net0", ...
  vmmctl::NicModel model = vmmctl::NicModel::kE1000;
  std::array<uint8_t, 6> mac{};
  unsigned slot = 0;
  const net::NicStats* stats = nullptr;  // owned by the machine (via the NIC)
  const net::DhcpSnoop* dhcp = nullptr;  // user networking's leases (via the backend); else null
};

struct Vm {
  std::unique_ptr<Machine> machine;
  std::vector<DiskHandle> disks;
  std::vector<IdeDriveHandle> ide;   // the --ide drives (query-block, eject)
  std::vector<ScsiDiskHandle> scsi;  // the --scsi disks (query-block)
  std::vector<NicHandle> nics;       // the --nic cards (query-nics)
  vmmctl::ChardevInfo serial;        // COM1's backend, for query-chardev
  // Presses the ACPI power button (any thread); true if the guest had
  // enabled it. Empty without a PIIX4 PM.
  std::function<bool()> power_button;
  // The display as RGB (--vga); empty without a display.
  std::function<Result<devices::Screen>()> screendump;
  devices::StdVga* vga = nullptr;  // --vga std (owned by the machine); else null
  // The PS/2 keyboard and mouse of the i8042 (any thread; owned by the
  // machine). Never null after build_vm.
  devices::I8042* ps2 = nullptr;
  // The USB HID devices of --usb-device in port order (owned by the
  // machine; their input methods are safe from any thread).
  std::vector<usb::HidDevice*> usb_hid;
  // An absolute pointing device (a USB tablet): x < width, y < height on
  // the display, buttons 1 left, 2 right, 4 middle, 8/16 wheel up/down
  // held (hv/display/vnc_pointer.h). Set by build_vm before the VNC server
  // starts (it reads it once); empty when the machine has none (the VNC
  // pointer then drives the PS/2 mouse). Called from the VNC thread.
  std::function<void(unsigned x, unsigned y, unsigned width, unsigned height, unsigned buttons)>
      pointer_absolute;
  // The VNC server (--vnc); null without. Last, so it stops first, before
  // the devices it reads and feeds go.
  std::unique_ptr<display::VncServer> vnc;

  Vm();
  ~Vm();
  Vm(const Vm&) = delete;
  Vm& operator=(const Vm&) = delete;
};

Result<std::unique_ptr<Vm>> build_vm(const Config& config);

}  // namespace amber::hv::vmm
