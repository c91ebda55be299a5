// SPDX-License-Identifier: GPL-2.0-or-later
// --hyperv: the Hyper-V enlightenments amber-vmm offers a Windows guest,
// as libvirt's <features><hyperv> names them and QEMU's -cpu hv-* flags
// mean them: relaxed, vapic, spinlocks=RETRIES, vpindex, runtime, synic,
// stimer, reset, frequencies, time (libvirt's <timer name='hypervclock'>)
// and vendor_id=TEXT (at most 12 characters), e.g.
//   --hyperv relaxed,vapic,spinlocks=8191,time
// amber-vmm asks the host's KVM which of them it implements and refuses to
// start, naming the first missing one, rather than drop one silently.
//
// Thread-safety: pure functions and a value type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace amber::vmmctl {

enum class HyperVFeature : unsigned {
  kRelaxed,
  kVapic,
  kSpinlocks,
  kVpindex,
  kRuntime,
  kSynic,
  kStimer,
  kReset,
  kFrequencies,
  kTime,
};
inline constexpr unsigned kHyperVFeatureCount = 10;

// libvirt's element name ("time" for the hypervclock timer).
std::string_view to_string(HyperVFeature feature);
// The feature of that name; none for any other name (vendor_id included).
std::optional<HyperVFeature> hyperv_feature(std::string_view name);

// The fewest retries libvirt and QEMU accept for spinlocks.
inline constexpr uint32_t kMinSpinlockRetries = 4095;
inline constexpr size_t kMaxHyperVVendorId = 12;

struct HyperVSettings {
  uint32_t features = 0;                   // bit (1 << HyperVFeature)
  uint32_t spinlock_retries = 0xFFFFFFFF;  // with kSpinlocks
  std::string vendor_id;                   // empty: "Microsoft Hv"

  bool has(HyperVFeature f) const { return (features >> static_cast<unsigned>(f)) & 1; }
  void add(HyperVFeature f) { features |= 1u << static_cast<unsigned>(f); }
  bool enabled() const { return features != 0 || !vendor_id.empty(); }
  bool operator==(const HyperVSettings&) const = default;
};

Result<HyperVSettings> parse_hyperv(std::string_view text);
// The --hyperv value parse_hyperv() reads back; empty when !enabled().
std::string format_hyperv(const HyperVSettings& settings);

}  // namespace amber::vmmctl
