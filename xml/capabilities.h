// SPDX-License-Identifier: GPL-2.0-or-later
// Host capabilities and domain capabilities XML, as virsh capabilities and
// virsh domcapabilities print them: Amber advertises one x86_64 hvm guest
// with the kvm domain type and only the devices it supports.
//
// Pure formatting (no probing, no I/O): the driver fills the structs.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace amber::xml {

// The machine types Amber's i440FX platform answers to, canonical first.
inline constexpr const char* kCanonicalMachine = "pc-i440fx-7.2";

struct HostCapabilities {
  std::string host_uuid;     // the host's UUID (e.g. /etc/machine-id formatted)
  std::string emulator;      // path of amber-vmm, reported as the guest's emulator
  uint64_t max_vcpus = 255;  // per guest
  std::optional<uint64_t> sockets, cores, threads;  // host topology, when known
};

struct DomainCapabilitiesQuery {
  std::string emulator;  // as asked by the client, or amber-vmm's path
  std::string machine;   // empty: the canonical machine
  uint64_t max_vcpus = 255;
  std::vector<std::string> firmware;  // BIOS images offered as <loader> values
};

std::string format_capabilities(const HostCapabilities& caps);
std::string format_domain_capabilities(const DomainCapabilitiesQuery& query);

// Checks a virDomainGetCapabilities request: arch (empty or x86_64), virt
// type (empty or kvm) and machine (empty, pc or pc-i440fx-*); kUnsupported
// "unsupported configuration: ..." otherwise.
Result<void> check_domain_capabilities_query(const std::string& arch, const std::string& virttype,
                                             const std::string& machine);

}  // namespace amber::xml
