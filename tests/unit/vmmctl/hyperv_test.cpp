// SPDX-License-Identifier: GPL-2.0-or-later
// --hyperv: parse, refusals, and the round trip through format_hyperv.
#include "vmmctl/hyperv.h"

#include <gtest/gtest.h>

namespace amber::vmmctl {
namespace {

TEST(HyperV, ParsesVirtManagersWindows7Set) {
  auto s = parse_hyperv(
      "relaxed,vapic,spinlocks=8191,vpindex,runtime,synic,stimer,reset,"
      "frequencies,time,vendor_id=KVM Hv");
  ASSERT_TRUE(s.ok()) << s.error().message();
  for (unsigned i = 0; i < kHyperVFeatureCount; ++i)
    EXPECT_TRUE(s->has(static_cast<HyperVFeature>(i))) << to_string(static_cast<HyperVFeature>(i));
  EXPECT_EQ(s->spinlock_retries, 8191u);
  EXPECT_EQ(s->vendor_id, "KVM Hv");
  auto back = parse_hyperv(format_hyperv(*s));
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(*back, *s);
}

TEST(HyperV, RefusesWhatQemuRefuses) {
  struct Case {
    const char* text;
    const char* message;
  };
  for (const Case& c : {Case{"relaxed,tlbflush", "unknown enlightenment 'tlbflush'"},
                        Case{"spinlocks=4094", "spinlocks"}, Case{"spinlocks", "RETRIES"},
                        Case{"vapic=on", "takes no value"}, Case{"relaxed,relaxed", "twice"},
                        Case{"vendor_id=0123456789abc", "1 to 12"}, Case{"vendor_id", "1 to 12"}}) {
    auto s = parse_hyperv(c.text);
    ASSERT_FALSE(s.ok()) << c.text;
    EXPECT_NE(s.error().message().find(c.message), std::string::npos)
        << c.text << ": " << s.error().message();
  }
}

TEST(HyperV, NothingAskedIsNotEnabled) {
  HyperVSettings none;
  EXPECT_FALSE(none.enabled());
  EXPECT_EQ(format_hyperv(none), "");
}

}  // namespace
}  // namespace amber::vmmctl
