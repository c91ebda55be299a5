// SPDX-License-Identifier: GPL-2.0-or-later
// input-send-event's delivery: QMP's input events to the VM's input
// devices, routed as QEMU routes them to the devices a PC has:
//  - abs: the USB tablet (an error without one);
//  - rel: the USB mouse if there is one, else the PS/2 mouse;
//  - btn: the device the pointer events of this command go to (the
//    tablet when the command has abs events or there is no relative
//    device in use, else the relative one);
//  - key: the USB keyboard if there is one, else the PS/2 keyboard.
// Every event is checked first; then the events go out in order and each
// device gets one sync at the end (one report; one PS/2 packet).
//
// Thread-safety: called from the control thread only (the PS/2 button
// state it keeps between commands is the caller's).
#pragma once

#include "common/result.h"
#include "vmmctl/commands.h"

namespace amber::hv::vmm {
struct Vm;
}

namespace amber::hv::control {

// The PS/2 mouse's buttons between commands (mouse_event takes the state).
struct Ps2PointerState {
  unsigned buttons = 0;
};

Result<void> send_input_events(vmm::Vm& vm, const vmmctl::InputSendEventArguments& arguments,
                               Ps2PointerState& ps2);

// QEMU's "qnum" key numbers (scan code set 1; 0x80 | code for the E0
// keys) as Linux keycodes; 0 for a number that is no key.
unsigned linux_keycode_for_qnum(unsigned qnum);

}  // namespace amber::hv::control
