// SPDX-License-Identifier: GPL-2.0-or-later
#include "xml/secret.h"

#include <array>
#include <utility>

#include "xml/node.h"
#include "xml/writer.h"

namespace amber::xml {

namespace {

struct UsageSpelling {
  SecretUsageType type;
  std::string_view name;
  std::string_view id_element;  // the child carrying the usage id
  std::string_view missing;     // libvirt's words when it is absent
};

constexpr std::array<UsageSpelling, 6> kUsages = {{
    {SecretUsageType::kNone, "none", "", ""},
    {SecretUsageType::kVolume, "volume", "volume",
     "volume usage specified, but volume path is missing"},
    {SecretUsageType::kCeph, "ceph", "name", "Ceph usage specified, but name is missing"},
    {SecretUsageType::kIscsi, "iscsi", "target", "iSCSI usage specified, but target is missing"},
    {SecretUsageType::kTls, "tls", "name", "TLS usage specified, but name is missing"},
    {SecretUsageType::kVtpm, "vtpm", "name", "vTPM usage specified, but name is missing"},
}};

const UsageSpelling& spelling(SecretUsageType type) {
  for (const UsageSpelling& usage : kUsages) {
    if (usage.type == type) return usage;
  }
  return kUsages[0];
}

Error unsupported(std::string path, std::string reason) {
  return Error(ErrorKind::kUnsupported,
               "unsupported configuration: " + std::move(path) + " (" + std::move(reason) + ")");
}

// libvirt's virStringParseYesNo: exactly 'yes' or 'no'.
Result<bool> yes_no(const Node& root, std::string_view name) {
  auto value = root.attribute(name);
  if (!value) return false;
  if (*value == "yes") return true;
  if (*value == "no") return false;
  return xml_error("invalid value of '" + std::string(name) + "': /secret/@" + std::string(name) +
                   " must be 'yes' or 'no', not '" + *value + "'");
}

Result<void> parse_usage(const Node& usage, Secret& secret) {
  auto type = usage.attribute("type");
  if (!type) return xml_error("unknown secret usage type: /secret/usage has no type attribute");
  auto parsed = secret_usage_type_from_string(*type);
  if (!parsed) {
    return unsupported("/secret/usage/@type='" + *type + "'",
                       "unknown secret usage type '" + *type +
                           "'; libvirt knows none, volume, ceph, iscsi, tls and vtpm");
  }
  secret.usage_type = *parsed;
  const UsageSpelling& spell = spelling(*parsed);
  if (spell.id_element.empty()) return ok();
  AMBER_TRY_ASSIGN(auto id, usage.unique_child(spell.id_element));
  if (!id || id->text().empty()) {
    return xml_error(std::string(spell.missing) + " (/secret/usage/" +
                     std::string(spell.id_element) + ")");
  }
  secret.usage_id = id->text();
  return ok();
}

}  // namespace

std::string_view to_string(SecretUsageType type) {
  return spelling(type).name;
}

std::optional<SecretUsageType> secret_usage_type_from_string(std::string_view text) {
  for (const UsageSpelling& usage : kUsages) {
    if (usage.name == text) return usage.type;
  }
  return std::nullopt;
}

std::optional<SecretUsageType> secret_usage_type_from_int(int value) {
  for (const UsageSpelling& usage : kUsages) {
    if (static_cast<int>(usage.type) == value) return usage.type;
  }
  return std::nullopt;
}

Result<Secret> parse_secret(std::string_view xml) {
  AMBER_TRY_ASSIGN(Document doc, Document::parse(xml));
  const Node root = doc.root();
  if (root.name() != "secret") {
    return xml_error("unexpected root element <" + root.name() + ">, expecting <secret>");
  }
  Secret secret;
  AMBER_TRY_ASSIGN(secret.ephemeral, yes_no(root, "ephemeral"));
  AMBER_TRY_ASSIGN(secret.private_value, yes_no(root, "private"));
  AMBER_TRY_ASSIGN(auto uuid, root.unique_child("uuid"));
  if (uuid && !uuid->text().empty()) {
    auto parsed = Uuid::parse(uuid->text());
    if (!parsed.ok()) return xml_error("/secret/uuid: malformed uuid '" + uuid->text() + "'");
    secret.uuid = *parsed;
  } else {
    secret.uuid = Uuid::generate();
    secret.uuid_given = false;
  }
  AMBER_TRY_ASSIGN(auto description, root.unique_child("description"));
  if (description && !description->text().empty()) secret.description = description->text();
  AMBER_TRY_ASSIGN(auto usage, root.unique_child("usage"));
  if (usage) AMBER_TRY(parse_usage(*usage, secret));
  for (const Unconsumed& u : doc.unconsumed()) {
    if (u.attribute.empty()) return unsupported(u.path, "unknown element in secret XML");
    return unsupported(u.path + "/@" + u.attribute, "unknown attribute in secret XML");
  }
  return secret;
}

std::string format_secret(const Secret& secret) {
  Element root("secret");
  root.attr("ephemeral", secret.ephemeral ? "yes" : "no");
  root.attr("private", secret.private_value ? "yes" : "no");
  root.add_text("uuid", secret.uuid.to_string());
  if (secret.description) root.add_text("description", *secret.description);
  if (secret.usage_type != SecretUsageType::kNone) {
    const UsageSpelling& spell = spelling(secret.usage_type);
    Element& usage = root.add("usage");
    usage.attr("type", std::string(spell.name));
    usage.add_text(std::string(spell.id_element), secret.usage_id);
  }
  return root.render();
}

Result<void> validate_secret(std::string_view xml, const std::string& schema_path) {
  AMBER_TRY_ASSIGN(Document doc, Document::parse(xml));
  return doc.validate_relaxng(schema_path);
}

}  // namespace amber::xml
