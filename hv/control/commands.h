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

#include "vmmctl/commands.h"

namespace amber::hv::control {

class ControlTarget {
 public:
  virtual ~ControlTarget() = default;
  virtual vmmctl::StatusInfo query_status() = 0;
  virtual std::vector<vmmctl::ChardevInfo> query_chardev() = 0;
  virtual std::vector<vmmctl::BlockInfo> query_block() = 0;
  virtual void pause() = 0;
  virtual void resume() = 0;
  virtual void reset() = 0;
  // The ACPI power button; the guest decides what happens (as in QEMU,
  // system_powerdown succeeds whether or not the guest listens).
  virtual void powerdown() = 0;
  virtual void quit() = 0;
  // send-key: checks every key, then queues the sequence (the keys reach
  // the guest in the background, in order with earlier sequences).
  virtual Result<void> send_key(const vmmctl::SendKeyArguments& arguments) = 0;
  virtual void mouse_move(const vmmctl::MouseMoveArguments& arguments) = 0;
};

// Returns the reply line (without the trailing newline).
std::string handle_line(std::string_view line, ControlTarget& target);

// The line a client gets first, on connect (vmmctl::Greeting).
std::string greeting_line();

}  // namespace amber::hv::control
