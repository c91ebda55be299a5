// SPDX-License-Identifier: GPL-2.0-or-later
// <features> (acpi, apic, pae, hyperv, vmport), <clock> with its timers,
// on_poweroff/on_reboot/on_crash and <pm>.
#include "xml/domain/family.h"

namespace amber::xml::family {
namespace {

Result<LifecycleAction> parse_action(const Node& root, std::string_view name,
                                     LifecycleAction fallback) {
  AMBER_TRY_ASSIGN(auto node, root.unique_child(name));
  if (!node) return fallback;
  const std::string text = node->text();
  if (text == "destroy") return LifecycleAction::kDestroy;
  if (text == "restart") return LifecycleAction::kRestart;
  return xml_error("invalid value '" + text + "' in " + node->path() +
                   " (expected destroy or restart)");
}

const char* action_name(LifecycleAction action) {
  return action == LifecycleAction::kRestart ? "restart" : "destroy";
}

Result<std::optional<bool>> parse_state(const Node& node) {
  AMBER_TRY_ASSIGN(auto state, node.attribute_bool("state"));
  if (!state) return xml_error("missing attribute " + node.path() + "/@state");
  return state;
}

}  // namespace

Result<void> parse_features(const Node& root, Domain& domain) {
  Features& f = domain.features;
  AMBER_TRY_ASSIGN(auto features, root.unique_child("features"));
  if (features) {
    f.acpi = features->child("acpi").has_value();
    f.apic = features->child("apic").has_value();
    f.pae = features->child("pae").has_value();
    if (auto vmport = features->child("vmport")) {
      AMBER_TRY_ASSIGN(f.vmport, parse_state(*vmport));
    }
    AMBER_TRY_ASSIGN(auto hyperv, features->unique_child("hyperv"));
    if (hyperv) {
      f.hyperv = true;
      AMBER_TRY_ASSIGN(f.hyperv_mode, attribute_in(*hyperv, "mode", {"custom", "passthrough"}));
      for (const Node& e : hyperv->children()) {
        AMBER_TRY_ASSIGN(auto state, parse_state(e));
        if (e.name() == "relaxed") {
          f.relaxed = state;
        } else if (e.name() == "spinlocks") {
          f.spinlocks = state;
          AMBER_TRY_ASSIGN(f.spinlock_retries, e.attribute_uint("retries"));
        } else {
          f.hyperv_other.push_back({e.name(), state.value_or(false),
                                    e.name() == "vendor_id" ? e.attribute("value") : std::nullopt});
        }
      }
    }
  }
  AMBER_TRY_ASSIGN(auto clock, root.unique_child("clock"));
  if (clock) {
    AMBER_TRY_ASSIGN(auto offset, attribute_in(*clock, "offset", {"utc", "localtime"}));
    domain.clock.offset = offset == "localtime" ? ClockOffset::kLocaltime : ClockOffset::kUtc;
    for (const Node& t : clock->children("timer")) {
      Timer timer;
      AMBER_TRY_ASSIGN(
          auto name,
          attribute_in(t, "name", {"rtc", "pit", "hpet", "hypervclock", "kvmclock", "tsc"}));
      if (!name) return xml_error("missing attribute " + t.path() + "/@name");
      timer.name = *name;
      timer.tickpolicy = t.attribute("tickpolicy");
      AMBER_TRY_ASSIGN(timer.present, t.attribute_bool("present"));
      domain.clock.timers.push_back(std::move(timer));
    }
  }
  AMBER_TRY_ASSIGN(domain.lifecycle.on_poweroff,
                   parse_action(root, "on_poweroff", LifecycleAction::kDestroy));
  AMBER_TRY_ASSIGN(domain.lifecycle.on_reboot,
                   parse_action(root, "on_reboot", LifecycleAction::kRestart));
  AMBER_TRY_ASSIGN(domain.lifecycle.on_crash,
                   parse_action(root, "on_crash", LifecycleAction::kDestroy));
  AMBER_TRY_ASSIGN(auto pm, root.unique_child("pm"));
  if (pm) {
    if (auto mem = pm->child("suspend-to-mem")) {
      AMBER_TRY_ASSIGN(domain.pm.suspend_to_mem, mem->attribute_bool("enabled"));
    }
    if (auto disk = pm->child("suspend-to-disk")) {
      AMBER_TRY_ASSIGN(domain.pm.suspend_to_disk, disk->attribute_bool("enabled"));
    }
  }
  return ok();
}

void format_features(const Domain& domain, Element& root) {
  const Features& f = domain.features;
  if (!f.acpi && !f.apic && !f.pae && !f.hyperv && !f.vmport) return;
  Element& features = root.add("features");
  if (f.acpi) features.add("acpi");
  if (f.apic) features.add("apic");
  if (f.pae) features.add("pae");
  if (f.hyperv) {
    Element& hyperv = features.add("hyperv");
    hyperv.attr("mode", f.hyperv_mode);
    // libvirt's order: relaxed, vapic, spinlocks, then the rest as given.
    if (f.relaxed) hyperv.add("relaxed").attr("state", on_off(*f.relaxed));
    for (const HyperVFeature& other : f.hyperv_other) {
      if (other.name == "vapic") hyperv.add(other.name).attr("state", on_off(other.on));
    }
    if (f.spinlocks)
      hyperv.add("spinlocks")
          .attr("state", on_off(*f.spinlocks))
          .attr("retries", f.spinlock_retries);
    for (const HyperVFeature& other : f.hyperv_other) {
      if (other.name == "vapic") continue;
      hyperv.add(other.name).attr("state", on_off(other.on)).attr("value", other.value);
    }
  }
  if (f.vmport) features.add("vmport").attr("state", on_off(*f.vmport));
}

void format_clock_lifecycle_pm(const Domain& domain, Element& root) {
  Element& clock = root.add("clock");
  clock.attr("offset", domain.clock.offset == ClockOffset::kLocaltime ? "localtime" : "utc");
  for (const Timer& t : domain.clock.timers) {
    Element& timer = clock.add("timer");
    timer.attr("name", t.name).attr("tickpolicy", t.tickpolicy);
    if (t.present) timer.attr("present", yes_no(*t.present));
  }
  root.add_text("on_poweroff", action_name(domain.lifecycle.on_poweroff));
  root.add_text("on_reboot", action_name(domain.lifecycle.on_reboot));
  root.add_text("on_crash", action_name(domain.lifecycle.on_crash));
  if (domain.pm.suspend_to_mem || domain.pm.suspend_to_disk) {
    Element& pm = root.add("pm");
    if (domain.pm.suspend_to_mem)
      pm.add("suspend-to-mem").attr("enabled", yes_no(*domain.pm.suspend_to_mem));
    if (domain.pm.suspend_to_disk)
      pm.add("suspend-to-disk").attr("enabled", yes_no(*domain.pm.suspend_to_disk));
  }
}

}  // namespace amber::xml::family
