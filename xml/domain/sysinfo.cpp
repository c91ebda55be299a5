// SPDX-License-Identifier: GPL-2.0-or-later
// <sysinfo type='smbios'>: the bios, system, baseBoard and chassis
// entries with the names libvirt's schema allows, checked as libvirt's
// virSysinfoParseXML does (the BIOS date format, the system uuid against
// the domain's <uuid>), written back in libvirt's order.
#include <cctype>

#include "xml/domain/family.h"

namespace amber::xml::family {
namespace {

struct Block {
  const char* element;
  std::initializer_list<std::string_view> names;  // libvirt's order
  std::vector<SysinfoEntry> Sysinfo::*entries;
};

const Block kBlocks[] = {
    {"bios", {"vendor", "version", "date", "release"}, &Sysinfo::bios},
    {"system",
     {"manufacturer", "product", "version", "serial", "uuid", "sku", "family"},
     &Sysinfo::system},
    {"baseBoard",
     {"manufacturer", "product", "version", "serial", "asset", "location"},
     &Sysinfo::base_board},
    {"chassis", {"manufacturer", "version", "serial", "asset", "sku"}, &Sysinfo::chassis},
};

// libvirt's check: mm/dd/yy or mm/dd/yyyy, digits only.
bool valid_bios_date(const std::string& date) {
  if (date.size() != 8 && date.size() != 10) return false;
  for (size_t i = 0; i < date.size(); ++i) {
    const bool slash = i == 2 || i == 5;
    if (slash != (date[i] == '/')) return false;
    if (!slash && !std::isdigit(static_cast<unsigned char>(date[i]))) return false;
  }
  return true;
}

Result<std::vector<SysinfoEntry>> parse_block(const Node& node, const Block& block) {
  std::vector<std::string> values(block.names.size());
  for (const Node& entry : node.children()) {
    if (entry.name() != "entry")
      return xml_error("<" + entry.name() + "> in " + node.path() + " (only <entry>)");
    AMBER_TRY_ASSIGN(auto name, attribute_in(entry, "name", block.names));
    if (!name) return xml_error("missing attribute " + entry.path() + "/@name");
    size_t i = 0;
    for (std::string_view known : block.names) {
      if (known == *name) break;
      ++i;
    }
    if (values[i].empty()) values[i] = entry.text();  // the first one, as libvirt's XPath
  }
  std::vector<SysinfoEntry> out;
  size_t i = 0;
  for (std::string_view name : block.names) {
    if (!values[i].empty()) out.push_back({std::string(name), values[i]});
    ++i;
  }
  return out;
}

}  // namespace

Result<void> parse_sysinfo(const Node& root, bool uuid_given, Domain& domain) {
  AMBER_TRY_ASSIGN(auto node, root.unique_child("sysinfo"));
  if (!node) return ok();
  AMBER_TRY_ASSIGN(auto type, attribute_in(*node, "type", {"smbios"}));
  if (!type) return xml_error("missing attribute /domain/sysinfo/@type");
  Sysinfo sysinfo;
  for (const Block& block : kBlocks) {
    const std::vector<Node> found = node->children(block.element);
    // libvirt allows several baseBoard elements; amber-vmm has one type 2.
    if (found.size() > 1)
      return Error(ErrorKind::kUnsupported,
                   "unsupported configuration: /domain/sysinfo/" + std::string(block.element) +
                       "[2] (amber-vmm writes one SMBIOS structure per type)");
    if (found.empty()) continue;
    AMBER_TRY_ASSIGN(sysinfo.*block.entries, parse_block(found.front(), block));
  }
  for (const SysinfoEntry& entry : sysinfo.bios) {
    if (entry.name == "date" && !valid_bios_date(entry.value))
      return xml_error("Invalid BIOS 'date' format: " + entry.value);
  }
  for (SysinfoEntry& entry : sysinfo.system) {
    if (entry.name != "uuid") continue;
    auto uuid = Uuid::parse(entry.value);
    if (!uuid.ok()) return xml_error("malformed <sysinfo> uuid '" + entry.value + "'");
    if (!uuid_given) {
      domain.uuid = *uuid;  // libvirt takes the domain's UUID from here
    } else if (*uuid != domain.uuid) {
      return xml_error("UUID mismatch between <uuid> and <sysinfo>");
    }
    entry.value = uuid->to_string();
  }
  domain.sysinfo = std::move(sysinfo);
  return ok();
}

void format_sysinfo(const Domain& domain, Element& root) {
  if (!domain.sysinfo) return;
  Element& node = root.add("sysinfo").attr("type", "smbios");
  for (const Block& block : kBlocks) {
    const std::vector<SysinfoEntry>& entries = (*domain.sysinfo).*block.entries;
    if (entries.empty()) continue;
    Element& element = node.add(block.element);
    for (const SysinfoEntry& entry : entries)
      element.add("entry").attr("name", entry.name).text(entry.value);
  }
}

}  // namespace amber::xml::family
