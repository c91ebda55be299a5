// SPDX-License-Identifier: GPL-2.0-or-later
// <memory>, <currentMemory> (with libvirt's units, stored in KiB) and
// <memoryBacking><hugepages>.
#include <limits>

#include "xml/domain/family.h"

namespace amber::xml::family {
namespace {

struct Unit {
  std::string_view name;
  uint64_t bytes;
};

// libvirt's virScaleInteger: k/M/G/... are powers of 1024, KB/MB/... of 1000.
constexpr uint64_t kK = 1024, kD = 1000;
constexpr Unit kUnits[] = {
    {"b", 1},
    {"bytes", 1},
    {"k", kK},
    {"KiB", kK},
    {"KB", kD},
    {"M", kK* kK},
    {"MiB", kK* kK},
    {"MB", kD* kD},
    {"G", kK* kK* kK},
    {"GiB", kK* kK* kK},
    {"GB", kD* kD* kD},
    {"T", kK* kK* kK* kK},
    {"TiB", kK* kK* kK* kK},
    {"TB", kD* kD* kD* kD},
    {"P", kK* kK* kK* kK* kK},
    {"PiB", kK* kK* kK* kK* kK},
    {"PB", kD* kD* kD* kD* kD},
    {"E", kK* kK* kK* kK* kK* kK},
    {"EiB", kK* kK* kK* kK* kK* kK},
    {"EB", kD* kD* kD* kD* kD* kD},
};

// VALUE in UNIT (default KiB) as KiB, rounded up as libvirt does.
Result<uint64_t> to_kib(const Node& node, uint64_t value, const std::optional<std::string>& unit) {
  uint64_t scale = kK;
  if (unit) {
    scale = 0;
    for (const Unit& u : kUnits) {
      if (u.name == *unit) scale = u.bytes;
    }
    if (scale == 0) return xml_error("unknown unit '" + *unit + "' in " + node.path() + "/@unit");
  }
  if (value > std::numeric_limits<uint64_t>::max() / scale) {
    return xml_error("value " + std::to_string(value) + " " + unit.value_or("KiB") + " in " +
                     node.path() + " is too large");
  }
  const uint64_t bytes = value * scale;
  return bytes / kK + (bytes % kK != 0 ? 1 : 0);
}

Result<uint64_t> scaled(const Node& node) {
  AMBER_TRY_ASSIGN(uint64_t value, node.text_uint());
  return to_kib(node, value, node.attribute("unit"));
}

}  // namespace

Result<void> parse_memory(const Node& root, MemoryConfig& memory) {
  AMBER_TRY_ASSIGN(auto mem, root.unique_child("memory"));
  if (!mem) return xml_error("missing /domain/memory");
  AMBER_TRY_ASSIGN(memory.memory_kib, scaled(*mem));
  (void)mem->attribute("dumpCore");
  if (memory.memory_kib == 0) return xml_error("/domain/memory must be more than 0");
  memory.current_memory_kib = memory.memory_kib;
  AMBER_TRY_ASSIGN(auto current, root.unique_child("currentMemory"));
  if (current) {
    AMBER_TRY_ASSIGN(memory.current_memory_kib, scaled(*current));
    if (memory.current_memory_kib > memory.memory_kib) {
      return xml_error("/domain/currentMemory is larger than /domain/memory");
    }
  }
  AMBER_TRY_ASSIGN(auto backing, root.unique_child("memoryBacking"));
  if (!backing) return ok();
  AMBER_TRY_ASSIGN(auto huge, backing->unique_child("hugepages"));
  if (!huge) return ok();
  memory.hugepages = true;
  for (const Node& page : huge->children("page")) {
    AMBER_TRY_ASSIGN(auto size, page.attribute_uint("size"));
    if (!size) return xml_error("missing attribute " + page.path() + "/@size");
    AMBER_TRY_ASSIGN(uint64_t kib, to_kib(page, *size, page.attribute("unit")));
    memory.pages.push_back({kib});
  }
  return ok();
}

void format_memory(const MemoryConfig& memory, Element& root) {
  root.add("memory").attr("unit", "KiB").text(std::to_string(memory.memory_kib));
  root.add("currentMemory").attr("unit", "KiB").text(std::to_string(memory.current_memory_kib));
  if (!memory.hugepages) return;
  Element& huge = root.add("memoryBacking").add("hugepages");
  for (const HugePage& page : memory.pages) {
    huge.add("page").attr("size", page.size_kib).attr("unit", "KiB");
  }
}

}  // namespace amber::xml::family
