// SPDX-License-Identifier: GPL-2.0-or-later
// The device families of <devices> (disk.cpp, chardev.cpp, devices.cpp).
// Internal to xml/domain/.
#pragma once

#include "xml/domain/family.h"

namespace amber::xml::family {

Result<std::optional<PciAddress>> parse_address(const Node& device);
// multifunction: writes multifunction='on' (function 0 of a multi-function
// slot, as libvirt writes the usb2 set's ich9-uhci1).
void format_address(const std::optional<PciAddress>& address, Element& device,
                    bool multifunction = false);
Result<std::optional<std::string>> parse_alias(const Node& device);

Result<Disk> parse_disk(const Node& node);
void format_disk(const Disk& disk, FormatFlags flags, Element& devices);
Result<CharDevice> parse_chardev(const Node& node);
void format_chardev(const CharDevice& device, std::string_view element, FormatFlags flags,
                    Element& devices);

Result<Interface> parse_interface(const Node& node);
void format_interface(const Interface& nic, FormatFlags flags, Element& devices);
Result<Input> parse_input(const Node& node);
void format_input(const Input& input, FormatFlags flags, Element& devices);
Result<Graphics> parse_graphics(const Node& node);
void format_graphics(const Graphics& graphics, FormatFlags flags, Element& devices);
Result<Video> parse_video(const Node& node);
void format_video(const Video& video, FormatFlags flags, Element& devices);

}  // namespace amber::xml::family
