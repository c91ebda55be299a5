// SPDX-License-Identifier: GPL-2.0-or-later
// Hyper-V enlightenments through KVM's own Hyper-V support: which of the
// enlightenments --hyperv asks for (vmmctl/hyperv.h) the host's KVM
// implements, a refusal naming the first one it lacks (never a silent
// drop), and the CPUID leaves 0x40000000..0x40000005 a Windows guest reads,
// built as QEMU 7.2 builds them for the same hv-* flags: "Microsoft Hv",
// "Hv#1", version 10.0.14393, the feature and recommendation bits of each
// enlightenment, the spinlock retries, 0x40 virtual processors. KVM's own
// leaves then move to 0x40000100 (as QEMU moves them), so a Linux guest
// still finds kvmclock there.
//
// What the kernel does with each enlightenment (the HV MSRs, SynIC, the
// reference TSC page, the synthetic timers) KVM does itself once the leaves
// say so; amber-vmm turns on KVM_CAP_HYPERV_SYNIC2 per vCPU for synic and
// answers the hypercalls KVM passes up (KVM_EXIT_HYPERV) as a Hyper-V host
// without VMBus does.
//
// Thread-safety: pure functions, except query_hv_support (ioctls).
#pragma once

#include <linux/kvm.h>

#include <string>
#include <vector>

#include "common/result.h"
#include "hv/kvm/kvm.h"
#include "vmmctl/hyperv.h"

namespace amber::hv::kvm {

inline constexpr uint32_t kHvLeafVendor = 0x40000000;
inline constexpr uint32_t kHvLeafInterface = 0x40000001;
inline constexpr uint32_t kHvLeafVersion = 0x40000002;
inline constexpr uint32_t kHvLeafFeatures = 0x40000003;
inline constexpr uint32_t kHvLeafRecommendations = 0x40000004;
inline constexpr uint32_t kHvLeafLimits = 0x40000005;
inline constexpr uint32_t kKvmLeafBaseWithHyperV = 0x40000100;
// HV_STATUS_INVALID_HYPERCALL_CODE, the answer to a hypercall nobody serves.
inline constexpr uint64_t kHvStatusInvalidHypercallCode = 2;

// What the host's KVM offers.
struct HvHostSupport {
  bool hyperv = false;  // KVM_CAP_HYPERV: the hypercall and guest-OS-id MSRs
  bool synic2 = false;  // KVM_CAP_HYPERV_SYNIC2
  // The Hyper-V leaves KVM can back (KVM_GET_SUPPORTED_HV_CPUID, or built
  // from the KVM_CAP_HYPERV* capabilities on kernels without it).
  std::vector<kvm_cpuid_entry2> leaves;
};

// Asks the system fd (KVM_CAP_SYS_HYPERV_CPUID) or, failing that, `vcpu`.
Result<HvHostSupport> query_hv_support(const KvmSystem& system, KvmVcpu& vcpu);

// ok, or an error naming the first enlightenment the host lacks or whose
// prerequisite was not asked for (stimer needs synic and time; synic needs
// vpindex), in QEMU's words.
Result<void> check_hyperv(const vmmctl::HyperVSettings& settings, const HvHostSupport& host);

// The guest's 0x40000000..0x40000005 leaves for `settings` (enabled()).
std::vector<kvm_cpuid_entry2> hyperv_leaves(const vmmctl::HyperVSettings& settings);

// `cpuid` (one vCPU's table) with KVM's 0x400000xx leaves moved up by
// 0x100 and the Hyper-V leaves in their place; unchanged when !enabled().
std::vector<kvm_cpuid_entry2> with_hyperv(const std::vector<kvm_cpuid_entry2>& cpuid,
                                          const vmmctl::HyperVSettings& settings);

}  // namespace amber::hv::kvm
