// SPDX-License-Identifier: GPL-2.0-or-later
// Typed events of the control protocol: what amber-vmm tells every client
// without being asked. On the wire one line {"event":NAME,"data":{...}}
// ("data" omitted when an event has no members).
//
// To add an event: a struct with kName and its members, encode/decode
// overloads in events.cpp, and the struct appended to Event (keep the
// existing order; clients of older versions see it as UnknownEvent).
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "common/result.h"
#include "vmmctl/commands.h"
#include "vmmctl/json.h"

namespace amber::vmmctl {

enum class ShutdownReason { kGuestReset, kGuestShutdown, kHostQuit, kGuestPanic };
std::string_view to_string(ShutdownReason reason);
Result<ShutdownReason> parse_shutdown_reason(std::string_view name);

// The VM stopped for good; the process exits right after.
struct ShutdownEvent {
  static constexpr std::string_view kName = "SHUTDOWN";
  ShutdownReason reason = ShutdownReason::kHostQuit;
  bool operator==(const ShutdownEvent&) const = default;
};

// The machine was reset (by the guest or system_reset) and runs on.
struct ResetEvent {
  static constexpr std::string_view kName = "RESET";
  bool operator==(const ResetEvent&) const = default;
};

// A device (today only "cpu": a fatal vCPU exit) failed; with a control
// socket the VM is paused, without one the process exits.
struct DeviceFailedEvent {
  static constexpr std::string_view kName = "DEVICE_FAILED";
  std::string device;
  std::string message;
  bool operator==(const DeviceFailedEvent&) const = default;
};

// A host I/O error on a disk (the image or the host file failed, not a bad
// guest request), and what the disk's policy (--disk werror=/rerror=) did
// about it: "action" is "report" (the guest got VIRTIO_BLK_S_IOERR),
// "ignore" (the request completed as if it had succeeded) or "stop" (the
// request is held and the VM stops: a STOP event with status io-error
// follows). report and ignore events are rate-limited per disk (a few per
// interval; query-block counts them all); a stop event is always sent (it
// recurs only after a resume). On the wire "errno" holds error_number (0:
// none).
struct BlockIoErrorEvent {
  static constexpr std::string_view kName = "BLOCK_IO_ERROR";
  std::string device;             // "disk0"
  std::string operation;          // read, write, flush, discard, write-zeroes
  std::string action = "report";  // "report", "ignore" or "stop"
  bool nospace = false;           // ENOSPC: freeing host space may cure it
  int64_t error_number = 0;
  std::string kind;  // common/result.h ErrorKind name ("io", "no space", ...)
  std::string message;
  bool operator==(const BlockIoErrorEvent&) const = default;
};

// A device set VIRTIO_CONFIG_S_NEEDS_RESET (the guest broke its rings or
// the device failed); sent once per transition, not again until the guest
// resets the device.
struct DeviceNeedsResetEvent {
  static constexpr std::string_view kName = "DEVICE_NEEDS_RESET";
  std::string device;  // "disk0"
  std::string reason;
  bool operator==(const DeviceNeedsResetEvent&) const = default;
};

// The vCPUs stopped: a "pause" command or a vCPU failure (status
// "paused"), or a disk's stop policy (status "io-error", after that disk's
// BLOCK_IO_ERROR event with action "stop"). Not sent when the VM was
// already stopped, nor at shutdown (SHUTDOWN says that).
struct StopEvent {
  static constexpr std::string_view kName = "STOP";
  RunState status = RunState::kPaused;  // the run state now: paused or io-error
  bool operator==(const StopEvent&) const = default;
};

// The vCPUs run again after a "resume" (held disk requests are retried).
struct ResumeEvent {
  static constexpr std::string_view kName = "RESUME";
  bool operator==(const ResumeEvent&) const = default;
};

// An event this build does not know (from a newer amber-vmm): kept whole.
struct UnknownEvent {
  std::string name;
  Json data = Json::object();
  bool operator==(const UnknownEvent&) const = default;
};

// UnknownEvent stays last (decode_event relies on it).
using Event = std::variant<ShutdownEvent, ResetEvent, DeviceFailedEvent, BlockIoErrorEvent,
                           DeviceNeedsResetEvent, StopEvent, ResumeEvent, UnknownEvent>;

std::string_view event_name(const Event& event);
// The whole line's object / text (no trailing newline).
Json encode_event(const Event& event);
std::string format_event(const Event& event);
// From a line's object with an "event" member. Unknown names give an
// UnknownEvent; a known name with bad data is a kCorrupt error.
Result<Event> decode_event(const Json& line);

}  // namespace amber::vmmctl
