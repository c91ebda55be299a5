// SPDX-License-Identifier: GPL-2.0-or-later
// Hyper-V enlightenments: the host check against what KVM reports, and the
// CPUID leaves built for virt-manager's Windows 7 set (QEMU 7.2's values
// for the same hv-* flags).
#include "hv/kvm/hyperv.h"

#include <gtest/gtest.h>

#include <cstring>

namespace amber::hv::kvm {
namespace {

using vmmctl::HyperVFeature;
using vmmctl::HyperVSettings;

kvm_cpuid_entry2 entry(uint32_t function, uint32_t eax, uint32_t edx = 0) {
  kvm_cpuid_entry2 e{};
  e.function = function;
  e.eax = eax;
  e.edx = edx;
  return e;
}

// What a 6.1 kernel's KVM_GET_SUPPORTED_HV_CPUID reports on Intel, in part.
HvHostSupport full_host() {
  HvHostSupport host;
  host.hyperv = true;
  host.synic2 = true;
  host.leaves.push_back(entry(kHvLeafFeatures, 0x2FFF, 0x100 | 0x400));
  host.leaves.push_back(entry(kHvLeafRecommendations, 0x20 | 0x4 | 0x8));
  return host;
}

HyperVSettings windows7() {
  auto s = vmmctl::parse_hyperv(
      "relaxed,vapic,spinlocks=8191,vpindex,runtime,synic,stimer,reset,frequencies,time");
  EXPECT_TRUE(s.ok());
  return *s;
}

const kvm_cpuid_entry2* find(const std::vector<kvm_cpuid_entry2>& leaves, uint32_t function) {
  for (const kvm_cpuid_entry2& e : leaves)
    if (e.function == function) return &e;
  return nullptr;
}

TEST(HyperV, FullHostTakesTheWindows7Set) {
  auto r = check_hyperv(windows7(), full_host());
  EXPECT_TRUE(r.ok()) << r.error().message();
}

TEST(HyperV, NoKvmHyperVRefusesAll) {
  HvHostSupport none;
  auto r = check_hyperv(windows7(), none);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("KVM_CAP_HYPERV"), std::string::npos) << r.error().message();
  EXPECT_TRUE(check_hyperv(HyperVSettings{}, none).ok());  // nothing asked
}

TEST(HyperV, NamesTheFirstMissingEnlightenment) {
  HvHostSupport host = full_host();
  host.leaves[0].eax &= ~(1u << 4);  // no APIC access MSRs
  auto r = check_hyperv(windows7(), host);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("virtual APIC (vapic) is not supported"), std::string::npos)
      << r.error().message();
  host = full_host();
  host.leaves[0].edx = 0;  // no frequency MSRs
  r = check_hyperv(windows7(), host);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("(frequencies)"), std::string::npos) << r.error().message();
  host = full_host();
  host.synic2 = false;
  r = check_hyperv(windows7(), host);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("KVM_CAP_HYPERV_SYNIC2"), std::string::npos);
}

TEST(HyperV, DependenciesAsQemuChecksThem) {
  auto stimer = vmmctl::parse_hyperv("vpindex,synic,stimer");  // no time
  ASSERT_TRUE(stimer.ok());
  auto r = check_hyperv(*stimer, full_host());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("(stimer) requires Hyper-V clocksources"), std::string::npos)
      << r.error().message();
  auto synic = vmmctl::parse_hyperv("synic");
  ASSERT_TRUE(synic.ok());
  r = check_hyperv(*synic, full_host());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("requires Hyper-V VP_INDEX MSR (vpindex)"), std::string::npos)
      << r.error().message();
}

TEST(HyperV, LeavesForTheWindows7Set) {
  const auto leaves = hyperv_leaves(windows7());
  const kvm_cpuid_entry2* vendor = find(leaves, kHvLeafVendor);
  ASSERT_NE(vendor, nullptr);
  EXPECT_EQ(vendor->eax, kHvLeafLimits);
  char text[13] = {};
  std::memcpy(text, &vendor->ebx, 4);
  std::memcpy(text + 4, &vendor->ecx, 4);
  std::memcpy(text + 8, &vendor->edx, 4);
  EXPECT_STREQ(text, "Microsoft Hv");
  const kvm_cpuid_entry2* iface = find(leaves, kHvLeafInterface);
  ASSERT_NE(iface, nullptr);
  EXPECT_EQ(std::memcmp(&iface->eax, "Hv#1", 4), 0);
  const kvm_cpuid_entry2* version = find(leaves, kHvLeafVersion);
  ASSERT_NE(version, nullptr);
  EXPECT_EQ(version->eax, 0x3839u);
  EXPECT_EQ(version->ebx, 0x000A0000u);
  const kvm_cpuid_entry2* features = find(leaves, kHvLeafFeatures);
  ASSERT_NE(features, nullptr);
  // runtime 0, time 1+9, synic 2, stimer 3, vapic 4, hypercall 5, vpindex 6,
  // reset 7, frequencies 11.
  EXPECT_EQ(features->eax, 0x0001u | 0x0002u | 0x0200u | 0x0004u | 0x0008u | 0x0010u | 0x0020u |
                               0x0040u | 0x0080u | 0x0800u);
  EXPECT_EQ(features->ebx, (1u << 4) | (1u << 5));  // post messages, signal events
  EXPECT_EQ(features->edx, (1u << 3) | (1u << 8));  // dynamic partitioning, frequency MSRs
  const kvm_cpuid_entry2* hints = find(leaves, kHvLeafRecommendations);
  ASSERT_NE(hints, nullptr);
  EXPECT_EQ(hints->eax, (1u << 5) | (1u << 3));  // relaxed timing, APIC access
  EXPECT_EQ(hints->ebx, 8191u);
  const kvm_cpuid_entry2* limits = find(leaves, kHvLeafLimits);
  ASSERT_NE(limits, nullptr);
  EXPECT_EQ(limits->eax, 0x40u);
}

TEST(HyperV, RelaxedAloneNeverNotifiesSpinlocks) {
  auto relaxed = vmmctl::parse_hyperv("relaxed");
  ASSERT_TRUE(relaxed.ok());
  const auto leaves = hyperv_leaves(*relaxed);
  const kvm_cpuid_entry2* hints = find(leaves, kHvLeafRecommendations);
  ASSERT_NE(hints, nullptr);
  EXPECT_EQ(hints->ebx, 0xFFFFFFFFu);
  EXPECT_EQ(hints->eax, 1u << 5);
  EXPECT_EQ(find(leaves, kHvLeafFeatures)->eax, 1u << 5);  // hypercall page only
}

TEST(HyperV, KvmLeavesMoveUpOnlyWhenEnabled) {
  std::vector<kvm_cpuid_entry2> cpuid = {entry(0x1, 0x600), entry(0x40000000, 0x40000001),
                                         entry(0x40000001, 0x1234)};
  EXPECT_EQ(with_hyperv(cpuid, HyperVSettings{}).size(), cpuid.size());
  EXPECT_EQ(with_hyperv(cpuid, HyperVSettings{})[1].function, 0x40000000u);
  const auto moved = with_hyperv(cpuid, windows7());
  const kvm_cpuid_entry2* kvm = find(moved, kKvmLeafBaseWithHyperV);
  ASSERT_NE(kvm, nullptr);
  EXPECT_EQ(kvm->eax, 0x40000101u);  // its highest leaf, moved along
  ASSERT_NE(find(moved, 0x40000101), nullptr);
  EXPECT_EQ(find(moved, 0x40000101)->eax, 0x1234u);
  EXPECT_EQ(find(moved, 0x1)->eax, 0x600u);
  EXPECT_EQ(find(moved, kHvLeafVendor)->eax, kHvLeafLimits);
}

}  // namespace
}  // namespace amber::hv::kvm
