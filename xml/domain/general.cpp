// SPDX-License-Identifier: GPL-2.0-or-later
// name, uuid, title, description, metadata, and the Uuid type.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <random>

#include "xml/domain/family.h"

namespace amber::xml {

Result<Uuid> Uuid::parse(std::string_view text) {
  Uuid uuid;
  std::size_t n = 0;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] == '-' || text[i] == ' ') {
      ++i;
      continue;
    }
    if (i + 1 >= text.size() || n >= 16 || hex(text[i]) < 0 || hex(text[i + 1]) < 0) {
      return xml_error("malformed uuid '" + std::string(text) + "'");
    }
    uuid.bytes[n++] = static_cast<uint8_t>(hex(text[i]) * 16 + hex(text[i + 1]));
    i += 2;
  }
  if (n != 16) return xml_error("malformed uuid '" + std::string(text) + "'");
  return uuid;
}

Uuid Uuid::generate() {
  Uuid uuid;
  std::random_device device;
  for (auto& b : uuid.bytes) b = static_cast<uint8_t>(device());
  uuid.bytes[6] = static_cast<uint8_t>((uuid.bytes[6] & 0x0f) | 0x40);
  uuid.bytes[8] = static_cast<uint8_t>((uuid.bytes[8] & 0x3f) | 0x80);
  return uuid;
}

std::string Uuid::to_string() const {
  char out[37];
  std::snprintf(out, sizeof(out),
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", bytes[0],
                bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8],
                bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]);
  return out;
}

namespace family {

Result<std::optional<std::string>> attribute_in(const Node& node, std::string_view name,
                                                std::initializer_list<std::string_view> allowed) {
  auto value = node.attribute(name);
  if (!value) return std::optional<std::string>();
  for (std::string_view a : allowed) {
    if (*value == a) return value;
  }
  std::string list;
  for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  return xml_error("invalid value '" + *value + "' in " + node.path() + "/@" + std::string(name) +
                   " (expected one of: " + list + ")");
}

std::string yes_no(bool value) {
  return value ? "yes" : "no";
}
std::string on_off(bool value) {
  return value ? "on" : "off";
}

Result<void> parse_general(const Node& root, Domain& domain) {
  AMBER_TRY_ASSIGN(auto id, root.attribute_uint("id"));
  if (id) domain.id = static_cast<int64_t>(*id);  // bounded: from_chars fits uint64; ids are small
  AMBER_TRY_ASSIGN(auto name, root.unique_child("name"));
  if (!name || name->text().empty()) return xml_error("missing /domain/name");
  domain.name = name->text();
  AMBER_TRY_ASSIGN(auto uuid, root.unique_child("uuid"));
  if (uuid) {
    AMBER_TRY_ASSIGN(domain.uuid, Uuid::parse(uuid->text()));
  } else {
    domain.uuid = Uuid::generate();
  }
  AMBER_TRY_ASSIGN(auto title, root.unique_child("title"));
  if (title) {
    domain.title = title->text();
    if (domain.title->find('\n') != std::string::npos)
      return xml_error("/domain/title must be one line");
  }
  AMBER_TRY_ASSIGN(auto description, root.unique_child("description"));
  if (description) domain.description = description->text();
  AMBER_TRY_ASSIGN(auto metadata, root.unique_child("metadata"));
  if (metadata) {
    domain.metadata = metadata->inner_xml("\n    ");
    // libxml2 writes namespace URIs unescaped: refuse what would not read
    // back, so the verbatim copy never turns into a malformed document.
    auto reread = Document::parse("<metadata>" + *domain.metadata + "</metadata>");
    if (!reread.ok())
      return xml_error("/domain/metadata cannot be kept verbatim: " + reread.error().context());
  }
  return ok();
}

void format_general(const Domain& domain, FormatFlags flags, Element& root) {
  if (domain.id && !has_flag(flags, FormatFlags::kInactive))
    root.attr("id", std::to_string(*domain.id));
  root.add_text("name", domain.name);
  root.add_text("uuid", domain.uuid.to_string());
  if (domain.title) root.add_text("title", *domain.title);
  if (domain.description) root.add_text("description", *domain.description);
  if (domain.metadata) {
    Element& m = root.add("metadata");
    if (!domain.metadata->empty()) m.raw(*domain.metadata);
  }
}

}  // namespace family
}  // namespace amber::xml
