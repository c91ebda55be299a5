// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/control/commands.h"

#include <optional>
#include <utility>

#include "vmmctl/protocol.h"

namespace amber::hv::control {
namespace {

using vmmctl::ErrorClass;

// Decodes C's arguments, runs `call` with them and encodes its reply.
template <typename C, typename Call>
std::string run(const vmmctl::Request& request, Call&& call) {
  typename C::Request arguments;
  if (auto decoded = decode(request.arguments, arguments); !decoded.ok())
    return vmmctl::encode_error(ErrorClass::kGenericError,
                                request.command + ": " + decoded.error().message(), request.id);
  const typename C::Reply reply = call(arguments);
  return vmmctl::encode_return(encode(reply), request.id);
}

// A command whose call may fail: its error's message is the reply's desc.
template <typename C, typename Call>
std::string run_checked(const vmmctl::Request& request, Call&& call) {
  typename C::Request arguments;
  if (auto decoded = decode(request.arguments, arguments); !decoded.ok())
    return vmmctl::encode_error(ErrorClass::kGenericError,
                                request.command + ": " + decoded.error().message(), request.id);
  Result<typename C::Reply> reply = call(arguments);
  if (!reply.ok())
    return vmmctl::encode_error(ErrorClass::kGenericError, reply.error().message(), request.id);
  return vmmctl::encode_return(encode(*reply), request.id);
}

// A command with no arguments and an empty reply.
template <typename C, typename Action>
std::string act(const vmmctl::Request& request, Action&& action) {
  return run<C>(request, [&](const vmmctl::NoArguments&) {
    action();
    return vmmctl::EmptyReply{};
  });
}

std::string dispatch(vmmctl::CommandId id, const vmmctl::Request& request, ControlTarget& target) {
  using namespace vmmctl;
  switch (id) {
    case CommandId::kQueryVersion:
      return run<QueryVersion>(request, [](const NoArguments&) {
        VersionInfo info;
        info.version = std::string(program_version());
        return info;
      });
    case CommandId::kQueryStatus:
      return run<QueryStatus>(request, [&](const NoArguments&) { return target.query_status(); });
    case CommandId::kQueryChardev:
      return run<QueryChardev>(request, [&](const NoArguments&) { return target.query_chardev(); });
    case CommandId::kQueryBlock:
      return run<QueryBlock>(request, [&](const NoArguments&) { return target.query_block(); });
    case CommandId::kQueryNics:
      return run<QueryNics>(request, [&](const NoArguments&) { return target.query_nics(); });
    case CommandId::kPause:
      return act<Pause>(request, [&] { target.pause(); });
    case CommandId::kResume:
      return act<Resume>(request, [&] { target.resume(); });
    case CommandId::kSystemReset:
      return act<SystemReset>(request, [&] { target.reset(); });
    case CommandId::kQuit:
      return act<Quit>(request, [&] { target.quit(); });
    case CommandId::kSystemPowerdown:
      return act<SystemPowerdown>(request, [&] { target.powerdown(); });
    case CommandId::kEject:
      return run_checked<Eject>(request, [&](const EjectRequest& arguments) -> Result<EmptyReply> {
        AMBER_TRY(target.eject(arguments));
        return EmptyReply{};
      });
    case CommandId::kBlockdevChangeMedium:
      return run_checked<BlockdevChangeMedium>(
          request, [&](const ChangeMediumRequest& arguments) -> Result<EmptyReply> {
            AMBER_TRY(target.change_medium(arguments));
            return EmptyReply{};
          });
    case CommandId::kScreendump: {
      ScreendumpArguments arguments;
      if (auto decoded = decode(request.arguments, arguments); !decoded.ok())
        return encode_error(ErrorClass::kGenericError,
                            request.command + ": " + decoded.error().message(), request.id);
      if (auto written = target.screendump(arguments.filename); !written.ok())
        return encode_error(ErrorClass::kGenericError, written.error().message(), request.id);
      return encode_return(encode(EmptyReply{}), request.id);
    }
    case CommandId::kSendKey: {
      SendKeyArguments arguments;
      if (auto decoded = decode(request.arguments, arguments); !decoded.ok())
        return encode_error(ErrorClass::kGenericError,
                            request.command + ": " + decoded.error().message(), request.id);
      if (auto sent = target.send_key(arguments); !sent.ok())
        return encode_error(ErrorClass::kGenericError,
                            request.command + ": " + sent.error().message(), request.id);
      return encode_return(encode(EmptyReply{}), request.id);
    }
    case CommandId::kQueryVnc:
      return run<QueryVnc>(request, [&](const NoArguments&) { return target.query_vnc(); });
    case CommandId::kChangeVncPassword: {
      VncPasswordArguments arguments;
      if (auto decoded = decode(request.arguments, arguments); !decoded.ok())
        return encode_error(ErrorClass::kGenericError,
                            request.command + ": " + decoded.error().message(), request.id);
      if (auto changed = target.change_vnc_password(arguments.password); !changed.ok())
        return encode_error(ErrorClass::kGenericError, changed.error().message(), request.id);
      return encode_return(encode(EmptyReply{}), request.id);
    }
    case CommandId::kMouseMove:
      return run<MouseMove>(request, [&](const MouseMoveArguments& arguments) {
        target.mouse_move(arguments);
        return EmptyReply{};
      });
    case CommandId::kInputSendEvent:
      return run_checked<InputSendEvent>(
          request, [&](const InputSendEventArguments& arguments) -> Result<EmptyReply> {
            if (auto sent = target.input_send_event(arguments); !sent.ok())
              return Error(sent.error().kind(), request.command + ": " + sent.error().message());
            return EmptyReply{};
          });
  }
  return encode_error(ErrorClass::kGenericError, "unhandled command", request.id);
}

// The id of a line that is JSON but not a valid command, to echo it.
std::optional<vmmctl::Json> id_of(std::string_view line) {
  auto json = vmmctl::parse_json(line, vmmctl::kMaxCommandLength);
  if (!json.ok()) return std::nullopt;
  if (const vmmctl::Json* id = vmmctl::find_member(*json, "id")) return *id;
  return std::nullopt;
}

}  // namespace

std::string handle_line(std::string_view line, ControlTarget& target) {
  auto request = vmmctl::decode_request(line);
  if (!request.ok()) {
    const bool malformed = request.error().kind() == ErrorKind::kCorrupt;
    return vmmctl::encode_error(ErrorClass::kGenericError,
                                (malformed ? "malformed JSON: " : "") + request.error().message(),
                                malformed ? std::nullopt : id_of(line));
  }
  const vmmctl::CommandSpec* spec = vmmctl::find_command(request->command);
  if (spec == nullptr)
    return vmmctl::encode_error(ErrorClass::kCommandNotFound,
                                "unknown command '" + request->command + "'", request->id);
  return dispatch(spec->id, *request, target);
}

std::string greeting_line() {
  vmmctl::Greeting greeting;
  greeting.version = std::string(vmmctl::program_version());
  return vmmctl::dump_json(vmmctl::encode_greeting(greeting));
}

}  // namespace amber::hv::control
