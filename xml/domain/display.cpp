// SPDX-License-Identifier: GPL-2.0-or-later
// The desktop devices: <graphics type='vnc'>, <video>, <input>. What
// amber-vmm cannot do with them (SPICE, other video models, a second
// display) is refused in unsupported.cpp; here the values are read and
// written back in libvirt's layout.
#include <charconv>

#include "xml/domain/devices.h"

namespace amber::xml::family {
namespace {

// The VNC port libvirt accepts: -1 (autoport) or 5900 and up, as QEMU's
// -vnc takes a display number (port - 5900).
constexpr int64_t kVncPortBase = 5900;
constexpr int64_t kMaxPort = 65535;

Result<int64_t> parse_port(const Node& node) {
  const std::optional<std::string> text = node.attribute("port");
  if (!text) return int64_t{-1};
  int64_t port = 0;
  const char* end = text->data() + text->size();
  auto [ptr, ec] = std::from_chars(text->data(), end, port);
  if (ec != std::errc() || ptr != end || port < -1 || port > kMaxPort)
    return xml_error("cannot parse vnc port " + *text);
  if (port != -1 && port != 0 && port < kVncPortBase)
    return xml_error("vnc port " + *text + " is below 5900 (QEMU takes a display number)");
  return port;
}

const char* input_type_name(InputType type) {
  switch (type) {
    case InputType::kMouse:
      return "mouse";
    case InputType::kTablet:
      return "tablet";
    case InputType::kKeyboard:
      return "keyboard";
  }
  return "mouse";
}

}  // namespace

Result<Graphics> parse_graphics(const Node& node) {
  Graphics g;
  AMBER_TRY_ASSIGN(auto type, attribute_in(node, "type", {"vnc"}));
  if (!type) return xml_error("missing attribute " + node.path() + "/@type");
  AMBER_TRY_ASSIGN(g.port, parse_port(node));
  AMBER_TRY_ASSIGN(auto autoport, node.attribute_bool("autoport"));
  // libvirt: port -1 (or none) means autoport; autoport='yes' drops a port.
  g.autoport = autoport.value_or(g.port <= 0);
  if (g.autoport || g.port == 0) {
    g.autoport = true;
    g.port = -1;
  }
  g.listen = node.attribute("listen");
  g.passwd = node.attribute("passwd");
  g.keymap = node.attribute("keymap");
  AMBER_TRY_ASSIGN(g.share_policy, attribute_in(node, "sharePolicy",
                                                {"allow-exclusive", "force-shared", "ignore"}));
  AMBER_TRY_ASSIGN(auto listen, node.unique_child("listen"));
  if (listen) {
    AMBER_TRY_ASSIGN(auto listen_type, attribute_in(*listen, "type", {"address"}));
    if (!listen_type) return xml_error("missing attribute " + listen->path() + "/@type");
    g.listen_element = true;
    const std::optional<std::string> address = listen->attribute("address");
    if (address && g.listen && *address != *g.listen)
      return xml_error("graphics 'listen' attribute '" + *g.listen +
                       "' must match 'address' attribute of first listen element (found '" +
                       *address + "')");
    if (address) g.listen = address;
  }
  return g;
}

void format_graphics(const Graphics& g, FormatFlags flags, Element& devices) {
  Element& node = devices.add("graphics").attr("type", "vnc");
  node.attr("port", std::to_string(g.port)).attr("autoport", yes_no(g.autoport));
  if (g.listen) node.attr("listen", *g.listen);
  if (g.keymap) node.attr("keymap", *g.keymap);
  if (g.share_policy) node.attr("sharePolicy", *g.share_policy);
  if (g.passwd && has_flag(flags, FormatFlags::kSecure)) node.attr("passwd", *g.passwd);
  if (g.listen_element || g.listen) {
    Element& listen = node.add("listen").attr("type", "address");
    if (g.listen) listen.attr("address", *g.listen);
  }
}

Result<Video> parse_video(const Node& node) {
  Video v;
  AMBER_TRY_ASSIGN(auto model, node.unique_child("model"));
  if (!model) return xml_error("missing element " + node.path() + "/model");
  AMBER_TRY_ASSIGN(v.model, model->required_attribute("type"));
  AMBER_TRY_ASSIGN(v.vram_kib, model->attribute_uint("vram"));
  AMBER_TRY_ASSIGN(v.heads, model->attribute_uint("heads"));
  AMBER_TRY_ASSIGN(v.primary, model->attribute_bool("primary"));
  // libvirt's default for a VGA without vram: 16 MiB (QEMU's vgamem_mb=16).
  if (v.model == "vga" && !v.vram_kib) v.vram_kib = 16384;
  if (v.model == "vga" && !v.heads) v.heads = 1;
  if (v.model == "vga" && !v.primary) v.primary = true;
  AMBER_TRY_ASSIGN(v.address, parse_address(node));
  AMBER_TRY_ASSIGN(v.alias, parse_alias(node));
  return v;
}

void format_video(const Video& v, FormatFlags flags, Element& devices) {
  Element& node = devices.add("video");
  Element& model = node.add("model").attr("type", v.model);
  if (v.vram_kib) model.attr("vram", *v.vram_kib);
  if (v.heads) model.attr("heads", *v.heads);
  if (v.primary && *v.primary) model.attr("primary", "yes");
  if (v.alias && !has_flag(flags, FormatFlags::kInactive)) node.add("alias").attr("name", *v.alias);
  format_address(v.address, node);
}

Result<Input> parse_input(const Node& node) {
  Input input;
  AMBER_TRY_ASSIGN(auto type, attribute_in(node, "type", {"mouse", "tablet", "keyboard"}));
  if (!type) return xml_error("missing attribute " + node.path() + "/@type");
  input.type = *type == "tablet"     ? InputType::kTablet
               : *type == "keyboard" ? InputType::kKeyboard
                                     : InputType::kMouse;
  AMBER_TRY_ASSIGN(auto bus, attribute_in(node, "bus", {"ps2", "usb"}));
  // libvirt's defaults on x86: a tablet is a USB device, mouse and keyboard PS/2.
  input.bus = bus ? (*bus == "usb" ? InputBus::kUsb : InputBus::kPs2)
                  : (input.type == InputType::kTablet ? InputBus::kUsb : InputBus::kPs2);
  if (input.bus == InputBus::kPs2 && input.type == InputType::kTablet)
    return Error(ErrorKind::kUnsupported,
                 "unsupported configuration: ps2 bus does not support tablet input device");
  AMBER_TRY_ASSIGN(auto address, node.unique_child("address"));
  if (address) {
    AMBER_TRY_ASSIGN(auto address_type, attribute_in(*address, "type", {"usb"}));
    if (!address_type) return xml_error("missing attribute " + address->path() + "/@type");
    if (input.bus != InputBus::kUsb)
      return xml_error("a USB address on a PS/2 input device (" + address->path() + ")");
    AMBER_TRY_ASSIGN(input.usb_bus, address->attribute_uint("bus"));
    input.usb_port = address->attribute("port");
  }
  AMBER_TRY_ASSIGN(input.alias, parse_alias(node));
  return input;
}

void format_input(const Input& input, FormatFlags flags, Element& devices) {
  Element& node = devices.add("input")
                      .attr("type", input_type_name(input.type))
                      .attr("bus", input.bus == InputBus::kUsb ? "usb" : "ps2");
  if (input.alias && !has_flag(flags, FormatFlags::kInactive))
    node.add("alias").attr("name", *input.alias);
  if (input.usb_bus || input.usb_port) {
    Element& address = node.add("address").attr("type", "usb");
    address.attr("bus", input.usb_bus).attr("port", input.usb_port);
  }
}

}  // namespace amber::xml::family
