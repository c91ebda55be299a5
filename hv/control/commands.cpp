#include "hv/control/commands.h"

#include "hv/control/json.h"

namespace amber::hv::control {
namespace {

std::string error_reply(std::string_view error_class, std::string_view description, const JsonValue* id) {
  JsonValue error = JsonValue::object();
  error.set("class", JsonValue::string(std::string(error_class)));
  error.set("desc", JsonValue::string(std::string(description)));
  JsonValue reply = JsonValue::object();
  reply.set("error", std::move(error));
  if (id != nullptr) reply.set("id", *id);
  return reply.dump();
}

std::string return_reply(JsonValue value, const JsonValue* id) {
  JsonValue reply = JsonValue::object();
  reply.set("return", std::move(value));
  if (id != nullptr) reply.set("id", *id);
  return reply.dump();
}

JsonValue counters(const BlockInfo& disk) {
  JsonValue stats = JsonValue::object();
  auto put = [&](const char* prefix, const BlockOpCounters& c) {
    const std::string p = prefix;
    stats.set(p + "_operations", JsonValue::number(static_cast<double>(c.operations)));
    stats.set(p + "_bytes", JsonValue::number(static_cast<double>(c.bytes)));
    stats.set(p + "_total_time_ns", JsonValue::number(static_cast<double>(c.total_time_ns)));
    stats.set("failed_" + p + "_operations", JsonValue::number(static_cast<double>(c.failed)));
  };
  put("rd", disk.read);
  put("wr", disk.write);
  put("flush", disk.flush);
  put("discard", disk.discard);
  return stats;
}

}  // namespace

std::string handle_line(std::string_view line, ControlTarget& target) {
  auto parsed = parse_json(line);
  if (!parsed.ok()) return error_reply("GenericError", "malformed JSON: " + parsed.error().message(), nullptr);
  const JsonValue& request = *parsed;
  if (!request.is_object()) return error_reply("GenericError", "a command must be a JSON object", nullptr);
  const JsonValue* id = request.find("id");
  const JsonValue* execute = request.find("execute");
  if (execute == nullptr || !execute->is_string())
    return error_reply("GenericError", "missing \"execute\" (a command name string)", id);
  const std::string& command = execute->as_string();

  if (command == "query-status") {
    JsonValue value = JsonValue::object();
    const std::string status = target.status();
    value.set("status", JsonValue::string(status));
    value.set("running", JsonValue::boolean(status == "running"));
    value.set("name", JsonValue::string(target.name()));
    return return_reply(std::move(value), id);
  }
  if (command == "pause") { target.pause(); return return_reply(JsonValue::object(), id); }
  if (command == "resume" || command == "cont") { target.resume(); return return_reply(JsonValue::object(), id); }
  if (command == "system_reset") { target.reset(); return return_reply(JsonValue::object(), id); }
  if (command == "quit") { target.quit(); return return_reply(JsonValue::object(), id); }
  if (command == "system_powerdown")
    return error_reply("Unsupported", "system_powerdown is not supported yet (no ACPI power button)", id);
  if (command == "query-block") {
    JsonValue list = JsonValue::array();
    for (const BlockInfo& disk : target.query_block()) {
      JsonValue entry = JsonValue::object();
      entry.set("device", JsonValue::string(disk.device));
      entry.set("path", JsonValue::string(disk.path));
      entry.set("slot", JsonValue::number(disk.slot));
      entry.set("stats", counters(disk));
      list.push(std::move(entry));
    }
    return return_reply(std::move(list), id);
  }
  return error_reply("CommandNotFound", "unknown command '" + command + "'", id);
}

}  // namespace amber::hv::control
