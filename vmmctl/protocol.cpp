// SPDX-License-Identifier: GPL-2.0-or-later
#include "vmmctl/protocol.h"

#include <array>
#include <utility>

namespace amber::vmmctl {
namespace {

Error corrupt(std::string message) {
  return Error(ErrorKind::kCorrupt, std::move(message));
}

constexpr std::array<std::pair<ErrorClass, std::string_view>, 3> kErrorClasses = {{
    {ErrorClass::kGenericError, "GenericError"},
    {ErrorClass::kCommandNotFound, "CommandNotFound"},
    {ErrorClass::kUnsupported, "Unsupported"},
}};

}  // namespace

std::string_view program_version() {
  return AMBER_PROJECT_VERSION;
}

std::string_view to_string(ErrorClass error_class) {
  for (const auto& [value, name] : kErrorClasses)
    if (value == error_class) return name;
  return "GenericError";
}

Result<ErrorClass> parse_error_class(std::string_view name) {
  for (const auto& [value, known] : kErrorClasses)
    if (known == name) return value;
  return corrupt("unknown error class '" + std::string(name) + "'");
}

Json encode(const ProtocolVersion& version) {
  return Json{{"major", version.major}, {"minor", version.minor}};
}

Result<void> decode(const Json& json, ProtocolVersion& version) {
  AMBER_TRY_ASSIGN(const uint64_t major, get_unsigned(json, "major"));
  AMBER_TRY_ASSIGN(const uint64_t minor, get_unsigned(json, "minor"));
  if (major > UINT32_MAX || minor > UINT32_MAX) return corrupt("protocol version out of range");
  version = {static_cast<unsigned>(major), static_cast<unsigned>(minor)};  // checked above
  return ok();
}

Json encode_greeting(const Greeting& greeting) {
  return Json{{"greeting",
               {{"protocol", encode(greeting.protocol)},
                {"program", greeting.program},
                {"version", greeting.version}}}};
}

Result<Greeting> decode_greeting(const Json& body) {
  Greeting greeting;
  AMBER_TRY_ASSIGN(const Json* protocol, get_object(body, "protocol"));
  AMBER_TRY(decode(*protocol, greeting.protocol));
  AMBER_TRY_ASSIGN(greeting.program, get_string(body, "program"));
  AMBER_TRY_ASSIGN(greeting.version, get_string(body, "version"));
  return greeting;
}

std::string encode_request(std::string_view command, const Json& arguments,
                           const std::optional<Json>& id) {
  Json line{{"execute", command}};
  if (!arguments.empty()) line["arguments"] = arguments;
  if (id) line["id"] = *id;
  return dump_json(line);
}

Result<Request> decode_request(std::string_view line) {
  AMBER_TRY_ASSIGN(Json json, parse_json(line, kMaxCommandLength));
  if (!json.is_object())
    return Error(ErrorKind::kInvalidArgument, "a command must be a JSON object");
  Request request;
  if (const Json* id = find_member(json, "id")) request.id = *id;
  const Json* execute = find_member(json, "execute");
  if (execute == nullptr || !execute->is_string())
    return Error(ErrorKind::kInvalidArgument, "missing \"execute\" (a command name string)");
  request.command = execute->get_ref<const std::string&>();
  if (const Json* arguments = find_member(json, "arguments")) {
    if (!arguments->is_object())
      return Error(ErrorKind::kInvalidArgument, "\"arguments\" must be an object");
    request.arguments = *arguments;
  }
  for (const auto& [key, value] : json.items()) {
    if (key != "execute" && key != "arguments" && key != "id")
      return Error(ErrorKind::kInvalidArgument, "unknown member \"" + key + "\" in a command");
  }
  return request;
}

std::string encode_return(const Json& value, const std::optional<Json>& id) {
  Json line{{"return", value}};
  if (id) line["id"] = *id;
  return dump_json(line);
}

std::string encode_error(ErrorClass error_class, std::string_view description,
                         const std::optional<Json>& id) {
  Json line{{"error", {{"class", to_string(error_class)}, {"desc", description}}}};
  if (id) line["id"] = *id;
  return dump_json(line);
}

Error decode_error(std::string_view command, const Json& body) {
  const auto class_name = get_string(body, "class");
  const auto description = get_string(body, "desc");
  const std::string text = std::string(command) + ": " +
                           (class_name.ok() ? *class_name : std::string("GenericError")) + ": " +
                           (description.ok() ? *description : std::string("(no description)"));
  const auto error_class = class_name.ok() ? parse_error_class(*class_name)
                                           : Result<ErrorClass>(ErrorClass::kGenericError);
  if (!error_class.ok()) return Error(ErrorKind::kInvalidArgument, text);
  switch (*error_class) {
    case ErrorClass::kCommandNotFound:
      return Error(ErrorKind::kNotFound, text);
    case ErrorClass::kUnsupported:
      return Error(ErrorKind::kUnsupported, text);
    case ErrorClass::kGenericError:
      break;
  }
  return Error(ErrorKind::kInvalidArgument, text);
}

Result<Message> decode_message(std::string_view line) {
  AMBER_TRY_ASSIGN(Json json, parse_json(line, kMaxMessageLength));
  if (!json.is_object()) return corrupt("a control message must be a JSON object");
  Message message;
  if (const Json* id = find_member(json, "id")) message.id = *id;
  if (const Json* body = find_member(json, "return")) {
    message.kind = Message::Kind::kReturn;
    message.body = *body;
  } else if (const Json* error = find_member(json, "error"); error && error->is_object()) {
    message.kind = Message::Kind::kError;
    message.body = *error;
  } else if (const Json* greeting = find_member(json, "greeting");
             greeting && greeting->is_object()) {
    message.kind = Message::Kind::kGreeting;
    message.body = *greeting;
  } else if (const Json* event = find_member(json, "event"); event && event->is_string()) {
    message.kind = Message::Kind::kEvent;
    message.body = std::move(json);
  } else {
    return corrupt("a control message with none of return, error, greeting, event");
  }
  return message;
}

}  // namespace amber::vmmctl
