// SPDX-License-Identifier: GPL-2.0-or-later
// The device families of <devices> (disk.cpp, chardev.cpp, devices.cpp).
// Internal to xml/domain/.
#pragma once

#include "xml/domain/family.h"

namespace amber::xml::family {

Result<std::optional<PciAddress>> parse_address(const Node& device);
void format_address(const std::optional<PciAddress>& address, Element& device);
Result<std::optional<std::string>> parse_alias(const Node& device);

Result<Disk> parse_disk(const Node& node);
void format_disk(const Disk& disk, FormatFlags flags, Element& devices);
Result<CharDevice> parse_chardev(const Node& node);
void format_chardev(const CharDevice& device, std::string_view element, FormatFlags flags,
                    Element& devices);

}  // namespace amber::xml::family
