// SPDX-License-Identifier: GPL-2.0-or-later
// CPUID table for one vCPU: what KVM_GET_SUPPORTED_CPUID reports, with the
// per-vCPU identity (APIC id, topology) filled in and the hypervisor bit set.
//
// Hypervisor leaf: Amber keeps KVM's own 0x40000000 "KVMKVMKVM" signature
// and 0x40000001 feature leaf exactly as the kernel reports them, i.e. it is
// KVM-compatible: SeaBIOS and Linux then use kvmclock and the PV features
// the host kernel really implements. (A private signature would only hide
// them.)
//
// Thread-safety: pure function.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

namespace amber::hv::kvm {

std::vector<kvm_cpuid_entry2> build_cpuid(const std::vector<kvm_cpuid_entry2>& supported,
                                          unsigned vcpu_id, unsigned vcpu_count);

}  // namespace amber::hv::kvm
