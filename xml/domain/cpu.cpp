// SPDX-License-Identifier: GPL-2.0-or-later
// <vcpu>, <iothreads> and <cpu mode='host-passthrough|host-model'>.
#include "xml/domain/family.h"

namespace amber::xml::family {
namespace {

// KVM's own vCPU ceiling on x86 (KVM_MAX_VCPUS); more is not a real guest.
constexpr uint64_t kMaxVcpus = 1024;
// iothreads beyond one per vCPU are never useful; a bound against nonsense.
constexpr uint64_t kMaxIothreads = 1024;

}  // namespace

Result<void> parse_cpu(const Node& root, CpuConfig& cpu) {
  AMBER_TRY_ASSIGN(auto vcpu, root.unique_child("vcpu"));
  if (vcpu) {
    AMBER_TRY_ASSIGN(cpu.vcpus, vcpu->text_uint());
    AMBER_TRY_ASSIGN(auto placement, attribute_in(*vcpu, "placement", {"static", "auto"}));
    cpu.placement = placement == "auto" ? VcpuPlacement::kAuto : VcpuPlacement::kStatic;
    AMBER_TRY_ASSIGN(cpu.current_vcpus, vcpu->attribute_uint("current"));
  }
  if (cpu.vcpus == 0 || cpu.vcpus > kMaxVcpus) {
    return xml_error("/domain/vcpu must be between 1 and " + std::to_string(kMaxVcpus));
  }
  if (cpu.current_vcpus && (*cpu.current_vcpus == 0 || *cpu.current_vcpus > cpu.vcpus)) {
    return xml_error("/domain/vcpu/@current must be between 1 and the vcpu count");
  }
  AMBER_TRY_ASSIGN(auto iothreads, root.unique_child("iothreads"));
  if (iothreads) {
    AMBER_TRY_ASSIGN(uint64_t n, iothreads->text_uint());
    if (n > kMaxIothreads)
      return xml_error("/domain/iothreads is over " + std::to_string(kMaxIothreads));
    cpu.iothreads = n;
  }
  AMBER_TRY_ASSIGN(auto node, root.unique_child("cpu"));
  if (!node) return ok();
  AMBER_TRY_ASSIGN(auto mode, attribute_in(*node, "mode", {"host-passthrough", "host-model"}));
  if (!mode) return xml_error("missing attribute /domain/cpu/@mode");
  cpu.mode = *mode == "host-model" ? CpuMode::kHostModel : CpuMode::kHostPassthrough;
  AMBER_TRY_ASSIGN(cpu.check, attribute_in(*node, "check", {"none", "partial", "full"}));
  AMBER_TRY_ASSIGN(cpu.migratable, attribute_in(*node, "migratable", {"on", "off"}));
  AMBER_TRY_ASSIGN(auto topology, node->unique_child("topology"));
  if (topology) {
    AMBER_TRY_ASSIGN(cpu.sockets, topology->attribute_uint("sockets"));
    AMBER_TRY_ASSIGN(cpu.dies, topology->attribute_uint("dies"));
    AMBER_TRY_ASSIGN(cpu.cores, topology->attribute_uint("cores"));
    AMBER_TRY_ASSIGN(cpu.threads, topology->attribute_uint("threads"));
  }
  for (const Node& feature : node->children("feature")) {
    AMBER_TRY_ASSIGN(auto policy, attribute_in(feature, "policy", {"disable"}));
    if (!policy) return xml_error("missing attribute " + feature.path() + "/@policy");
    AMBER_TRY_ASSIGN(auto name, feature.required_attribute("name"));
    cpu.disabled_features.push_back({name});
  }
  return ok();
}

void format_vcpu(const CpuConfig& cpu, Element& root) {
  Element& vcpu = root.add("vcpu");
  vcpu.attr("placement", cpu.placement == VcpuPlacement::kAuto ? "auto" : "static");
  vcpu.attr("current", cpu.current_vcpus);
  vcpu.text(std::to_string(cpu.vcpus));
  if (cpu.iothreads) root.add_text("iothreads", std::to_string(*cpu.iothreads));
}

void format_cpu(const CpuConfig& cpu, Element& root) {
  if (cpu.mode == CpuMode::kNone) return;
  Element& node = root.add("cpu");
  node.attr("mode", cpu.mode == CpuMode::kHostModel ? "host-model" : "host-passthrough");
  node.attr("check", cpu.check);
  node.attr("migratable", cpu.migratable);
  if (cpu.sockets || cpu.dies || cpu.cores || cpu.threads) {
    node.add("topology")
        .attr("sockets", cpu.sockets)
        .attr("dies", cpu.dies)
        .attr("cores", cpu.cores)
        .attr("threads", cpu.threads);
  }
  for (const CpuFeature& f : cpu.disabled_features)
    node.add("feature").attr("policy", "disable").attr("name", f.name);
}

}  // namespace amber::xml::family
