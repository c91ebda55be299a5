// SPDX-License-Identifier: GPL-2.0-or-later
#include "xml/snapshot.h"

#include <array>
#include <utility>

#include "xml/node.h"
#include "xml/writer.h"

namespace amber::xml {

namespace {

constexpr std::array<std::pair<SnapshotLocation, std::string_view>, 4> kLocations = {{
    {SnapshotLocation::kNo, "no"},
    {SnapshotLocation::kInternal, "internal"},
    {SnapshotLocation::kExternal, "external"},
    {SnapshotLocation::kManual, "manual"},
}};

Error unsupported(std::string path, std::string reason) {
  return Error(ErrorKind::kUnsupported,
               "unsupported configuration: " + std::move(path) + " (" + std::move(reason) + ")");
}

// virDomainSnapshotLocationTypeFromString, naming the attribute on error.
Result<SnapshotLocation> location(const Node& node, std::string_view attribute) {
  auto value = node.attribute(attribute);
  if (!value) return SnapshotLocation::kDefault;
  for (const auto& [kind, name] : kLocations) {
    if (name == *value) return kind;
  }
  return xml_error("unknown snapshot location type '" + *value + "' (" + node.path() + "/@" +
                   std::string(attribute) + ")");
}

Result<void> parse_disk(const Node& node, DomainSnapshot& snapshot) {
  SnapshotDisk disk;
  auto name = node.attribute("name");
  if (!name || name->empty()) {
    return xml_error("missing name from disk snapshot element (" + node.path() + ")");
  }
  disk.name = *name;
  AMBER_TRY_ASSIGN(disk.snapshot, location(node, "snapshot"));
  // libvirt accepts type='file' for the external target.
  if (auto type = node.attribute("type"); type && *type != "file") {
    return unsupported(node.path() + "/@type='" + *type + "'",
                       "only file snapshot targets are supported");
  }
  AMBER_TRY_ASSIGN(auto source, node.unique_child("source"));
  if (source) disk.source_file = source->attribute("file");
  AMBER_TRY_ASSIGN(auto driver, node.unique_child("driver"));
  if (driver) disk.driver_type = driver->attribute("type");
  for (const SnapshotDisk& other : snapshot.disks) {
    if (other.name == disk.name) {
      return xml_error("disk '" + disk.name + "' specified twice in snapshot");
    }
  }
  snapshot.disks.push_back(std::move(disk));
  return ok();
}

Result<std::optional<std::string>> text_of(const Node& root, std::string_view name) {
  AMBER_TRY_ASSIGN(auto node, root.unique_child(name));
  if (!node) return std::optional<std::string>();
  return std::optional<std::string>(node->text());
}

// What only the daemon writes: the state, the parent, the creation time,
// the embedded domain and <active>.
Result<void> parse_stored(const Node& root, DomainSnapshot& snapshot) {
  AMBER_TRY_ASSIGN(snapshot.state, text_of(root, "state"));
  AMBER_TRY_ASSIGN(auto parent, root.unique_child("parent"));
  if (parent) {
    AMBER_TRY_ASSIGN(auto parent_name, text_of(*parent, "name"));
    if (!parent_name || parent_name->empty()) {
      return xml_error("missing parent name (/domainsnapshot/parent/name)");
    }
    snapshot.parent = *parent_name;
  }
  AMBER_TRY_ASSIGN(auto created, root.unique_child("creationTime"));
  if (created) {
    auto seconds = created->text_uint();
    if (!seconds.ok() || *seconds > static_cast<uint64_t>(INT64_MAX)) {
      return xml_error("malformed creationTime '" + created->text() + "'");
    }
    snapshot.creation_time = static_cast<int64_t>(*seconds);
  }
  AMBER_TRY_ASSIGN(auto domain, root.unique_child("domain"));
  if (domain) {
    AMBER_TRY_ASSIGN(Domain parsed, parse_domain(domain->outer_xml()));
    snapshot.domain = std::move(parsed);
  }
  AMBER_TRY_ASSIGN(auto active, text_of(root, "active"));
  if (active) {
    if (*active != "0" && *active != "1") {
      return xml_error("malformed active element '" + *active + "'");
    }
    snapshot.active = *active == "1";
  }
  return ok();
}

void skip_stored(const Node& root) {
  for (const char* name : {"state", "parent", "creationTime", "domain", "active"}) {
    for (const Node& n : root.children(name)) (void)n.outer_xml();
  }
}

}  // namespace

std::string_view to_string(SnapshotLocation location) {
  for (const auto& [kind, name] : kLocations) {
    if (kind == location) return name;
  }
  return "";
}

Result<void> check_snapshot_name(std::string_view name) {
  if (name.empty()) return xml_error("snapshot name must not be empty");
  if (name.size() > kMaxSnapshotNameLength) {
    return xml_error("snapshot name is longer than " + std::to_string(kMaxSnapshotNameLength) +
                     " bytes");
  }
  if (name.front() == '.') {
    return xml_error("invalid snapshot name '" + std::string(name) + "': must not start with '.'");
  }
  for (char c : name) {
    if (c == '/') {
      return xml_error("invalid snapshot name '" + std::string(name) + "': must not contain '/'");
    }
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return xml_error("invalid snapshot name: contains a control character");
    }
  }
  return ok();
}

Result<DomainSnapshot> parse_snapshot(std::string_view xml, SnapshotParse mode) {
  AMBER_TRY_ASSIGN(Document doc, Document::parse(xml));
  const Node root = doc.root();
  if (root.name() != "domainsnapshot") {
    return xml_error("unexpected root element <" + root.name() + ">, expecting <domainsnapshot>");
  }
  DomainSnapshot snapshot;
  AMBER_TRY_ASSIGN(auto name, text_of(root, "name"));
  if (name) {
    AMBER_TRY(check_snapshot_name(*name));
    snapshot.name = *name;
  }
  AMBER_TRY_ASSIGN(auto description, text_of(root, "description"));
  if (description && !description->empty()) snapshot.description = *description;
  AMBER_TRY_ASSIGN(auto memory, root.unique_child("memory"));
  if (memory) {
    AMBER_TRY_ASSIGN(snapshot.memory, location(*memory, "snapshot"));
    snapshot.memory_file = memory->attribute("file");
  }
  AMBER_TRY_ASSIGN(auto disks, root.unique_child("disks"));
  if (disks) {
    for (const Node& disk : disks->children("disk")) AMBER_TRY(parse_disk(disk, snapshot));
  }
  if (mode == SnapshotParse::kStored) {
    AMBER_TRY(parse_stored(root, snapshot));
  } else {
    skip_stored(root);
  }
  for (const Unconsumed& u : doc.unconsumed()) {
    if (u.attribute.empty()) return unsupported(u.path, "unknown element in snapshot XML");
    return unsupported(u.path + "/@" + u.attribute, "unknown attribute in snapshot XML");
  }
  return snapshot;
}

std::string format_snapshot(const DomainSnapshot& snapshot) {
  Element root("domainsnapshot");
  if (!snapshot.name.empty()) root.add_text("name", snapshot.name);
  if (snapshot.description) root.add_text("description", *snapshot.description);
  if (snapshot.state) root.add_text("state", *snapshot.state);
  if (snapshot.parent) root.add("parent").add_text("name", *snapshot.parent);
  if (snapshot.creation_time) {
    root.add_text("creationTime", std::to_string(*snapshot.creation_time));
  }
  if (snapshot.memory != SnapshotLocation::kDefault || snapshot.memory_file) {
    Element& memory = root.add("memory");
    if (snapshot.memory != SnapshotLocation::kDefault) {
      memory.attr("snapshot", std::string(to_string(snapshot.memory)));
    }
    memory.attr("file", snapshot.memory_file);
  }
  if (!snapshot.disks.empty()) {
    Element& disks = root.add("disks");
    for (const SnapshotDisk& disk : snapshot.disks) {
      Element& d = disks.add("disk");
      d.attr("name", disk.name);
      if (disk.snapshot != SnapshotLocation::kDefault) {
        d.attr("snapshot", std::string(to_string(disk.snapshot)));
      }
      if (disk.source_file || disk.driver_type) d.attr("type", "file");
      if (disk.driver_type) d.add("driver").attr("type", *disk.driver_type);
      if (disk.source_file) d.add("source").attr("file", *disk.source_file);
    }
  }
  if (snapshot.domain) root.add(domain_element(*snapshot.domain, FormatFlags::kInactive));
  if (snapshot.active) root.add_text("active", *snapshot.active ? "1" : "0");
  return root.render();
}

Result<void> validate_snapshot(std::string_view xml, const std::string& schema_path) {
  AMBER_TRY_ASSIGN(Document doc, Document::parse(xml));
  return doc.validate_relaxng(schema_path);
}

}  // namespace amber::xml
