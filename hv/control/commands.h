// SPDX-License-Identifier: GPL-2.0-or-later
// The server side of the control protocol: one request line in, one reply
// line out, for every command of vmmctl's table (vmmctl/commands.h: names,
// request and reply structs, their JSON), with the request's "id" echoed.
// The VM is reached through ControlTarget so the table can be tested
// without a VM.
//
// Thread-safety: handle_line() is called by the control thread only; the
// target's methods must be safe from that thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "vmmctl/commands.h"

namespace amber::hv::control {

class ControlTarget {
 public:
  virtual ~ControlTarget() = default;
  virtual vmmctl::StatusInfo query_status() = 0;
  virtual std::vector<vmmctl::ChardevInfo> query_chardev() = 0;
  virtual std::vector<vmmctl::BlockInfo> query_block() = 0;
  // The network cards with their counters; none by default.
  virtual std::vector<vmmctl::NicInfo> query_nics() { return {}; }
  virtual void pause() = 0;
  virtual void resume() = 0;
  virtual void reset() = 0;
  // The ACPI power button; the guest decides what happens (as in QEMU,
  // system_powerdown succeeds whether or not the guest listens).
  virtual void powerdown() = 0;
  virtual void quit() = 0;
  // Removable media of the IDE CD-ROMs, by "ide0-BUS-UNIT" id; the error's
  // message is the reply's desc (QEMU's texts). A target without
  // removable media refuses.
  virtual Result<void> eject(const vmmctl::EjectRequest& request) {
    return Error(ErrorKind::kNotFound, "Device '" + request.id + "' not found");
  }
  virtual Result<void> change_medium(const vmmctl::ChangeMediumRequest& request) {
    return Error(ErrorKind::kNotFound, "Device '" + request.id + "' not found");
  }
  // Writes the display as a P6 PPM to `filename`; an error without a
  // display or when the file cannot be written.
  virtual Result<void> screendump(const std::string& /*filename*/) {
    return Error(ErrorKind::kUnsupported, "there is no display (start with --vga std)");
  }
  // send-key: checks every key, then queues the sequence (the keys reach
  // the guest in the background, in order with earlier sequences).
  virtual Result<void> send_key(const vmmctl::SendKeyArguments& arguments) = 0;
  virtual void mouse_move(const vmmctl::MouseMoveArguments& arguments) = 0;
  // query-vnc: {"enabled":false} without a VNC server.
  virtual vmmctl::VncInfo query_vnc() { return {}; }
  // change-vnc-password; an error without a VNC server.
  virtual Result<void> change_vnc_password(const std::string& /*password*/) {
    return Error(ErrorKind::kUnsupported, "there is no VNC server (start with --vnc)");
  }
  // input-send-event: the events in order, then one sync (as QMP's). An
  // error when no device takes a kind of event (abs without a tablet) or
  // a key number has no key; nothing is sent then.
  virtual Result<void> input_send_event(const vmmctl::InputSendEventArguments& /*arguments*/) {
    return Error(ErrorKind::kUnsupported, "there is no input device");
  }
};

// Returns the reply line (without the trailing newline).
std::string handle_line(std::string_view line, ControlTarget& target);

// The line a client gets first, on connect (vmmctl::Greeting).
std::string greeting_line();

}  // namespace amber::hv::control
