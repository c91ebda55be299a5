// SPDX-License-Identifier: GPL-2.0-or-later
// QEMU's QKeyCode names ("qcode", qapi/ui.json) for the PC keyboard keys,
// as input-send-event takes them ({"type":"qcode","data":"ctrl"}), turned
// into the key numbers amber-vmm works with (QEMU's "qnum": scan code set
// 1, 0x80 | code for E0-prefixed keys). Names of keys a PC keyboard behind
// amber-vmm cannot produce (the media and Japanese keys, f13..f24, ...) are
// not in the table.
//
// Thread-safety: pure function.
#pragma once

#include <optional>
#include <string_view>

namespace amber::vmmctl {

std::optional<unsigned> qnum_for_qcode(std::string_view qcode);

}  // namespace amber::vmmctl
