// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/kvm/hyperv.h"

#include <cstring>

namespace amber::hv::kvm {
namespace {

using vmmctl::HyperVFeature;

// The Hyper-V TLFS bits (CPUID 0x40000003 and 0x40000004).
constexpr uint32_t kVpRuntimeAvailable = 1u << 0;
constexpr uint32_t kTimeRefCountAvailable = 1u << 1;
constexpr uint32_t kSynicAvailable = 1u << 2;
constexpr uint32_t kSyntimersAvailable = 1u << 3;
constexpr uint32_t kApicAccessAvailable = 1u << 4;
constexpr uint32_t kHypercallAvailable = 1u << 5;
constexpr uint32_t kVpIndexAvailable = 1u << 6;
constexpr uint32_t kResetAvailable = 1u << 7;
constexpr uint32_t kReferenceTscAvailable = 1u << 9;
constexpr uint32_t kAccessFrequencyMsrs = 1u << 11;
constexpr uint32_t kEdxCpuDynamicPartitioning = 1u << 3;
constexpr uint32_t kEdxFrequencyMsrsAvailable = 1u << 8;
constexpr uint32_t kEbxPostMessages = 1u << 4;
constexpr uint32_t kEbxSignalEvents = 1u << 5;
constexpr uint32_t kApicAccessRecommended = 1u << 3;
constexpr uint32_t kRelaxedTimingRecommended = 1u << 5;

enum class Reg { kEax, kEdx };

struct Bits {
  uint32_t leaf = 0;  // 0: none
  Reg reg = Reg::kEax;
  uint32_t bits = 0;
};

struct Property {
  const char* desc;  // QEMU's words
  Bits flags[2];
  uint32_t dependencies;  // bits of HyperVFeature
};

constexpr uint32_t bit(HyperVFeature f) {
  return 1u << static_cast<unsigned>(f);
}

// Indexed by HyperVFeature. spinlocks has no flag of its own: it is the
// retry count in 0x40000004 EBX, needing only KVM_CAP_HYPERV.
constexpr Property kProperties[vmmctl::kHyperVFeatureCount] = {
    {"relaxed timing (relaxed)",
     {{kHvLeafRecommendations, Reg::kEax, kRelaxedTimingRecommended}},
     0},
    {"virtual APIC (vapic)", {{kHvLeafFeatures, Reg::kEax, kApicAccessAvailable}}, 0},
    {"spinlock retries (spinlocks)", {}, 0},
    {"VP_INDEX MSR (vpindex)", {{kHvLeafFeatures, Reg::kEax, kVpIndexAvailable}}, 0},
    {"VP_RUNTIME MSR (runtime)", {{kHvLeafFeatures, Reg::kEax, kVpRuntimeAvailable}}, 0},
    {"synthetic interrupt controller (synic)",
     {{kHvLeafFeatures, Reg::kEax, kSynicAvailable}},
     bit(HyperVFeature::kVpindex)},
    {"synthetic timers (stimer)",
     {{kHvLeafFeatures, Reg::kEax, kSyntimersAvailable}},
     bit(HyperVFeature::kSynic) | bit(HyperVFeature::kTime)},
    {"reset MSR (reset)", {{kHvLeafFeatures, Reg::kEax, kResetAvailable}}, 0},
    {"frequency MSRs (frequencies)",
     {{kHvLeafFeatures, Reg::kEax, kAccessFrequencyMsrs},
      {kHvLeafFeatures, Reg::kEdx, kEdxFrequencyMsrsAvailable}},
     0},
    {"clocksources (time, libvirt's hypervclock timer)",
     {{kHvLeafFeatures, Reg::kEax, kTimeRefCountAvailable | kReferenceTscAvailable}},
     0},
};

uint32_t reg_of(const kvm_cpuid_entry2& e, Reg reg) {
  return reg == Reg::kEax ? e.eax : e.edx;
}

uint32_t host_bits(const HvHostSupport& host, uint32_t leaf, Reg reg) {
  for (const kvm_cpuid_entry2& e : host.leaves)
    if (e.function == leaf) return reg_of(e, reg);
  return 0;
}

bool supported(const HvHostSupport& host, HyperVFeature f) {
  for (const Bits& b : kProperties[static_cast<unsigned>(f)].flags) {
    if (b.leaf == 0) continue;
    if ((host_bits(host, b.leaf, b.reg) & b.bits) != b.bits) return false;
  }
  return true;
}

uint32_t build(const vmmctl::HyperVSettings& settings, uint32_t leaf, Reg reg) {
  uint32_t out = 0;
  for (unsigned i = 0; i < vmmctl::kHyperVFeatureCount; ++i) {
    if (!settings.has(static_cast<HyperVFeature>(i))) continue;
    for (const Bits& b : kProperties[i].flags)
      if (b.leaf == leaf && b.reg == reg) out |= b.bits;
  }
  return out;
}

uint32_t text4(const char* p) {
  uint32_t v = 0;
  std::memcpy(&v, p, 4);
  return v;
}

kvm_cpuid_entry2 leaf(uint32_t function, uint32_t eax, uint32_t ebx, uint32_t ecx, uint32_t edx) {
  kvm_cpuid_entry2 e{};
  e.function = function;
  e.eax = eax;
  e.ebx = ebx;
  e.ecx = ecx;
  e.edx = edx;
  return e;
}

kvm_cpuid_entry2 with_bits(uint32_t function, uint32_t eax, uint32_t edx) {
  return leaf(function, eax, 0, 0, edx);
}

bool is_hypervisor_leaf(uint32_t function) {
  return function >= kHvLeafVendor && function < kHvLeafVendor + 0x100;
}

}  // namespace

Result<HvHostSupport> query_hv_support(const KvmSystem& system, KvmVcpu& vcpu) {
  HvHostSupport host;
  AMBER_TRY_ASSIGN(const int hyperv, system.check_extension(KVM_CAP_HYPERV));
  host.hyperv = hyperv > 0;
  if (!host.hyperv) return host;
  AMBER_TRY_ASSIGN(const int synic2, system.check_extension(KVM_CAP_HYPERV_SYNIC2));
  host.synic2 = synic2 > 0;
  AMBER_TRY_ASSIGN(const int sys_cpuid, system.check_extension(KVM_CAP_SYS_HYPERV_CPUID));
  AMBER_TRY_ASSIGN(const int vcpu_cpuid, system.check_extension(KVM_CAP_HYPERV_CPUID));
  if (sys_cpuid > 0) {
    AMBER_TRY_ASSIGN(host.leaves, system.supported_hv_cpuid());
  } else if (vcpu_cpuid > 0) {
    AMBER_TRY_ASSIGN(host.leaves, vcpu.supported_hv_cpuid());
  } else {
    // A kernel from before KVM_GET_SUPPORTED_HV_CPUID (4.x): what its
    // capabilities promise; the MSR-only enlightenments stay unknown, so
    // they are refused rather than guessed.
    AMBER_TRY_ASSIGN(const int time, system.check_extension(KVM_CAP_HYPERV_TIME));
    uint32_t eax = kHypercallAvailable | kApicAccessAvailable;
    if (time > 0) eax |= kTimeRefCountAvailable | kReferenceTscAvailable;
    host.leaves.push_back(with_bits(kHvLeafFeatures, eax, 0));
    host.leaves.push_back(with_bits(kHvLeafRecommendations, kRelaxedTimingRecommended, 0));
  }
  return host;
}

Result<void> check_hyperv(const vmmctl::HyperVSettings& settings, const HvHostSupport& host) {
  if (!settings.enabled()) return ok();
  if (!host.hyperv)
    return Error(ErrorKind::kUnsupported,
                 "--hyperv " + vmmctl::format_hyperv(settings) +
                     ": the Hyper-V enlightenments need KVM's Hyper-V support (KVM_CAP_HYPERV), "
                     "which this host's KVM does not have");
  for (unsigned i = 0; i < vmmctl::kHyperVFeatureCount; ++i) {
    const auto f = static_cast<HyperVFeature>(i);
    if (!settings.has(f)) continue;
    if (!supported(host, f))
      return Error(ErrorKind::kUnsupported, std::string("Hyper-V ") + kProperties[i].desc +
                                                " is not supported by this host's KVM");
    if (f == HyperVFeature::kSynic && !host.synic2)
      return Error(ErrorKind::kUnsupported,
                   "Hyper-V synthetic interrupt controller (synic) needs KVM_CAP_HYPERV_SYNIC2, "
                   "which this host's KVM does not have");
    for (unsigned d = 0; d < vmmctl::kHyperVFeatureCount; ++d) {
      if ((kProperties[i].dependencies >> d & 1) && !settings.has(static_cast<HyperVFeature>(d)))
        return Error(ErrorKind::kInvalidArgument, std::string("Hyper-V ") + kProperties[i].desc +
                                                      " requires Hyper-V " + kProperties[d].desc);
    }
  }
  return ok();
}

std::vector<kvm_cpuid_entry2> hyperv_leaves(const vmmctl::HyperVSettings& settings) {
  char vendor[12] = {};
  const std::string& id =
      settings.vendor_id.empty() ? std::string("Microsoft Hv") : settings.vendor_id;
  std::memcpy(vendor, id.data(), id.size() < sizeof(vendor) ? id.size() : sizeof(vendor));
  std::vector<kvm_cpuid_entry2> out;
  out.push_back(
      leaf(kHvLeafVendor, kHvLeafLimits, text4(vendor), text4(vendor + 4), text4(vendor + 8)));
  out.push_back(leaf(kHvLeafInterface, text4("Hv#1"), 0, 0, 0));
  // Windows Server 2016 (build 14393, 10.0), QEMU 7.2's hv-version-id-*.
  out.push_back(leaf(kHvLeafVersion, 0x3839, 0x000A0000, 0, 0));
  uint32_t ebx = 0;
  if (settings.has(HyperVFeature::kSynic)) ebx |= kEbxPostMessages | kEbxSignalEvents;
  out.push_back(leaf(kHvLeafFeatures,
                     build(settings, kHvLeafFeatures, Reg::kEax) | kHypercallAvailable, ebx, 0,
                     build(settings, kHvLeafFeatures, Reg::kEdx) | kEdxCpuDynamicPartitioning));
  uint32_t hints = build(settings, kHvLeafRecommendations, Reg::kEax);
  if (settings.has(HyperVFeature::kVapic)) hints |= kApicAccessRecommended;
  const uint32_t retries =
      settings.has(HyperVFeature::kSpinlocks) ? settings.spinlock_retries : 0xFFFFFFFFu;
  out.push_back(leaf(kHvLeafRecommendations, hints, retries, 0, 0));
  out.push_back(leaf(kHvLeafLimits, 0x40, 0x40, 0, 0));
  return out;
}

std::vector<kvm_cpuid_entry2> with_hyperv(const std::vector<kvm_cpuid_entry2>& cpuid,
                                          const vmmctl::HyperVSettings& settings) {
  if (!settings.enabled()) return cpuid;
  std::vector<kvm_cpuid_entry2> out;
  for (kvm_cpuid_entry2 e : cpuid) {
    if (is_hypervisor_leaf(e.function)) {
      e.function += kKvmLeafBaseWithHyperV - kHvLeafVendor;
      // KVM's signature leaf names its highest leaf: moved along.
      if (e.function == kKvmLeafBaseWithHyperV && is_hypervisor_leaf(e.eax))
        e.eax += kKvmLeafBaseWithHyperV - kHvLeafVendor;
    }
    out.push_back(e);
  }
  for (const kvm_cpuid_entry2& e : hyperv_leaves(settings)) out.push_back(e);
  return out;
}

}  // namespace amber::hv::kvm
