// SPDX-License-Identifier: GPL-2.0-or-later
#include "vmmctl/commands.h"

#include <algorithm>
#include <climits>
#include <utility>

#include "vmmctl/qcode.h"

namespace amber::vmmctl {
namespace {

static_assert(
    [] {
      for (size_t i = 0; i < kCommands.size(); ++i)
        if (static_cast<size_t>(kCommands[i].id) != i) return false;
      return true;
    }(),
    "kCommands rows must be in CommandId order");

Error corrupt(std::string message) {
  return Error(ErrorKind::kCorrupt, std::move(message));
}

constexpr std::array<std::pair<RunState, std::string_view>, 4> kRunStates = {{
    {RunState::kRunning, "running"},
    {RunState::kPaused, "paused"},
    {RunState::kShutdown, "shutdown"},
    {RunState::kIoError, "io-error"},
}};

// The four counters of one request kind, with QEMU's member names.
struct CounterNames {
  const char* prefix;
  BlockOpCounters BlockInfo::*counters;
};
constexpr CounterNames kCounterNames[] = {
    {"rd", &BlockInfo::read},
    {"wr", &BlockInfo::write},
    {"flush", &BlockInfo::flush},
    {"discard", &BlockInfo::discard},
};

// The operations of BlockIoErrors, with their wire names.
struct IoErrorNames {
  const char* operation;
  BlockErrorCounters BlockIoErrors::*counters;
};
constexpr IoErrorNames kIoErrorNames[] = {
    {"read", &BlockIoErrors::read},
    {"write", &BlockIoErrors::write},
    {"flush", &BlockIoErrors::flush},
    {"discard", &BlockIoErrors::discard},
    {"write-zeroes", &BlockIoErrors::write_zeroes},
};

}  // namespace

const CommandSpec* find_command(std::string_view name) {
  for (const CommandSpec& spec : kCommands)
    if (spec.name == name) return &spec;
  return nullptr;
}

std::string_view command_name(CommandId id) {
  return kCommands[static_cast<size_t>(id)].name;
}

std::string_view to_string(RunState state) {
  for (const auto& [value, name] : kRunStates)
    if (value == state) return name;
  return "paused";
}

Result<RunState> parse_run_state(std::string_view name) {
  for (const auto& [value, known] : kRunStates)
    if (known == name) return value;
  return corrupt("unknown run state '" + std::string(name) + "'");
}

Json encode(const NoArguments&) {
  return Json::object();
}
Result<void> decode(const Json& json, NoArguments&) {
  if (!json.is_object()) return Error(ErrorKind::kInvalidArgument, "arguments must be an object");
  if (!json.empty())
    return Error(ErrorKind::kInvalidArgument,
                 "unexpected argument \"" + json.begin().key() + "\" (this command takes none)");
  return ok();
}

Json encode(const EmptyReply&) {
  return Json::object();
}
Result<void> decode(const Json& json, EmptyReply&) {
  if (!json.is_object()) return corrupt("expected an empty object");
  return ok();
}

Json encode(const ScreendumpArguments& arguments) {
  return Json{{"filename", arguments.filename}};
}
Result<void> decode(const Json& json, ScreendumpArguments& arguments) {
  if (!json.is_object()) return Error(ErrorKind::kInvalidArgument, "arguments must be an object");
  for (auto it = json.begin(); it != json.end(); ++it) {
    const std::string& key = it.key();
    if (key == "filename") {
      if (!it.value().is_string() || it.value().get<std::string>().empty())
        return Error(ErrorKind::kInvalidArgument, "\"filename\" must be a non-empty string");
      arguments.filename = it.value().get<std::string>();
    } else if (key == "format") {
      if (!it.value().is_string() || it.value().get<std::string>() != "ppm")
        return Error(ErrorKind::kInvalidArgument, "\"format\": only ppm is written");
    } else {
      return Error(ErrorKind::kInvalidArgument, "unexpected argument \"" + key + "\"");
    }
  }
  if (arguments.filename.empty())
    return Error(ErrorKind::kInvalidArgument, "missing argument \"filename\"");
  return ok();
}

Json encode(const VersionInfo& info) {
  return Json{
      {"program", info.program}, {"version", info.version}, {"protocol", encode(info.protocol)}};
}
Result<void> decode(const Json& json, VersionInfo& info) {
  AMBER_TRY_ASSIGN(info.program, get_string(json, "program"));
  AMBER_TRY_ASSIGN(info.version, get_string(json, "version"));
  AMBER_TRY_ASSIGN(const Json* protocol, get_object(json, "protocol"));
  return decode(*protocol, info.protocol);
}

Json encode(const StatusInfo& info) {
  return Json{{"status", to_string(info.status)},
              {"running", info.status == RunState::kRunning},
              {"name", info.name},
              {"pid", info.pid}};
}
Result<void> decode(const Json& json, StatusInfo& info) {
  AMBER_TRY_ASSIGN(const std::string status, get_string(json, "status"));
  AMBER_TRY_ASSIGN(info.status, parse_run_state(status));
  AMBER_TRY_ASSIGN(info.name, get_string(json, "name"));
  AMBER_TRY_ASSIGN(info.pid, get_integer(json, "pid"));
  return ok();
}

Json encode(const ChardevInfo& info) {
  return Json{{"label", info.label}, {"backend", to_string(info.backend)}, {"path", info.path}};
}
Result<void> decode(const Json& json, ChardevInfo& info) {
  AMBER_TRY_ASSIGN(info.label, get_string(json, "label"));
  AMBER_TRY_ASSIGN(const std::string backend, get_string(json, "backend"));
  bool known = false;
  for (const SerialKind kind : {SerialKind::kNone, SerialKind::kStdio, SerialKind::kPty,
                                SerialKind::kFile, SerialKind::kUnix}) {
    if (backend == to_string(kind)) {
      info.backend = kind;
      known = true;
    }
  }
  if (!known) return corrupt("unknown chardev backend '" + backend + "'");
  AMBER_TRY_ASSIGN(info.path, get_string(json, "path"));
  return ok();
}

Json encode(const BlockInfo& info) {
  Json stats = Json::object();
  for (const CounterNames& names : kCounterNames) {
    const std::string prefix = names.prefix;
    const BlockOpCounters& counters = info.*names.counters;
    stats[prefix + "_operations"] = counters.operations;
    stats[prefix + "_bytes"] = counters.bytes;
    stats[prefix + "_total_time_ns"] = counters.total_time_ns;
    stats["failed_" + prefix + "_operations"] = counters.failed;
  }
  Json io_errors = Json::object();
  for (const IoErrorNames& names : kIoErrorNames) {
    const BlockErrorCounters& counters = info.io_errors.*names.counters;
    io_errors[names.operation] =
        Json{{"eio", counters.eio}, {"enospc", counters.enospc}, {"other", counters.other}};
  }
  Json out{{"device", info.device},
           {"path", info.path},
           {"slot", info.slot},
           {"stats", stats},
           {"io_errors", io_errors}};
  if (info.removable) {
    out["removable"] = true;
    out["tray_open"] = info.tray_open;
    out["locked"] = info.locked;
  }
  return out;
}
Result<void> decode(const Json& json, BlockInfo& info) {
  AMBER_TRY_ASSIGN(info.device, get_string(json, "device"));
  AMBER_TRY_ASSIGN(info.path, get_string(json, "path"));
  AMBER_TRY_ASSIGN(const uint64_t slot, get_unsigned(json, "slot"));
  if (slot > UINT32_MAX) return corrupt("slot out of range");
  info.slot = static_cast<unsigned>(slot);  // checked above
  AMBER_TRY_ASSIGN(const Json* stats, get_object(json, "stats"));
  for (const CounterNames& names : kCounterNames) {
    const std::string prefix = names.prefix;
    BlockOpCounters& counters = info.*names.counters;
    AMBER_TRY_ASSIGN(counters.operations, get_unsigned(*stats, prefix + "_operations"));
    AMBER_TRY_ASSIGN(counters.bytes, get_unsigned(*stats, prefix + "_bytes"));
    AMBER_TRY_ASSIGN(counters.total_time_ns, get_unsigned(*stats, prefix + "_total_time_ns"));
    AMBER_TRY_ASSIGN(counters.failed, get_unsigned(*stats, "failed_" + prefix + "_operations"));
  }
  info.removable = info.tray_open = info.locked = false;
  for (auto [key, flag] :
       {std::pair{"removable", &info.removable}, std::pair{"tray_open", &info.tray_open},
        std::pair{"locked", &info.locked}}) {
    if (find_member(json, key) == nullptr) continue;
    AMBER_TRY_ASSIGN(*flag, get_bool(json, key));
  }
  info.io_errors = {};
  const Json* io_errors = find_member(json, "io_errors");
  if (io_errors == nullptr) return ok();  // an older amber-vmm
  if (!io_errors->is_object()) return corrupt("\"io_errors\" is not an object");
  for (const IoErrorNames& names : kIoErrorNames) {
    AMBER_TRY_ASSIGN(const Json* one, get_object(*io_errors, names.operation));
    BlockErrorCounters& counters = info.io_errors.*names.counters;
    AMBER_TRY_ASSIGN(counters.eio, get_unsigned(*one, "eio"));
    AMBER_TRY_ASSIGN(counters.enospc, get_unsigned(*one, "enospc"));
    AMBER_TRY_ASSIGN(counters.other, get_unsigned(*one, "other"));
  }
  return ok();
}

namespace {

constexpr std::pair<const char*, uint64_t NicInfo::*> kNicCounters[] = {
    {"rx_bytes", &NicInfo::rx_bytes},   {"rx_packets", &NicInfo::rx_packets},
    {"rx_errors", &NicInfo::rx_errors}, {"rx_drops", &NicInfo::rx_drops},
    {"tx_bytes", &NicInfo::tx_bytes},   {"tx_packets", &NicInfo::tx_packets},
    {"tx_errors", &NicInfo::tx_errors}, {"tx_drops", &NicInfo::tx_drops},
};

}  // namespace

Json encode(const NicLease& lease) {
  Json out{{"ip-address", lease.ip_address},
           {"prefix", lease.prefix},
           {"mac-address", lease.mac_address}};
  if (lease.expires_in) out["expires-in"] = *lease.expires_in;
  return out;
}

Result<void> decode(const Json& json, NicLease& lease) {
  AMBER_TRY_ASSIGN(lease.ip_address, get_string(json, "ip-address"));
  AMBER_TRY_ASSIGN(const uint64_t prefix, get_unsigned(json, "prefix"));
  if (prefix > 32) return Error(ErrorKind::kInvalidArgument, "lease prefix over 32");
  lease.prefix = static_cast<unsigned>(prefix);
  AMBER_TRY_ASSIGN(lease.mac_address, get_string(json, "mac-address"));
  lease.expires_in.reset();
  if (find_member(json, "expires-in") != nullptr) {
    AMBER_TRY_ASSIGN(lease.expires_in, get_unsigned(json, "expires-in"));
  }
  return ok();
}

Json encode(const NicInfo& info) {
  Json out{{"id", info.id}, {"model", info.model}, {"mac", info.mac}};
  for (const auto& [name, member] : kNicCounters) out[name] = info.*member;
  out["leases"] = encode(info.leases);
  return out;
}

Result<void> decode(const Json& json, NicInfo& info) {
  AMBER_TRY_ASSIGN(info.id, get_string(json, "id"));
  AMBER_TRY_ASSIGN(info.model, get_string(json, "model"));
  AMBER_TRY_ASSIGN(info.mac, get_string(json, "mac"));
  for (const auto& [name, member] : kNicCounters) {
    AMBER_TRY_ASSIGN(info.*member, get_unsigned(json, name));
  }
  info.leases.clear();
  if (find_member(json, "leases") != nullptr) {  // absent from older amber-vmm
    AMBER_TRY_ASSIGN(const Json* leases, get_array(json, "leases"));
    AMBER_TRY(decode(*leases, info.leases));
  }
  return ok();
}

namespace {

// Arguments must be an object of known members only.
Result<void> known_members(const Json& json, std::initializer_list<std::string_view> names) {
  if (!json.is_object()) return Error(ErrorKind::kInvalidArgument, "arguments must be an object");
  for (auto it = json.begin(); it != json.end(); ++it) {
    bool known = false;
    for (std::string_view name : names) known = known || it.key() == name;
    if (!known)
      return Error(ErrorKind::kInvalidArgument, "unexpected argument \"" + it.key() + "\"");
  }
  return ok();
}

Result<std::string> argument_string(const Json& json, std::string_view key, bool required) {
  const Json* member = find_member(json, key);
  if (member == nullptr) {
    if (required)
      return Error(ErrorKind::kInvalidArgument, "missing argument \"" + std::string(key) + "\"");
    return std::string();
  }
  if (!member->is_string())
    return Error(ErrorKind::kInvalidArgument,
                 "argument \"" + std::string(key) + "\" must be a string");
  return member->get<std::string>();
}

}  // namespace

Json encode(const EjectRequest& request) {
  return Json{{"id", request.id}, {"force", request.force}};
}
Result<void> decode(const Json& json, EjectRequest& request) {
  AMBER_TRY(known_members(json, {"id", "force"}));
  AMBER_TRY_ASSIGN(request.id, argument_string(json, "id", true));
  request.force = false;
  if (const Json* force = find_member(json, "force")) {
    if (!force->is_boolean())
      return Error(ErrorKind::kInvalidArgument, "argument \"force\" must be a boolean");
    request.force = force->get<bool>();
  }
  return ok();
}

Json encode(const ChangeMediumRequest& request) {
  Json out{{"id", request.id}, {"filename", request.filename}};
  if (!request.format.empty()) out["format"] = request.format;
  if (!request.read_only_mode.empty()) out["read-only-mode"] = request.read_only_mode;
  return out;
}
Result<void> decode(const Json& json, ChangeMediumRequest& request) {
  AMBER_TRY(known_members(json, {"id", "filename", "format", "read-only-mode"}));
  AMBER_TRY_ASSIGN(request.id, argument_string(json, "id", true));
  AMBER_TRY_ASSIGN(request.filename, argument_string(json, "filename", true));
  AMBER_TRY_ASSIGN(request.format, argument_string(json, "format", false));
  AMBER_TRY_ASSIGN(request.read_only_mode, argument_string(json, "read-only-mode", false));
  if (request.filename.empty())
    return Error(ErrorKind::kInvalidArgument, "argument \"filename\" is empty");
  return ok();
}

namespace {

Error bad_argument(std::string message) {
  return Error(ErrorKind::kInvalidArgument, std::move(message));
}

// Rejects members other than `known` (a typo must not be ignored).
Result<void> only_members(const Json& json, std::initializer_list<std::string_view> known) {
  if (!json.is_object()) return bad_argument("arguments must be an object");
  for (auto it = json.begin(); it != json.end(); ++it) {
    if (std::find(known.begin(), known.end(), it.key()) == known.end())
      return bad_argument("unexpected argument \"" + it.key() + "\"");
  }
  return ok();
}

Result<int32_t> get_int32(const Json& json, std::string_view key) {
  if (find_member(json, key) == nullptr) return 0;
  auto value = get_integer(json, key);
  if (!value.ok() || *value < INT32_MIN || *value > INT32_MAX)
    return bad_argument("\"" + std::string(key) + "\" must be a 32-bit integer");
  return static_cast<int32_t>(*value);
}

}  // namespace

Json encode(const SendKeyArguments& arguments) {
  Json keys = Json::array();
  for (unsigned key : arguments.keys) keys.push_back(key);
  return Json{{"keys", keys}, {"hold-time", arguments.hold_time_ms}};
}

Result<void> decode(const Json& json, SendKeyArguments& arguments) {
  AMBER_TRY(only_members(json, {"keys", "hold-time"}));
  auto keys = get_array(json, "keys");
  if (!keys.ok()) return bad_argument("\"keys\" must be an array of keycodes");
  if ((*keys)->empty()) return bad_argument("\"keys\" is empty");
  if ((*keys)->size() > kMaxSendKeys)
    return bad_argument("more than " + std::to_string(kMaxSendKeys) + " keys");
  arguments.keys.clear();
  for (const Json& key : **keys) {
    if (!key.is_number_unsigned() || key.get<uint64_t>() > 0xFFFF)
      return bad_argument("a key is not a keycode (an integer 0..65535): " + dump_json(key));
    arguments.keys.push_back(static_cast<unsigned>(key.get<uint64_t>()));
  }
  arguments.hold_time_ms = kDefaultHoldTimeMs;
  if (find_member(json, "hold-time") != nullptr) {
    auto hold = get_unsigned(json, "hold-time");
    if (!hold.ok() || *hold > kMaxHoldTimeMs)
      return bad_argument("\"hold-time\" must be 0.." + std::to_string(kMaxHoldTimeMs) + " ms");
    arguments.hold_time_ms = static_cast<unsigned>(*hold);
  }
  return ok();
}

Json encode(const MouseMoveArguments& arguments) {
  return Json{{"dx", arguments.dx},
              {"dy", arguments.dy},
              {"dz", arguments.dz},
              {"buttons", arguments.buttons}};
}

Result<void> decode(const Json& json, MouseMoveArguments& arguments) {
  AMBER_TRY(only_members(json, {"dx", "dy", "dz", "buttons"}));
  AMBER_TRY_ASSIGN(arguments.dx, get_int32(json, "dx"));
  AMBER_TRY_ASSIGN(arguments.dy, get_int32(json, "dy"));
  AMBER_TRY_ASSIGN(arguments.dz, get_int32(json, "dz"));
  arguments.buttons = 0;
  if (find_member(json, "buttons") != nullptr) {
    auto buttons = get_unsigned(json, "buttons");
    if (!buttons.ok() || *buttons > 0x1F) return bad_argument("\"buttons\" must be a mask 0..31");
    arguments.buttons = static_cast<unsigned>(*buttons);
  }
  return ok();
}

Json encode(const VncClientInfo& info) {
  return Json{{"host", info.host}, {"service", info.service}, {"family", info.family}};
}

Result<void> decode(const Json& json, VncClientInfo& info) {
  AMBER_TRY_ASSIGN(info.host, get_string(json, "host"));
  AMBER_TRY_ASSIGN(info.service, get_string(json, "service"));
  info.family.clear();
  if (find_member(json, "family") != nullptr) {
    AMBER_TRY_ASSIGN(info.family, get_string(json, "family"));
  }
  return ok();
}

Json encode(const VncInfo& info) {
  if (!info.enabled) return Json{{"enabled", false}};
  return Json{{"enabled", true},       {"host", info.host}, {"service", info.service},
              {"family", info.family}, {"auth", info.auth}, {"clients", encode(info.clients)}};
}

Result<void> decode(const Json& json, VncInfo& info) {
  info = VncInfo{};
  AMBER_TRY_ASSIGN(info.enabled, get_bool(json, "enabled"));
  if (!info.enabled) return ok();
  AMBER_TRY_ASSIGN(info.host, get_string(json, "host"));
  AMBER_TRY_ASSIGN(info.service, get_string(json, "service"));
  AMBER_TRY_ASSIGN(info.family, get_string(json, "family"));
  AMBER_TRY_ASSIGN(info.auth, get_string(json, "auth"));
  AMBER_TRY_ASSIGN(const Json* clients, get_array(json, "clients"));
  return decode(*clients, info.clients);
}

Json encode(const VncPasswordArguments& arguments) {
  return Json{{"password", arguments.password}};
}

Result<void> decode(const Json& json, VncPasswordArguments& arguments) {
  AMBER_TRY(only_members(json, {"password"}));
  auto password = get_string(json, "password");
  if (!password.ok()) return bad_argument("\"password\" must be a string");
  arguments.password = std::move(password).value();
  return ok();
}

namespace {

constexpr std::pair<InputButton, std::string_view> kInputButtons[] = {
    {InputButton::kLeft, "left"},
    {InputButton::kMiddle, "middle"},
    {InputButton::kRight, "right"},
    {InputButton::kWheelUp, "wheel-up"},
    {InputButton::kWheelDown, "wheel-down"},
};
constexpr std::pair<InputEventType, std::string_view> kInputEventTypes[] = {
    {InputEventType::kKey, "key"},
    {InputEventType::kButton, "btn"},
    {InputEventType::kRelative, "rel"},
    {InputEventType::kAbsolute, "abs"},
};

template <typename T, size_t N>
std::string_view name_of(const std::pair<T, std::string_view> (&table)[N], T value) {
  for (const auto& [known, name] : table)
    if (known == value) return name;
  return table[0].second;
}

Result<void> decode_event(const Json& json, InputEvent& event) {
  AMBER_TRY(only_members(json, {"type", "data"}));
  auto type = get_string(json, "type");
  if (!type.ok()) return bad_argument("an event needs \"type\" (key, btn, rel, abs)");
  bool known = false;
  for (const auto& [value, name] : kInputEventTypes) {
    if (name == *type) {
      event.type = value;
      known = true;
    }
  }
  if (!known) return bad_argument("event type '" + *type + "' is not key, btn, rel or abs");
  const Json* data = find_member(json, "data");
  if (data == nullptr || !data->is_object())
    return bad_argument("a " + *type + " event needs a \"data\" object");
  switch (event.type) {
    case InputEventType::kRelative:
    case InputEventType::kAbsolute: {
      AMBER_TRY(only_members(*data, {"axis", "value"}));
      auto axis = get_string(*data, "axis");
      if (!axis.ok() || (*axis != "x" && *axis != "y"))
        return bad_argument("\"axis\" must be \"x\" or \"y\"");
      event.axis = *axis == "x" ? InputAxis::kX : InputAxis::kY;
      auto value = get_integer(*data, "value");
      if (!value.ok()) return bad_argument("\"value\" must be an integer");
      if (event.type == InputEventType::kAbsolute && (*value < 0 || *value > kInputAbsoluteMax))
        return bad_argument("an abs \"value\" must be 0..32767");
      if (*value < INT32_MIN || *value > INT32_MAX)
        return bad_argument("a rel \"value\" must be a 32-bit integer");
      event.value = *value;
      return ok();
    }
    case InputEventType::kButton: {
      AMBER_TRY(only_members(*data, {"down", "button"}));
      auto down = get_bool(*data, "down");
      if (!down.ok()) return bad_argument("\"down\" must be true or false");
      event.down = *down;
      auto button = get_string(*data, "button");
      if (!button.ok()) return bad_argument("a btn event needs \"button\"");
      for (const auto& [value, name] : kInputButtons) {
        if (name == *button) {
          event.button = value;
          return ok();
        }
      }
      return bad_argument("button '" + *button +
                          "' is not left, middle, right, wheel-up or wheel-down");
    }
    case InputEventType::kKey: {
      AMBER_TRY(only_members(*data, {"down", "key"}));
      auto down = get_bool(*data, "down");
      if (!down.ok()) return bad_argument("\"down\" must be true or false");
      event.down = *down;
      const Json* key = find_member(*data, "key");
      if (key == nullptr || !key->is_object()) return bad_argument("a key event needs \"key\"");
      auto key_type = get_string(*key, "type");
      if (key_type.ok() && *key_type == "qcode") {
        auto name = get_string(*key, "data");
        if (!name.ok()) return bad_argument("a qcode key's \"data\" is its name");
        const std::optional<unsigned> qnum = qnum_for_qcode(*name);
        if (!qnum) return bad_argument("'" + *name + "' is not a PC keyboard key (QKeyCode)");
        event.key_number = *qnum;
        return ok();
      }
      if (!key_type.ok() || *key_type != "number")
        return bad_argument(
            "\"key\" must be {\"type\":\"number\",\"data\":N} or "
            "{\"type\":\"qcode\",\"data\":NAME}");
      auto number = get_unsigned(*key, "data");
      if (!number.ok() || *number > 0xFF)
        return bad_argument("a key number must be 0..255 (QEMU's qnum)");
      event.key_number = static_cast<unsigned>(*number);
      return ok();
    }
  }
  return ok();
}

}  // namespace

Json encode(const InputSendEventArguments& arguments) {
  Json events = Json::array();
  for (const InputEvent& event : arguments.events) {
    Json data;
    switch (event.type) {
      case InputEventType::kRelative:
      case InputEventType::kAbsolute:
        data = Json{{"axis", event.axis == InputAxis::kX ? "x" : "y"}, {"value", event.value}};
        break;
      case InputEventType::kButton:
        data = Json{{"down", event.down},
                    {"button", std::string(name_of(kInputButtons, event.button))}};
        break;
      case InputEventType::kKey:
        data = Json{{"down", event.down},
                    {"key", Json{{"type", "number"}, {"data", event.key_number}}}};
        break;
    }
    events.push_back(
        Json{{"type", std::string(name_of(kInputEventTypes, event.type))}, {"data", data}});
  }
  return Json{{"events", events}};
}

Result<void> decode(const Json& json, InputSendEventArguments& arguments) {
  AMBER_TRY(only_members(json, {"events", "device", "head"}));
  auto events = get_array(json, "events");
  if (!events.ok()) return bad_argument("\"events\" must be an array of input events");
  if ((*events)->empty()) return bad_argument("\"events\" is empty");
  if ((*events)->size() > kMaxInputEvents)
    return bad_argument("more than " + std::to_string(kMaxInputEvents) + " events");
  arguments.events.clear();
  for (const Json& element : **events) {
    InputEvent event;
    AMBER_TRY(decode_event(element, event));
    arguments.events.push_back(event);
  }
  return ok();
}

}  // namespace amber::vmmctl
