// SPDX-License-Identifier: GPL-2.0-or-later
#include "vmmctl/events.h"

#include <array>
#include <utility>

namespace amber::vmmctl {
namespace {

constexpr std::array<std::pair<ShutdownReason, std::string_view>, 4> kShutdownReasons = {{
    {ShutdownReason::kGuestReset, "guest-reset"},
    {ShutdownReason::kGuestShutdown, "guest-shutdown"},
    {ShutdownReason::kHostQuit, "host-quit"},
    {ShutdownReason::kGuestPanic, "guest-panic"},
}};

// --- one encode/decode pair per event ---

Json encode(const ShutdownEvent& event) {
  return Json{{"reason", to_string(event.reason)}};
}
Result<void> decode(const Json& data, ShutdownEvent& event) {
  AMBER_TRY_ASSIGN(const std::string reason, get_string(data, "reason"));
  AMBER_TRY_ASSIGN(event.reason, parse_shutdown_reason(reason));
  return ok();
}

Json encode(const ResetEvent&) {
  return Json::object();
}
Result<void> decode(const Json&, ResetEvent&) {
  return ok();
}

Json encode(const DeviceFailedEvent& event) {
  return Json{{"device", event.device}, {"message", event.message}};
}
Result<void> decode(const Json& data, DeviceFailedEvent& event) {
  AMBER_TRY_ASSIGN(event.device, get_string(data, "device"));
  AMBER_TRY_ASSIGN(event.message, get_string(data, "message"));
  return ok();
}

Json encode(const BlockIoErrorEvent& event) {
  return Json{{"device", event.device},   {"operation", event.operation}, {"action", event.action},
              {"nospace", event.nospace}, {"errno", event.error_number},  {"kind", event.kind},
              {"message", event.message}};
}
Result<void> decode(const Json& data, BlockIoErrorEvent& event) {
  AMBER_TRY_ASSIGN(event.device, get_string(data, "device"));
  AMBER_TRY_ASSIGN(event.operation, get_string(data, "operation"));
  AMBER_TRY_ASSIGN(event.action, get_string(data, "action"));
  AMBER_TRY_ASSIGN(event.nospace, get_bool(data, "nospace"));
  AMBER_TRY_ASSIGN(event.error_number, get_integer(data, "errno"));
  AMBER_TRY_ASSIGN(event.kind, get_string(data, "kind"));
  AMBER_TRY_ASSIGN(event.message, get_string(data, "message"));
  return ok();
}

Json encode(const DeviceNeedsResetEvent& event) {
  return Json{{"device", event.device}, {"reason", event.reason}};
}
Result<void> decode(const Json& data, DeviceNeedsResetEvent& event) {
  AMBER_TRY_ASSIGN(event.device, get_string(data, "device"));
  AMBER_TRY_ASSIGN(event.reason, get_string(data, "reason"));
  return ok();
}

Json encode(const StopEvent& event) {
  return Json{{"status", to_string(event.status)}};
}
Result<void> decode(const Json& data, StopEvent& event) {
  AMBER_TRY_ASSIGN(const std::string status, get_string(data, "status"));
  AMBER_TRY_ASSIGN(event.status, parse_run_state(status));
  return ok();
}

Json encode(const ResumeEvent&) {
  return Json::object();
}
Result<void> decode(const Json&, ResumeEvent&) {
  return ok();
}

Json encode(const UnknownEvent& event) {
  return event.data;
}

// Tries each known alternative of Event in turn (all but UnknownEvent).
template <size_t Index = 0>
Result<Event> decode_known(std::string_view name, const Json& data) {
  if constexpr (Index + 1 < std::variant_size_v<Event>) {
    using Alternative = std::variant_alternative_t<Index, Event>;
    if (name == Alternative::kName) {
      Alternative event;
      if (auto decoded = decode(data, event); !decoded.ok())
        return std::move(decoded).error().with_context("event " + std::string(name));
      return Event(std::move(event));
    }
    return decode_known<Index + 1>(name, data);
  } else {
    return Event(UnknownEvent{std::string(name), data});
  }
}

}  // namespace

std::string_view to_string(ShutdownReason reason) {
  for (const auto& [value, name] : kShutdownReasons)
    if (value == reason) return name;
  return "host-quit";
}

Result<ShutdownReason> parse_shutdown_reason(std::string_view name) {
  for (const auto& [value, known] : kShutdownReasons)
    if (known == name) return value;
  return Error(ErrorKind::kCorrupt, "unknown shutdown reason '" + std::string(name) + "'");
}

std::string_view event_name(const Event& event) {
  return std::visit(
      [](const auto& typed) -> std::string_view {
        if constexpr (std::is_same_v<std::decay_t<decltype(typed)>, UnknownEvent>) {
          return typed.name;
        } else {
          return std::decay_t<decltype(typed)>::kName;
        }
      },
      event);
}

Json encode_event(const Event& event) {
  Json line{{"event", event_name(event)}};
  Json data = std::visit([](const auto& typed) { return encode(typed); }, event);
  if (!data.empty()) line["data"] = std::move(data);
  return line;
}

std::string format_event(const Event& event) {
  return dump_json(encode_event(event));
}

Result<Event> decode_event(const Json& line) {
  AMBER_TRY_ASSIGN(const std::string name, get_string(line, "event"));
  const Json* data = find_member(line, "data");
  if (data != nullptr && !data->is_object())
    return Error(ErrorKind::kCorrupt, "event " + name + ": \"data\" is not an object");
  return decode_known(name, data != nullptr ? *data : Json::object());
}

}  // namespace amber::vmmctl
