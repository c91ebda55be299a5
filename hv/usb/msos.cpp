// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/usb/msos.h"

#include <string_view>

namespace amber::hv::usb {
namespace {

constexpr uint16_t kExtendedCompatId = 4;
constexpr uint16_t kExtendedProperties = 5;
constexpr uint32_t kRegDword = 4;

void put16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v));
  out.push_back(static_cast<uint8_t>(v >> 8));
}

void put32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void set32(std::vector<uint8_t>& out, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

std::vector<uint8_t> compat_id() {
  std::vector<uint8_t> out;
  put32(out, 0);       // dwLength, below
  put16(out, 0x0100);  // bcdVersion 1.0
  put16(out, kExtendedCompatId);
  out.push_back(1);  // bCount: one function
  out.insert(out.end(), 7, 0);
  out.push_back(0);                     // bFirstInterfaceNumber
  out.push_back(1);                     // reserved, 1 as the specification says
  out.insert(out.end(), 8 + 8 + 6, 0);  // no compatible or sub-compatible ID
  set32(out, 0, static_cast<uint32_t>(out.size()));
  return out;
}

std::vector<uint8_t> properties() {
  constexpr std::u16string_view kName = u"SelectiveSuspendEnabled";
  std::vector<uint8_t> out;
  put32(out, 0);  // dwLength, below
  put16(out, 0x0100);
  put16(out, kExtendedProperties);
  put16(out, 1);  // wCount
  const size_t property = out.size();
  put32(out, 0);  // the property's dwLength, below
  put32(out, kRegDword);
  const uint16_t name_bytes = static_cast<uint16_t>((kName.size() + 1) * 2);
  put16(out, name_bytes);
  for (const char16_t c : kName) put16(out, static_cast<uint16_t>(c));
  put16(out, 0);
  put32(out, 4);  // dwPropertyDataLength
  put32(out, 1);  // enabled
  // QEMU counts the 10-byte property header twice and the data length
  // field not at all: 6 bytes more than written, sent as zeros.
  const size_t qemu_property = 10 + name_bytes + 10 + 4;
  out.resize(property + qemu_property, 0);
  set32(out, property, static_cast<uint32_t>(qemu_property));
  set32(out, 0, static_cast<uint32_t>(out.size()));
  return out;
}

}  // namespace

std::vector<uint8_t> msos_string_descriptor() {
  std::vector<uint8_t> out = {18, 3};  // bLength, STRING
  for (const char c : std::string_view("MSFT100")) put16(out, static_cast<uint8_t>(c));
  out.push_back(kMsosVendorCode);
  out.push_back(0);  // bPad
  return out;
}

std::vector<uint8_t> msos_descriptor(uint16_t index) {
  if (index == kExtendedCompatId) return compat_id();
  if (index == kExtendedProperties) return properties();
  return {};
}

}  // namespace amber::hv::usb
