// SPDX-License-Identifier: GPL-2.0-or-later
#include "vmmctl/pci_address.h"

#include <charconv>
#include <cstdio>

namespace amber::vmmctl {
namespace {

Error bad(std::string message) {
  return Error(ErrorKind::kInvalidArgument, std::move(message));
}

// One hex number with an optional 0x/0X, the whole of TEXT.
bool parse_hex(std::string_view text, unsigned& value) {
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
    text.remove_prefix(2);
  if (text.empty() || text.size() > 8) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 16);
  return ec == std::errc() && ptr == text.data() + text.size();
}

}  // namespace

Result<PciSlot> parse_pci_slot(std::string_view text, std::string_view option) {
  const std::string quoted = std::string(option) + ": '" + std::string(text) + "'";
  PciSlot out;
  const size_t dot = text.find('.');
  if (!parse_hex(text.substr(0, dot), out.slot))
    return bad(quoted + " is not SLOT[.FUNCTION] in hex (0x5, 05.0)");
  if (dot != std::string_view::npos && !parse_hex(text.substr(dot + 1), out.function))
    return bad(quoted + " is not SLOT[.FUNCTION] in hex (0x5, 05.0)");
  if (out.slot > kMaxPciSlot) return bad(quoted + ": PCI bus 0 has slots 0x0 to 0x1f");
  if (out.function > kMaxPciFunction) return bad(quoted + ": a PCI slot has functions 0 to 7");
  return out;
}

std::string format_pci_slot(const PciSlot& slot) {
  char text[16];
  if (slot.function == 0)
    std::snprintf(text, sizeof text, "0x%x", slot.slot);
  else
    std::snprintf(text, sizeof text, "%02x.%x", slot.slot, slot.function);
  return text;
}

std::string pci_address_text(const PciSlot& slot) {
  char text[16];
  std::snprintf(text, sizeof text, "0000:00:%02x.%x", slot.slot & 0xff, slot.function & 0xf);
  return text;
}

Result<void> validate_device_slot(const PciSlot& slot, std::string_view option) {
  const std::string what = std::string(option) + " " + format_pci_slot(slot);
  if (slot.slot > kMaxPciSlot) return bad(what + ": PCI bus 0 has slots 0x0 to 0x1f");
  if (slot.slot < kFirstFreePciSlot)
    return bad(what + ": slots 0 and 1 are the host bridge and the PIIX3");
  if (slot.function != 0) return bad(what + ": the device has one function, 0");
  return ok();
}

}  // namespace amber::vmmctl
