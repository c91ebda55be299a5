// SPDX-License-Identifier: GPL-2.0-or-later
#include "vmmctl/hyperv.h"

#include <utility>

#include "vmmctl/option_list.h"

namespace amber::vmmctl {
namespace {

constexpr std::string_view kNames[kHyperVFeatureCount] = {
    "relaxed", "vapic",  "spinlocks", "vpindex",     "runtime",
    "synic",   "stimer", "reset",     "frequencies", "time"};

Error bad(std::string message) {
  return Error(ErrorKind::kInvalidArgument, std::move(message));
}

std::string known_names() {
  std::string out;
  for (std::string_view name : kNames) out += std::string(out.empty() ? "" : ", ") += name;
  return out + ", vendor_id";
}

}  // namespace

std::string_view to_string(HyperVFeature feature) {
  return kNames[static_cast<unsigned>(feature)];
}

std::optional<HyperVFeature> hyperv_feature(std::string_view name) {
  for (unsigned i = 0; i < kHyperVFeatureCount; ++i)
    if (kNames[i] == name) return static_cast<HyperVFeature>(i);
  return std::nullopt;
}

Result<HyperVSettings> parse_hyperv(std::string_view text) {
  AMBER_TRY_ASSIGN(auto items, split_option_list(text, "--hyperv"));
  HyperVSettings settings;
  for (const OptionItem& item : items) {
    // "relaxed" alone, or "spinlocks=N" / "vendor_id=TEXT".
    const std::string name = item.key.empty() ? item.value : item.key;
    if (name == "vendor_id") {
      if (item.key.empty() || item.value.empty() || item.value.size() > kMaxHyperVVendorId)
        return bad("--hyperv vendor_id: 1 to 12 characters");
      settings.vendor_id = item.value;
      continue;
    }
    const std::optional<HyperVFeature> known = hyperv_feature(name);
    if (!known)
      return bad("--hyperv: unknown enlightenment '" + name + "' (" + known_names() + ")");
    const HyperVFeature feature = *known;
    if (settings.has(feature)) return bad("--hyperv: '" + name + "' is given twice");
    if (feature == HyperVFeature::kSpinlocks) {
      if (item.key.empty()) return bad("--hyperv spinlocks needs =RETRIES (4095 or more)");
      AMBER_TRY_ASSIGN(settings.spinlock_retries, parse_unsigned(item.value, "--hyperv spinlocks",
                                                                 kMinSpinlockRetries, 0xFFFFFFFFu));
    } else if (!item.key.empty()) {
      return bad("--hyperv " + name + " takes no value");
    }
    settings.add(feature);
  }
  return settings;
}

std::string format_hyperv(const HyperVSettings& settings) {
  std::string out;
  for (unsigned i = 0; i < kHyperVFeatureCount; ++i) {
    const auto feature = static_cast<HyperVFeature>(i);
    if (!settings.has(feature)) continue;
    if (!out.empty()) out += ',';
    out += kNames[i];
    if (feature == HyperVFeature::kSpinlocks)
      out += "=" + std::to_string(settings.spinlock_retries);
  }
  if (!settings.vendor_id.empty())
    out += std::string(out.empty() ? "" : ",") +
           "vendor_id=" + escape_option_value(settings.vendor_id);
  return out;
}

}  // namespace amber::vmmctl
