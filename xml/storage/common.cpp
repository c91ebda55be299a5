// SPDX-License-Identifier: GPL-2.0-or-later
#include "xml/storage/common.h"

#include <array>
#include <charconv>
#include <cstdio>
#include <string_view>
#include <utility>

namespace amber::xml {

namespace {

struct Unit {
  std::string_view name;
  uint64_t factor;
};

constexpr uint64_t kKi = 1024, kK = 1000;
constexpr std::array<Unit, 27> kUnits = {{
    {"", 1},
    {"b", 1},
    {"bytes", 1},
    {"k", kKi},
    {"kib", kKi},
    {"kb", kK},
    {"m", kKi* kKi},
    {"mib", kKi* kKi},
    {"mb", kK* kK},
    {"g", kKi* kKi* kKi},
    {"gib", kKi* kKi* kKi},
    {"gb", kK* kK* kK},
    {"t", kKi* kKi* kKi* kKi},
    {"tib", kKi* kKi* kKi* kKi},
    {"tb", kK* kK* kK* kK},
    {"p", kKi* kKi* kKi* kKi* kKi},
    {"pib", kKi* kKi* kKi* kKi* kKi},
    {"pb", kK* kK* kK* kK* kK},
    {"e", kKi* kKi* kKi* kKi* kKi* kKi},
    {"eib", kKi* kKi* kKi* kKi* kKi* kKi},
    {"eb", kK* kK* kK* kK* kK* kK},
    {"kilobytes", kK},
    {"megabytes", kK* kK},
    {"gigabytes", kK* kK* kK},
    {"byte", 1},
    {"kibibytes", kKi},
    {"mebibytes", kKi* kKi},
}};

std::string lower(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

Result<std::optional<int64_t>> parse_id(const Node& parent, std::string_view name) {
  auto node = parent.child(name);
  if (!node) return std::optional<int64_t>();
  const std::string text = node->text();
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < -1) {
    return xml_error("invalid id '" + text + "' in " + node->path());
  }
  return std::optional<int64_t>(value);
}

}  // namespace

Result<uint64_t> parse_scaled_size(const Node& node) {
  AMBER_TRY_ASSIGN(uint64_t value, node.text_uint());
  const std::string unit = lower(node.attribute("unit").value_or(""));
  for (const Unit& known : kUnits) {
    if (known.name != unit) continue;
    if (value > UINT64_MAX / known.factor) {
      return xml_error("size in " + node.path() + " does not fit in 64 bits");
    }
    return value * known.factor;
  }
  return xml_error("unknown unit '" + unit + "' in " + node.path());
}

void add_size(Element& parent, std::string name, uint64_t bytes) {
  parent.add(std::move(name)).attr("unit", "bytes").text(std::to_string(bytes));
}

Result<std::optional<StoragePermissions>> parse_permissions(const Node& parent) {
  AMBER_TRY_ASSIGN(auto node, parent.unique_child("permissions"));
  if (!node) return std::optional<StoragePermissions>();
  StoragePermissions out;
  if (auto mode = node->child("mode")) {
    const std::string text = mode->text();
    uint32_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 8);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value > 07777) {
      return xml_error("invalid mode '" + text + "' in " + mode->path());
    }
    out.mode = value;
  }
  AMBER_TRY_ASSIGN(out.owner, parse_id(*node, "owner"));
  AMBER_TRY_ASSIGN(out.group, parse_id(*node, "group"));
  if (auto label = node->child("label")) out.label = label->text();
  return std::optional<StoragePermissions>(out);
}

void format_permissions(Element& parent, const StoragePermissions& permissions) {
  Element& node = parent.add("permissions");
  if (permissions.mode) {
    char octal[8];
    std::snprintf(octal, sizeof octal, "%04o", *permissions.mode);
    node.add_text("mode", octal);
  }
  if (permissions.owner) node.add_text("owner", std::to_string(*permissions.owner));
  if (permissions.group) node.add_text("group", std::to_string(*permissions.group));
  if (permissions.label) node.add_text("label", *permissions.label);
}

}  // namespace amber::xml
