// SPDX-License-Identifier: GPL-2.0-or-later
// Microsoft OS 1.0 descriptors, as QEMU's HID devices (usb-tablet,
// usb-mouse, usb-kbd) answer them: string descriptor 0xEE ("MSFT100" and
// the vendor code 'Q'), then the vendor request 'Q' (device or interface
// recipient) with wIndex 4 (extended compat ID: one function, no ID) or 5
// (extended properties: SelectiveSuspendEnabled = 1, a REG_DWORD). Windows
// reads them once per device and keeps the property under the device's
// "Device Parameters", which makes its HID driver suspend the idle device.
//
// The property descriptor is byte for byte QEMU 7.2's, including its length
// fields, which count 6 bytes more than the property holds (zeros): a guest
// that met the QEMU device keeps seeing the same bytes.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <vector>

namespace amber::hv::usb {

inline constexpr uint8_t kMsosStringIndex = 0xEE;
inline constexpr uint8_t kMsosVendorCode = 'Q';

// The string descriptor at index 0xEE.
std::vector<uint8_t> msos_string_descriptor();
// The answer to vendor request 'Q' with wIndex `index`; empty (a STALL)
// for an index other than 4 and 5.
std::vector<uint8_t> msos_descriptor(uint16_t index);

}  // namespace amber::hv::usb
