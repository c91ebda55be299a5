// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/usb/hid_descriptors.h"

namespace amber::hv::usb {
namespace {

constexpr uint16_t kVendorQemu = 0x0627;
constexpr uint16_t kProductHid = 0x0001;
constexpr uint8_t kClassHid = 0x03;
constexpr uint8_t kDescriptorInterface = 0x04;
constexpr uint8_t kDescriptorEndpoint = 0x05;
constexpr uint8_t kDescriptorHid = 0x21;
constexpr uint8_t kDescriptorReport = 0x22;
constexpr uint8_t kEndpointIn1 = 0x81;
constexpr uint8_t kTransferInterrupt = 0x03;
constexpr uint8_t kPollInterval = 0x0A;  // 10 ms
// High speed (QEMU's desc_device_*2): ep0 of 64 bytes, and the interrupt
// endpoint's bInterval in 2^(n-1) microframes: the tablet every 1 ms (4),
// the mouse and keyboard every 8 ms (7).
constexpr uint8_t kHighSpeedPacketSize0 = 64;
constexpr uint8_t kHighSpeedTabletInterval = 4;
constexpr uint8_t kHighSpeedInterval = 7;
constexpr uint8_t kAttributes = 0x80 | 0x20;  // bus powered, remote wakeup
constexpr uint8_t kMaxPower = 50;             // 100 mA

// String indices as QEMU numbers them.
enum : uint8_t {
  kStrManufacturer = 1,
  kStrProductMouse,
  kStrProductTablet,
  kStrProductKeyboard,
  kStrSerialCompat,
  kStrConfigMouse,
  kStrConfigTablet,
  kStrConfigKeyboard,
  kStrSerialMouse,
  kStrSerialTablet,
  kStrSerialKeyboard,
};

constexpr uint8_t kMouseReport[] = {
    0x05, 0x01, 0x09, 0x02, 0xA1, 0x01,  // Generic Desktop, Mouse, Application
    0x09, 0x01, 0xA1, 0x00,              // Pointer, Physical
    0x05, 0x09, 0x19, 0x01, 0x29, 0x05,  // Buttons 1..5 (side, extra)
    0x15, 0x00, 0x25, 0x01, 0x95, 0x05, 0x75, 0x01, 0x81, 0x02,  // 5 x 1 bit
    0x95, 0x01, 0x75, 0x03, 0x81, 0x01,                          // 3 bits padding
    0x05, 0x01, 0x09, 0x30, 0x09, 0x31, 0x09, 0x38,              // X, Y, Wheel
    0x15, 0x81, 0x25, 0x7F, 0x75, 0x08, 0x95, 0x03, 0x81, 0x06,  // -127..127 relative
    0xC0, 0xC0,
};

constexpr uint8_t kTabletReport[] = {
    0x05, 0x01, 0x09, 0x02, 0xA1, 0x01,  // Generic Desktop, Mouse, Application
    0x09, 0x01, 0xA1, 0x00,              // Pointer, Physical
    0x05, 0x09, 0x19, 0x01, 0x29, 0x03,  // Buttons 1..3
    0x15, 0x00, 0x25, 0x01, 0x95, 0x03, 0x75, 0x01, 0x81, 0x02,  // 3 x 1 bit
    0x95, 0x01, 0x75, 0x05, 0x81, 0x01,                          // 5 bits padding
    0x05, 0x01, 0x09, 0x30, 0x09, 0x31,                          // X, Y
    0x15, 0x00, 0x26, 0xFF, 0x7F,                                // logical 0..0x7FFF
    0x35, 0x00, 0x46, 0xFF, 0x7F,                                // physical 0..0x7FFF
    0x75, 0x10, 0x95, 0x02, 0x81, 0x02,                          // 2 x 16 bits absolute
    0x05, 0x01, 0x09, 0x38,                                      // Wheel
    0x15, 0x81, 0x25, 0x7F, 0x35, 0x00, 0x45, 0x00,              // -127..127
    0x75, 0x08, 0x95, 0x01, 0x81, 0x06,                          // 8 bits relative
    0xC0, 0xC0,
};

constexpr uint8_t kKeyboardReport[] = {
    0x05, 0x01, 0x09, 0x06, 0xA1, 0x01,                          // Keyboard, Application
    0x75, 0x01, 0x95, 0x08, 0x05, 0x07, 0x19, 0xE0, 0x29, 0xE7,  // modifiers
    0x15, 0x00, 0x25, 0x01, 0x81, 0x02,                          //
    0x95, 0x01, 0x75, 0x08, 0x81, 0x01,                          // reserved byte
    0x95, 0x05, 0x75, 0x01, 0x05, 0x08, 0x19, 0x01, 0x29, 0x05,  // 5 LEDs
    0x91, 0x02, 0x95, 0x01, 0x75, 0x03, 0x91, 0x01,              // + 3 bits padding
    0x95, 0x06, 0x75, 0x08, 0x15, 0x00, 0x25, 0xFF,              // 6 key slots
    0x05, 0x07, 0x19, 0x00, 0x29, 0xFF, 0x81, 0x00,              //
    0xC0,
};

struct Identity {
  uint8_t product_string;
  uint8_t serial_string;
  uint8_t config_string;
  uint8_t subclass;  // 1 = boot interface
  uint8_t protocol;  // 1 keyboard, 2 mouse
  uint16_t hid_version;
  uint8_t packet_size;
};

Identity identity(HidKind kind) {
  switch (kind) {
    case HidKind::kTablet:
      return {kStrProductTablet, kStrSerialTablet, kStrConfigTablet, 0, 0, 0x0001, 8};
    case HidKind::kMouse:
      return {kStrProductMouse, kStrSerialMouse, kStrConfigMouse, 1, 2, 0x0001, 4};
    case HidKind::kKeyboard:
      return {kStrProductKeyboard, kStrSerialKeyboard, kStrConfigKeyboard, 1, 1, 0x0111, 8};
  }
  return {};
}

void put16(std::vector<uint8_t>& out, unsigned value) {
  out.push_back(static_cast<uint8_t>(value));
  out.push_back(static_cast<uint8_t>(value >> 8));
}

}  // namespace

std::span<const uint8_t> hid_report_descriptor(HidKind kind) {
  switch (kind) {
    case HidKind::kTablet:
      return kTabletReport;
    case HidKind::kMouse:
      return kMouseReport;
    case HidKind::kKeyboard:
      return kKeyboardReport;
  }
  return {};
}

unsigned hid_report_packet_size(HidKind kind) {
  return identity(kind).packet_size;
}

UsbDescriptors hid_descriptors(HidKind kind, const std::string& serial_suffix) {
  const Identity id = identity(kind);
  UsbDescriptors d;
  d.device = {18, kDescriptorDevice};
  put16(d.device, 0x0200);                        // bcdUSB 2.0 (QEMU 7.2 says so at full speed too)
  d.device.insert(d.device.end(), {0, 0, 0, 8});  // class in interface; ep0 8 bytes
  put16(d.device, kVendorQemu);
  put16(d.device, kProductHid);
  put16(d.device, 0x0000);  // bcdDevice
  d.device.insert(d.device.end(), {kStrManufacturer, id.product_string, id.serial_string, 1});

  const size_t report_length = hid_report_descriptor(kind).size();
  std::vector<uint8_t>& c = d.configuration;
  c = {9, kDescriptorConfiguration};
  put16(c, 9 + 9 + 9 + 7);
  c.insert(c.end(), {1, d.configuration_value, id.config_string, kAttributes, kMaxPower});
  c.insert(c.end(), {9, kDescriptorInterface, 0, 0, 1, kClassHid, id.subclass, id.protocol, 0});
  c.insert(c.end(), {9, kDescriptorHid});
  put16(c, id.hid_version);
  c.insert(c.end(), {0, 1, kDescriptorReport});
  put16(c, static_cast<unsigned>(report_length));
  c.insert(c.end(), {7, kDescriptorEndpoint, kEndpointIn1, kTransferInterrupt});
  put16(c, id.packet_size);
  c.push_back(kPollInterval);

  // The high-speed pair: the same bytes but ep0's size and the interval.
  d.high_device = d.device;
  d.high_device[7] = kHighSpeedPacketSize0;
  d.high_configuration = c;
  d.high_configuration.back() =
      kind == HidKind::kTablet ? kHighSpeedTabletInterval : kHighSpeedInterval;

  d.strings = {"QEMU",
               "QEMU USB Mouse",
               "QEMU USB Tablet",
               "QEMU USB Keyboard",
               "42",
               "HID Mouse",
               "HID Tablet",
               "HID Keyboard",
               "89126",
               "28754",
               "68284"};
  if (!serial_suffix.empty()) d.strings[id.serial_string - 1] += "-" + serial_suffix;
  d.msos = true;  // QEMU's desc_msos_suspend: SelectiveSuspendEnabled
  return d;
}

}  // namespace amber::hv::usb
