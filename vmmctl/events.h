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

#include <string>
#include <string_view>
#include <variant>

#include "common/result.h"
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

// An event this build does not know (from a newer amber-vmm): kept whole.
struct UnknownEvent {
  std::string name;
  Json data = Json::object();
  bool operator==(const UnknownEvent&) const = default;
};

using Event = std::variant<ShutdownEvent, ResetEvent, DeviceFailedEvent, UnknownEvent>;

std::string_view event_name(const Event& event);
// The whole line's object / text (no trailing newline).
Json encode_event(const Event& event);
std::string format_event(const Event& event);
// From a line's object with an "event" member. Unknown names give an
// UnknownEvent; a known name with bad data is a kCorrupt error.
Result<Event> decode_event(const Json& line);

}  // namespace amber::vmmctl
