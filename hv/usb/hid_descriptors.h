// SPDX-License-Identifier: GPL-2.0-or-later
// The descriptors of QEMU's USB HID devices (hw/usb/dev-hid.c, full
// speed): usb-tablet, usb-mouse and usb-kbd, all 0627:0001 from "QEMU",
// one configuration with one HID interface and one interrupt IN endpoint
// (0x81), bcdUSB 2.0 at full speed. A guest sees the same bytes as under QEMU 7.2 (checked by the
// vmm-usb-probe test against QEMU itself). All three have QEMU 7.2's
// usb_version=2 high-speed descriptors too (used behind an EHCI).
//
// Thread-safety: pure functions over constant tables.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "hv/usb/usb_device.h"

namespace amber::hv::usb {

enum class HidKind { kTablet, kMouse, kKeyboard };

// Device, configuration and string descriptors. QEMU makes the serial
// number string "<number>-<host controller's PCI address>-<port path>"
// ("28754-0000:00:01.2-1"); `serial_suffix` is that address and path
// (empty: the bare number).
UsbDescriptors hid_descriptors(HidKind kind, const std::string& serial_suffix = "");
// The HID report descriptor (GET_DESCRIPTOR type 0x22 to the interface).
std::span<const uint8_t> hid_report_descriptor(HidKind kind);
// wMaxPacketSize of the interrupt IN endpoint.
unsigned hid_report_packet_size(HidKind kind);

}  // namespace amber::hv::usb
