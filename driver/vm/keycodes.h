// SPDX-License-Identifier: GPL-2.0-or-later
// virDomainSendKey's codesets (libvirt's virKeycodeSet numbers) mapped to
// the Linux input keycodes amber-vmm's send-key takes, for the keys of the
// 104/105-key PC keyboard (plus the Japanese keys, keypad '=' and the
// volume/ACPI keys) — the keys the PS/2 keyboard has:
//   linux          the keycode itself;
//   xt             the XT keyboard's codes (its 83 keys, no E0 keys);
//   atset1         set 1 with E0 keys as 0xE0nn;
//   xt_kbd         set 1 with E0 keys as 0x100 | nn (Linux's XT numbering);
//   qnum (= rfb)   set 1 with E0 keys as 0x80 | nn (QEMU's numbers);
//   usb            HID usage page 7 codes;
//   win32          virtual-key codes (VK_*).
// atset2, atset3 and os_x are refused (kUnsupported).
//
// Thread-safety: pure functions over constant tables.
#pragma once

#include <optional>
#include <string_view>

#include "common/result.h"

namespace amber::driver::vm {

// libvirt's VIR_KEYCODE_SET_* values.
enum class Codeset : unsigned {
  kLinux = 0,
  kXt = 1,
  kAtset1 = 2,
  kAtset2 = 3,
  kAtset3 = 4,
  kOsx = 5,
  kXtKbd = 6,
  kUsb = 7,
  kWin32 = 8,
  kQnum = 9,
};

// libvirt's name of a codeset ("linux", "os_x", ...); "" for an unknown one.
std::string_view codeset_name(unsigned codeset);

// The Linux keycode of `code` in `codeset`: kUnsupported for a codeset
// this driver does not translate (naming it), kInvalidArgument for an
// unknown codeset or a code with no key.
Result<unsigned> to_linux_keycode(unsigned codeset, unsigned code);

}  // namespace amber::driver::vm
