// SPDX-License-Identifier: GPL-2.0-or-later
// <interface type='user'|'bridge'|'ethernet'|'network'>: the MAC, the
// source, the user network's <ip>, the tap <target>, <model>, <driver
// queues>, <link state>, <rom> and the PCI address. A missing MAC is
// generated as libvirt does (QEMU's OUI 52:54:00 and three random bytes).
#include <cctype>
#include <cstdio>
#include <random>

#include "xml/domain/devices.h"

namespace amber::xml::family {
namespace {

// "52:54:00:AB:cd:0f" -> lowercase, or an error naming the text.
Result<std::string> parse_mac(const std::string& text) {
  std::string out;
  if (text.size() != 17) return xml_error("unable to parse mac address '" + text + "'");
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i % 3 == 2) {
      if (c != ':') return xml_error("unable to parse mac address '" + text + "'");
      out += c;
      continue;
    }
    if (!std::isxdigit(static_cast<unsigned char>(c)))
      return xml_error("unable to parse mac address '" + text + "'");
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  // The low bit of the first byte marks a multicast address (libvirt's check).
  const int first = std::stoi(out.substr(0, 2), nullptr, 16);
  if (first & 1) return xml_error("expected unicast mac address, found multicast '" + text + "'");
  return out;
}

std::string generate_mac() {
  std::random_device device;
  char buf[18];
  snprintf(buf, sizeof buf, "52:54:00:%02x:%02x:%02x", device() & 0xff, device() & 0xff,
           device() & 0xff);
  return buf;
}

const char* type_name(InterfaceType type) {
  switch (type) {
    case InterfaceType::kUser:
      return "user";
    case InterfaceType::kBridge:
      return "bridge";
    case InterfaceType::kEthernet:
      return "ethernet";
    case InterfaceType::kNetwork:
      return "network";
  }
  return "user";
}

}  // namespace

Result<Interface> parse_interface(const Node& node) {
  Interface nic;
  AMBER_TRY_ASSIGN(auto type,
                   attribute_in(node, "type", {"user", "bridge", "ethernet", "network"}));
  if (!type) return xml_error("missing attribute " + node.path() + "/@type");
  nic.type = *type == "bridge"     ? InterfaceType::kBridge
             : *type == "ethernet" ? InterfaceType::kEthernet
             : *type == "network"  ? InterfaceType::kNetwork
                                   : InterfaceType::kUser;
  AMBER_TRY_ASSIGN(auto mac, node.unique_child("mac"));
  if (mac) {
    AMBER_TRY_ASSIGN(auto address, mac->required_attribute("address"));
    AMBER_TRY_ASSIGN(nic.mac, parse_mac(address));
  } else {
    nic.mac = generate_mac();
  }
  AMBER_TRY_ASSIGN(auto source, node.unique_child("source"));
  if (source) {
    nic.source_bridge = source->attribute("bridge");
    nic.source_network = source->attribute("network");
  }
  if (nic.type == InterfaceType::kBridge && !nic.source_bridge)
    return xml_error("No <source> 'bridge' attribute specified with <interface type='bridge'/>");
  if (nic.type == InterfaceType::kNetwork && !nic.source_network)
    return xml_error("No <source> 'network' attribute specified with <interface type='network'/>");
  for (const Node& ip : node.children("ip")) {
    InterfaceIp entry;
    entry.family = ip.attribute("family").value_or("ipv4");
    AMBER_TRY_ASSIGN(entry.address, ip.required_attribute("address"));
    AMBER_TRY_ASSIGN(entry.prefix, ip.attribute_uint("prefix"));
    nic.ips.push_back(std::move(entry));
  }
  AMBER_TRY_ASSIGN(auto target, node.unique_child("target"));
  if (target) {
    nic.target_dev = target->attribute("dev");
    AMBER_TRY_ASSIGN(nic.target_managed, target->attribute_bool("managed"));
  }
  AMBER_TRY_ASSIGN(auto model, node.unique_child("model"));
  if (model) {
    AMBER_TRY_ASSIGN(auto model_type, model->required_attribute("type"));
    nic.model = model_type;
  }
  AMBER_TRY_ASSIGN(auto driver, node.unique_child("driver"));
  if (driver) {
    AMBER_TRY_ASSIGN(nic.queues, driver->attribute_uint("queues"));
  }
  AMBER_TRY_ASSIGN(auto link, node.unique_child("link"));
  if (link) {
    AMBER_TRY_ASSIGN(nic.link_state, attribute_in(*link, "state", {"up", "down"}));
  }
  AMBER_TRY_ASSIGN(auto rom, node.unique_child("rom"));
  if (rom) {
    AMBER_TRY_ASSIGN(nic.rom_enabled, rom->attribute_bool("enabled"));
    nic.rom_file = rom->attribute("file");
  }
  AMBER_TRY_ASSIGN(nic.address, parse_address(node));
  AMBER_TRY_ASSIGN(nic.alias, parse_alias(node));
  return nic;
}

void format_interface(const Interface& nic, FormatFlags flags, Element& devices) {
  const bool live = !has_flag(flags, FormatFlags::kInactive);
  Element& node = devices.add("interface").attr("type", type_name(nic.type));
  node.add("mac").attr("address", nic.mac);
  if (nic.source_network) {
    Element& source = node.add("source").attr("network", *nic.source_network);
    if (live && nic.source_bridge) source.attr("bridge", *nic.source_bridge);
  } else if (nic.source_bridge) {
    node.add("source").attr("bridge", *nic.source_bridge);
  }
  for (const InterfaceIp& ip : nic.ips) {
    node.add("ip").attr("family", ip.family).attr("address", ip.address).attr("prefix", ip.prefix);
  }
  // A tap name the daemon chose (vnetN) belongs to the live XML only, as
  // in libvirt; one the user gave is kept.
  const bool chosen = nic.target_dev && nic.target_dev->rfind("vnet", 0) == 0;
  if (nic.target_dev && (live || !chosen)) {
    node.add("target")
        .attr("dev", *nic.target_dev)
        .attr("managed", nic.target_managed
                             ? std::optional<std::string>(yes_no(*nic.target_managed))
                             : std::nullopt);
  }
  if (nic.model) node.add("model").attr("type", *nic.model);
  if (nic.queues) node.add("driver").attr("queues", *nic.queues);
  if (nic.link_state) node.add("link").attr("state", *nic.link_state);
  if (live && nic.alias) node.add("alias").attr("name", *nic.alias);
  if (nic.rom_enabled || nic.rom_file) {
    Element& rom = node.add("rom");
    if (nic.rom_enabled) rom.attr("enabled", yes_no(*nic.rom_enabled));
    if (nic.rom_file) rom.attr("file", *nic.rom_file);
  }
  format_address(nic.address, node);
}

}  // namespace amber::xml::family
