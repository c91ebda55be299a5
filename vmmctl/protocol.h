// SPDX-License-Identifier: GPL-2.0-or-later
// The control protocol's framing and envelopes, shared by amber-vmm (the
// server, hv/control/) and its clients (vmmctl/client.h, the daemon).
//
// One JSON object per line each way (UTF-8, '\n'-terminated). On connect
// the server sends a greeting; then every command line
//   {"execute":NAME[,"arguments":{...}][,"id":ANY]}
// gets exactly one reply line
//   {"return":VALUE[,"id":ANY]}  or  {"error":{"class":C,"desc":TEXT}[,"id":ANY]}
// and events {"event":NAME[,"data":{...}]} may come at any time in
// between (events.h). doc/amber-vmm.md describes every command.
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "vmmctl/json.h"

namespace amber::vmmctl {

// Major: incompatible changes (a client refuses another major). Minor:
// compatible additions (new commands, events, members).
struct ProtocolVersion {
  unsigned major = 0;
  unsigned minor = 0;
  bool operator==(const ProtocolVersion&) const = default;
};
inline constexpr ProtocolVersion kProtocolVersion{1, 0};

// Line limits. A command is small: 64 KiB is far above any real one and
// bounds what a hostile client makes the server buffer. A reply can carry
// 16 disks with PATH_MAX paths, JSON-escaped (worst case 6 bytes a byte):
// well under 1 MiB.
inline constexpr size_t kMaxCommandLength = 64 * 1024;
inline constexpr size_t kMaxMessageLength = 1024 * 1024;

// The version of the amber-vmm build (the project version).
std::string_view program_version();

struct Greeting {
  ProtocolVersion protocol = kProtocolVersion;
  std::string program = "amber-vmm";
  std::string version;
  bool operator==(const Greeting&) const = default;
};

enum class ErrorClass { kGenericError, kCommandNotFound, kUnsupported };
std::string_view to_string(ErrorClass error_class);
Result<ErrorClass> parse_error_class(std::string_view name);

// A command as the server receives it.
struct Request {
  std::string command;
  Json arguments = Json::object();
  std::optional<Json> id;
};

// What one server line is.
struct Message {
  enum class Kind { kGreeting, kReturn, kError, kEvent } kind = Kind::kReturn;
  Json body;  // the greeting, return value, error object or whole event
  std::optional<Json> id;
};

Json encode(const ProtocolVersion& version);
Result<void> decode(const Json& json, ProtocolVersion& version);
Json encode_greeting(const Greeting& greeting);  // the whole line's object
Result<Greeting> decode_greeting(const Json& body);

// Request lines: the client encodes, the server decodes (kCorrupt errors
// for malformed JSON; kInvalidArgument for a well-formed line that is not
// a command).
std::string encode_request(std::string_view command, const Json& arguments,
                           const std::optional<Json>& id);
Result<Request> decode_request(std::string_view line);

// Reply lines (no trailing newline).
std::string encode_return(const Json& value, const std::optional<Json>& id);
std::string encode_error(ErrorClass error_class, std::string_view description,
                         const std::optional<Json>& id);
// An error reply's body as an Error (the class chooses the kind).
Error decode_error(std::string_view command, const Json& body);

// Classifies one server line.
Result<Message> decode_message(std::string_view line);

}  // namespace amber::vmmctl
