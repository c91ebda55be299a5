// SPDX-License-Identifier: GPL-2.0-or-later
// driver/vm/keycodes: every codeset virsh send-key may name, to Linux
// keycodes, and the refusals. Pure functions.
#include "driver/vm/keycodes.h"

#include <gtest/gtest.h>

namespace amber::driver::vm {
namespace {

unsigned linux_of(Codeset set, unsigned code) {
  auto r = to_linux_keycode(static_cast<unsigned>(set), code);
  EXPECT_TRUE(r.ok()) << codeset_name(static_cast<unsigned>(set)) << " " << code;
  return r.ok() ? *r : 0;
}

TEST(Keycodes, EveryCodesetFindsItsKeys) {
  EXPECT_EQ(linux_of(Codeset::kLinux, 30), 30u);  // KEY_A
  EXPECT_EQ(linux_of(Codeset::kXt, 0x1E), 30u);
  EXPECT_EQ(linux_of(Codeset::kAtset1, 0x1E), 30u);
  EXPECT_EQ(linux_of(Codeset::kAtset1, 0xE048), 103u);  // KEY_UP
  EXPECT_EQ(linux_of(Codeset::kXtKbd, 0x11D), 97u);     // KEY_RIGHTCTRL
  EXPECT_EQ(linux_of(Codeset::kQnum, 0x9C), 96u);       // KEY_KPENTER
  EXPECT_EQ(linux_of(Codeset::kQnum, 0xC6), 119u);      // KEY_PAUSE
  EXPECT_EQ(linux_of(Codeset::kQnum, 0x54), 99u);       // KEY_SYSRQ
  EXPECT_EQ(linux_of(Codeset::kUsb, 0x04), 30u);
  EXPECT_EQ(linux_of(Codeset::kUsb, 0xE7), 126u);  // KEY_RIGHTMETA
  EXPECT_EQ(linux_of(Codeset::kUsb, 0x28), 28u);   // Enter, not keypad Enter
  EXPECT_EQ(linux_of(Codeset::kWin32, 0x41), 30u);
  EXPECT_EQ(linux_of(Codeset::kWin32, 0x0D), 28u);
  EXPECT_EQ(linux_of(Codeset::kWin32, 0x2E), 111u);  // VK_DELETE
  // Linux keycodes 1..83 are their own XT codes.
  for (unsigned k = 1; k <= 83; ++k) EXPECT_EQ(linux_of(Codeset::kXt, k), k);
}

TEST(Keycodes, Refusals) {
  for (unsigned set : {3u, 4u, 5u}) {
    auto r = to_linux_keycode(set, 0x1C);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind(), ErrorKind::kUnsupported);
    EXPECT_NE(r.error().message().find(std::string(codeset_name(set))), std::string::npos);
  }
  EXPECT_EQ(codeset_name(5), "os_x");
  for (auto [set, code] : {std::pair{0u, 0u},
                           {0u, 84u},
                           {0u, 100000u},
                           {1u, 0xE01Cu},
                           {7u, 0xFEu},
                           {8u, 0xFFu},
                           {9u, 0x1FFu}}) {
    auto r = to_linux_keycode(set, code);
    ASSERT_FALSE(r.ok()) << set << " " << code;
    EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidArgument);
  }
  EXPECT_FALSE(to_linux_keycode(10, 30).ok());
  EXPECT_FALSE(to_linux_keycode(0xFFFFFFFF, 30).ok());
}

}  // namespace
}  // namespace amber::driver::vm
