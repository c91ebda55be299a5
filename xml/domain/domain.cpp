// SPDX-License-Identifier: GPL-2.0-or-later
// parse_domain / format_domain: the document-level order of families, the
// refusal pass before and the unknown-element pass after.
#include "xml/domain/domain.h"

#include "xml/domain/family.h"
#include "xml/domain/unsupported.h"

namespace amber::xml {
namespace {

Error unsupported(const Refusal& refusal) {
  return Error(ErrorKind::kUnsupported, refusal.message());
}

Result<Document> parse_document(std::string_view xml) {
  AMBER_TRY_ASSIGN(Document doc, Document::parse(xml));
  if (doc.root().name() != "domain") {
    return xml_error("the root element is <" + doc.root().name() + ">, expected <domain>");
  }
  return doc;
}

}  // namespace

Result<std::vector<Refusal>> find_unsupported(std::string_view xml) {
  AMBER_TRY_ASSIGN(Document doc, parse_document(xml));
  return find_refusals(doc.root());
}

Result<Domain> parse_domain(std::string_view xml, ParseFlags) {
  AMBER_TRY_ASSIGN(Document doc, parse_document(xml));
  const Node root = doc.root();
  std::vector<Refusal> refusals = find_refusals(root);
  if (!refusals.empty()) return unsupported(refusals.front());
  AMBER_TRY_ASSIGN(auto type, root.required_attribute("type"));
  (void)type;  // 'kvm': anything else is in the refusal table
  Domain domain;
  AMBER_TRY(family::parse_general(root, domain));
  AMBER_TRY(family::parse_memory(root, domain.memory));
  AMBER_TRY(family::parse_cpu(root, domain.cpu));
  AMBER_TRY(family::parse_sysinfo(root, root.child("uuid").has_value(), domain));
  AMBER_TRY(family::parse_os(root, domain.os));
  AMBER_TRY(family::parse_features(root, domain));
  AMBER_TRY(family::parse_devices(root, domain.devices));
  for (const Unconsumed& u : doc.unconsumed()) {
    if (u.attribute.empty())
      return unsupported({u.path, "unknown element, not supported by Amber"});
    return unsupported({u.path + "/@" + u.attribute, "unknown attribute, not supported by Amber"});
  }
  return domain;
}

std::string format_domain(const Domain& domain, FormatFlags flags) {
  return domain_element(domain, flags).render();
}

Element domain_element(const Domain& domain, FormatFlags flags) {
  Element root("domain");
  root.attr("type", "kvm");
  family::format_general(domain, flags, root);
  family::format_memory(domain.memory, root);
  family::format_vcpu(domain.cpu, root);
  family::format_sysinfo(domain, root);
  family::format_os(domain.os, root);
  family::format_features(domain, root);
  family::format_cpu(domain.cpu, root);
  family::format_clock_lifecycle_pm(domain, root);
  family::format_devices(domain.devices, flags, root);
  return root;
}

Result<void> validate_domain(std::string_view xml, const std::string& schema_path) {
  AMBER_TRY_ASSIGN(Document doc, Document::parse(xml));
  return doc.validate_relaxng(schema_path);
}

}  // namespace amber::xml
