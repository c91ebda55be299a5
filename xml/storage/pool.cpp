// SPDX-License-Identifier: GPL-2.0-or-later
#include "xml/storage/pool.h"

namespace amber::xml {

namespace {

Result<PoolType> parse_type(const std::string& type) {
  if (type == "dir") return PoolType::kDir;
  if (type == "fs") return PoolType::kFs;
  if (type == "netfs") return PoolType::kNetfs;
  return Error(ErrorKind::kUnsupported, "unsupported configuration: storage pool type '" + type +
                                            "' is not supported by Amber (dir, fs and netfs are)");
}

std::optional<std::string> attribute_of(const Node& parent, std::string_view child,
                                        std::string_view attribute) {
  auto node = parent.child(child);
  if (!node) return std::nullopt;
  return node->attribute(attribute);
}

Result<void> parse_source(const Node& root, StoragePool& pool) {
  AMBER_TRY_ASSIGN(auto source, root.unique_child("source"));
  if (!source) {
    if (pool.type == PoolType::kDir) return {};
    return xml_error("missing <source> in a " + std::string(to_string(pool.type)) + " pool");
  }
  source->consume();
  pool.source_device = attribute_of(*source, "device", "path");
  pool.source_host = attribute_of(*source, "host", "name");
  pool.source_dir = attribute_of(*source, "dir", "path");
  pool.source_format = attribute_of(*source, "format", "type");
  if (pool.type == PoolType::kFs && !pool.source_device) {
    return xml_error("missing <source><device path=...> in an fs pool");
  }
  if (pool.type == PoolType::kNetfs && (!pool.source_host || !pool.source_dir)) {
    return xml_error("missing <source><host name=...> or <dir path=...> in a netfs pool");
  }
  return {};
}

}  // namespace

std::string_view to_string(PoolType type) {
  switch (type) {
    case PoolType::kDir:
      return "dir";
    case PoolType::kFs:
      return "fs";
    case PoolType::kNetfs:
      return "netfs";
  }
  return "dir";
}

Result<StoragePool> parse_storage_pool(std::string_view xml) {
  AMBER_TRY_ASSIGN(Document doc, Document::parse(xml));
  const Node root = doc.root();
  if (root.name() != "pool") {
    return xml_error("the root element is <" + root.name() + ">, expected <pool>");
  }
  StoragePool pool;
  AMBER_TRY_ASSIGN(std::string type, root.required_attribute("type"));
  AMBER_TRY_ASSIGN(pool.type, parse_type(type));
  AMBER_TRY_ASSIGN(auto name, root.unique_child("name"));
  if (!name || name->text().empty()) return xml_error("missing pool name in /pool/name");
  pool.name = name->text();
  AMBER_TRY_ASSIGN(auto uuid, root.unique_child("uuid"));
  if (uuid) {
    AMBER_TRY_ASSIGN(pool.uuid, Uuid::parse(uuid->text()));
  } else {
    pool.uuid = Uuid::generate();
  }
  if (auto node = root.child("capacity")) {
    AMBER_TRY_ASSIGN(pool.capacity, parse_scaled_size(*node));
  }
  if (auto node = root.child("allocation")) {
    AMBER_TRY_ASSIGN(pool.allocation, parse_scaled_size(*node));
  }
  if (auto node = root.child("available")) {
    AMBER_TRY_ASSIGN(pool.available, parse_scaled_size(*node));
  }
  AMBER_TRY(parse_source(root, pool));
  AMBER_TRY_ASSIGN(auto target, root.unique_child("target"));
  auto path = target ? target->child("path") : std::nullopt;
  if (!path || path->text().empty()) return xml_error("missing storage pool target path");
  pool.target_path = path->text();
  while (pool.target_path.size() > 1 && pool.target_path.back() == '/') pool.target_path.pop_back();
  if (pool.target_path.front() != '/') {
    return xml_error("storage pool target path '" + pool.target_path + "' is not absolute");
  }
  AMBER_TRY_ASSIGN(pool.permissions, parse_permissions(*target));
  return pool;
}

std::string format_storage_pool(const StoragePool& pool) {
  Element root("pool");
  root.attr("type", std::string(to_string(pool.type)));
  root.add_text("name", pool.name);
  root.add_text("uuid", pool.uuid.to_string());
  add_size(root, "capacity", pool.capacity);
  add_size(root, "allocation", pool.allocation);
  add_size(root, "available", pool.available);
  Element& source = root.add("source");
  if (pool.source_host) source.add("host").attr("name", *pool.source_host);
  if (pool.source_device) source.add("device").attr("path", *pool.source_device);
  if (pool.source_dir) source.add("dir").attr("path", *pool.source_dir);
  if (pool.source_format) source.add("format").attr("type", *pool.source_format);
  Element& target = root.add("target");
  target.add_text("path", pool.target_path);
  if (pool.permissions) format_permissions(target, *pool.permissions);
  return root.render();
}

}  // namespace amber::xml
