// SPDX-License-Identifier: GPL-2.0-or-later
#include "xml/storage/volume.h"

namespace amber::xml {

namespace {

Result<std::optional<uint64_t>> optional_size(const Node& root, std::string_view name) {
  AMBER_TRY_ASSIGN(auto node, root.unique_child(name));
  if (!node) return std::optional<uint64_t>();
  AMBER_TRY_ASSIGN(uint64_t bytes, parse_scaled_size(*node));
  return std::optional<uint64_t>(bytes);
}

std::optional<std::string> format_type(const Node& parent) {
  auto format = parent.child("format");
  if (!format) return std::nullopt;
  return format->attribute("type");
}

Result<void> parse_target(const Node& target, StorageVolume& volume) {
  target.consume();
  if (auto path = target.child("path")) volume.target_path = path->text();
  volume.format = format_type(target);
  AMBER_TRY_ASSIGN(volume.permissions, parse_permissions(target));
  if (auto compat = target.child("compat")) volume.compat = compat->text();
  if (auto cluster = target.child("clusterSize")) {
    AMBER_TRY_ASSIGN(uint64_t bytes, parse_scaled_size(*cluster));
    volume.cluster_size = bytes;
  }
  if (auto features = target.child("features")) {
    volume.lazy_refcounts = features->child("lazy_refcounts").has_value();
    volume.extended_l2 = features->child("extended_l2").has_value();
  }
  AMBER_TRY_ASSIGN(auto encryption, target.unique_child("encryption"));
  if (encryption) {
    VolumeEncryption out;
    AMBER_TRY_ASSIGN(out.format, encryption->required_attribute("format"));
    if (auto secret = encryption->child("secret")) out.secret_uuid = secret->attribute("uuid");
    volume.encryption = out;
  }
  return {};
}

}  // namespace

Result<StorageVolume> parse_storage_volume(std::string_view xml) {
  AMBER_TRY_ASSIGN(Document doc, Document::parse(xml));
  const Node root = doc.root();
  if (root.name() != "volume") {
    return xml_error("the root element is <" + root.name() + ">, expected <volume>");
  }
  StorageVolume volume;
  volume.type = root.attribute("type").value_or("file");
  AMBER_TRY_ASSIGN(auto name, root.unique_child("name"));
  if (!name || name->text().empty()) return xml_error("missing volume name in /volume/name");
  volume.name = name->text();
  if (auto key = root.child("key")) volume.key = key->text();
  AMBER_TRY_ASSIGN(volume.capacity, optional_size(root, "capacity"));
  AMBER_TRY_ASSIGN(volume.allocation, optional_size(root, "allocation"));
  AMBER_TRY_ASSIGN(volume.physical, optional_size(root, "physical"));
  AMBER_TRY_ASSIGN(auto target, root.unique_child("target"));
  if (target) {
    AMBER_TRY(parse_target(*target, volume));
  }
  AMBER_TRY_ASSIGN(auto backing, root.unique_child("backingStore"));
  if (backing) {
    backing->consume();
    auto path = backing->child("path");
    if (path && !path->text().empty()) {
      VolumeBacking out;
      out.path = path->text();
      out.format = format_type(*backing);
      AMBER_TRY_ASSIGN(out.permissions, parse_permissions(*backing));
      volume.backing = out;
    }
  }
  return volume;
}

std::string format_storage_volume(const StorageVolume& volume) {
  Element root("volume");
  root.attr("type", volume.type);
  root.add_text("name", volume.name);
  root.add_text("key", volume.key);
  if (volume.capacity) add_size(root, "capacity", *volume.capacity);
  if (volume.allocation) add_size(root, "allocation", *volume.allocation);
  if (volume.physical) add_size(root, "physical", *volume.physical);
  Element& target = root.add("target");
  target.add_text("path", volume.target_path);
  if (volume.format) target.add("format").attr("type", *volume.format);
  if (volume.permissions) format_permissions(target, *volume.permissions);
  if (volume.compat) target.add_text("compat", *volume.compat);
  if (volume.cluster_size) {
    target.add("clusterSize").attr("unit", "B").text(std::to_string(*volume.cluster_size));
  }
  if (volume.lazy_refcounts || volume.extended_l2) {
    Element& features = target.add("features");
    if (volume.lazy_refcounts) features.add("lazy_refcounts");
    if (volume.extended_l2) features.add("extended_l2");
  }
  if (volume.encryption) {
    Element& encryption = target.add("encryption");
    encryption.attr("format", volume.encryption->format);
    if (volume.encryption->secret_uuid) {
      encryption.add("secret")
          .attr("type", "passphrase")
          .attr("uuid", *volume.encryption->secret_uuid);
    }
  }
  if (volume.backing) {
    Element& backing = root.add("backingStore");
    backing.add_text("path", volume.backing->path);
    if (volume.backing->format) backing.add("format").attr("type", *volume.backing->format);
    if (volume.backing->permissions) format_permissions(backing, *volume.backing->permissions);
  }
  return root.render();
}

}  // namespace amber::xml
