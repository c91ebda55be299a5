// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/kvm/cpuid.h"

namespace amber::hv::kvm {
namespace {

constexpr uint32_t kLeafFeatures = 0x1;
constexpr uint32_t kLeafCacheTopology = 0x4;
constexpr uint32_t kLeafExtendedTopology = 0xB;
constexpr uint32_t kLeafV2Topology = 0x1F;
constexpr uint32_t kLeafAmdSizes = 0x80000008;
constexpr uint32_t kFeatureEcxHypervisor = 1u << 31;
constexpr uint32_t kFeatureEdxHtt = 1u << 28;

unsigned bits_for(unsigned count) {
  unsigned bits = 0;
  while ((1u << bits) < count) ++bits;
  return bits;
}

}  // namespace

std::vector<kvm_cpuid_entry2> build_cpuid(const std::vector<kvm_cpuid_entry2>& supported,
                                          unsigned vcpu_id, unsigned vcpu_count) {
  std::vector<kvm_cpuid_entry2> out;
  const unsigned core_bits = bits_for(vcpu_count);
  for (kvm_cpuid_entry2 entry : supported) {
    switch (entry.function) {
      case kLeafFeatures:
        entry.ecx |= kFeatureEcxHypervisor;
        // EBX: [31:24] initial APIC id, [23:16] logical processors per package.
        entry.ebx = (entry.ebx & 0xFFFFu) | (vcpu_id << 24) | ((vcpu_count & 0xFFu) << 16);
        if (vcpu_count > 1)
          entry.edx |= kFeatureEdxHtt;
        else
          entry.edx &= ~kFeatureEdxHtt;
        break;
      case kLeafCacheTopology:
        // EAX[31:26]: cores per package - 1; EAX[25:14]: threads sharing - 1.
        entry.eax &= 0x3FFFu;
        entry.eax |= (vcpu_count - 1) << 26;
        if (((entry.eax >> 5) & 7) >= 3) entry.eax |= (vcpu_count - 1) << 14;
        break;
      case kLeafExtendedTopology:
      case kLeafV2Topology:
        // One thread per core, vcpu_count cores in one package.
        entry.edx = vcpu_id;
        if (entry.index == 0) {
          entry.eax = 0;
          entry.ebx = 1;
          entry.ecx = (1u << 8) | 0;
        } else if (entry.index == 1) {
          entry.eax = core_bits;
          entry.ebx = vcpu_count;
          entry.ecx = (2u << 8) | 1;
        } else {
          entry.eax = 0;
          entry.ebx = 0;
          entry.ecx = entry.index;
        }
        break;
      case kLeafAmdSizes:
        entry.ecx = (entry.ecx & ~0xFFu) | ((vcpu_count - 1) & 0xFFu);
        break;
      default:
        break;
    }
    out.push_back(entry);
  }
  return out;
}

}  // namespace amber::hv::kvm
