// SPDX-License-Identifier: GPL-2.0-or-later
// The element families of a domain: each parses its part of a Node tree
// into Domain and formats it back. Internal to xml/domain/; callers use
// domain.h.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "xml/domain/domain.h"
#include "xml/node.h"
#include "xml/writer.h"

namespace amber::xml::family {

// The attribute's value when it is one of ALLOWED (an XML error otherwise).
Result<std::optional<std::string>> attribute_in(const Node& node, std::string_view name,
                                                std::initializer_list<std::string_view> allowed);
std::string yes_no(bool value);
std::string on_off(bool value);

Result<void> parse_general(const Node& root, Domain& domain);
void format_general(const Domain& domain, FormatFlags flags, Element& root);
Result<void> parse_memory(const Node& root, MemoryConfig& memory);
void format_memory(const MemoryConfig& memory, Element& root);
Result<void> parse_cpu(const Node& root, CpuConfig& cpu);
void format_vcpu(const CpuConfig& cpu, Element& root);
void format_cpu(const CpuConfig& cpu, Element& root);
// <sysinfo> after <uuid>: UUID_GIVEN says whether the domain had one (the
// system uuid entry gives it otherwise, as in libvirt).
Result<void> parse_sysinfo(const Node& root, bool uuid_given, Domain& domain);
void format_sysinfo(const Domain& domain, Element& root);
Result<void> parse_os(const Node& root, OsConfig& os);
void format_os(const OsConfig& os, Element& root);
Result<void> parse_features(const Node& root, Domain& domain);  // features, clock, lifecycle, pm
void format_features(const Domain& domain, Element& root);
void format_clock_lifecycle_pm(const Domain& domain, Element& root);
Result<void> parse_devices(const Node& root, Devices& devices);
void format_devices(const Devices& devices, FormatFlags flags, Element& root);

}  // namespace amber::xml::family
