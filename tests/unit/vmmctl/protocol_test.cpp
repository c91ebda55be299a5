// SPDX-License-Identifier: GPL-2.0-or-later
#include "vmmctl/protocol.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "vmmctl/commands.h"
#include "vmmctl/events.h"

namespace amber::vmmctl {
namespace {

template <typename T>
T round_trip(const T& value) {
  const std::string text = dump_json(encode(value));
  auto parsed = parse_json(text, kMaxMessageLength);
  EXPECT_TRUE(parsed.ok()) << text;
  T back{};
  auto decoded = decode(*parsed, back);
  EXPECT_TRUE(decoded.ok()) << text << ": " << decoded.error().message();
  return back;
}

TEST(Json, SixtyFourBitCountersAreExact) {
  BlockInfo disk;
  disk.device = "disk0";
  disk.path = "/a";
  disk.slot = 3;
  disk.read.bytes = UINT64_MAX;
  disk.write.operations = (1ULL << 53) + 1;  // not representable as a double
  disk.flush.total_time_ns = 18446744073709551557ULL;
  disk.io_errors.write.enospc = 7;
  disk.io_errors.write_zeroes.other = UINT64_MAX;
  EXPECT_EQ(round_trip(disk), disk);
  const std::string text = dump_json(encode(disk));
  EXPECT_NE(text.find("\"rd_bytes\":18446744073709551615"), std::string::npos) << text;
  EXPECT_NE(text.find("\"wr_operations\":9007199254740993"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("write":{"eio":0,"enospc":7,"other":0})"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("write-zeroes":{"eio":0,"enospc":0,"other":18446744073709551615})"),
            std::string::npos)
      << text;
}

TEST(Json, NicRowsRoundTrip) {
  NicInfo nic{"net1", "e1000", "52:54:00:ab:cd:ef", UINT64_MAX, 2, 3, 4, 5, 6, 7, 8, {}};
  EXPECT_EQ(round_trip(nic), nic);
  nic.leases = {{"10.0.2.15", 24, "52:54:00:ab:cd:ef", 86399},
                {"10.0.2.16", 0, "52:54:00:00:00:01", std::nullopt}};
  EXPECT_EQ(round_trip(nic), nic);
  const std::string text = encode(nic).dump();
  EXPECT_NE(text.find(R"("leases":[{"ip-address":"10.0.2.15","prefix":24,"mac-address":)"
                      R"("52:54:00:ab:cd:ef","expires-in":86399},)"),
            std::string::npos)
      << text;
  {
    // Older amber-vmm sent no "leases"; a bad prefix is refused.
    Json old_row = encode(nic);
    old_row.erase("leases");
    NicInfo decoded;
    ASSERT_TRUE(decode(old_row, decoded).ok());
    EXPECT_TRUE(decoded.leases.empty());
    Json bad = encode(nic);
    bad["leases"][0]["prefix"] = 33;
    EXPECT_FALSE(decode(bad, decoded).ok());
  }
  auto json =
      parse_json(R"({"id":"net0","model":"e1000","mac":"x","rx_bytes":1})", kMaxMessageLength);
  ASSERT_TRUE(json.ok());
  NicInfo back;
  EXPECT_FALSE(decode(*json, back).ok());  // a counter missing
}

TEST(Json, BlockIoErrorsAreOptionalButCheckedWhenPresent) {
  BlockInfo disk;
  disk.device = "disk0";
  disk.io_errors.read.eio = 3;
  Json json = encode(disk);
  json.erase("io_errors");
  BlockInfo back;
  back.io_errors.read.eio = 9;
  ASSERT_TRUE(decode(json, back).ok());
  EXPECT_EQ(back.io_errors, BlockIoErrors{});
  json["io_errors"] = Json{{"read", Json{{"eio", 1u}}}};
  auto bad = decode(json, back);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("enospc"), std::string::npos) << bad.error().message();
  json["io_errors"] = 5;
  EXPECT_FALSE(decode(json, back).ok());
}

// An IDE CD-ROM row carries removable/tray_open/locked; a virtio row has
// none of them, and the medium requests round-trip.
TEST(Json, RemovableMediaRowsAndRequests) {
  BlockInfo cd;
  cd.device = "ide0-1-0";
  cd.slot = 1;
  cd.removable = true;
  cd.tray_open = true;
  EXPECT_EQ(round_trip(cd), cd);
  const std::string text = dump_json(encode(cd));
  EXPECT_NE(text.find(R"("removable":true,"tray_open":true,"locked":false)"), std::string::npos)
      << text;
  BlockInfo disk;
  disk.device = "disk0";
  EXPECT_EQ(dump_json(encode(disk)).find("removable"), std::string::npos);
  Json bad = encode(cd);
  bad["locked"] = "yes";
  BlockInfo back;
  EXPECT_FALSE(decode(bad, back).ok());
  EXPECT_EQ(round_trip(EjectRequest{"ide0-1-0", true}), (EjectRequest{"ide0-1-0", true}));
  const ChangeMediumRequest change{"ide0-1-1", "/b.iso", "qcow2", "read-only"};
  EXPECT_EQ(round_trip(change), change);
  EXPECT_NE(dump_json(encode(change)).find(R"("read-only-mode":"read-only")"), std::string::npos);
}

TEST(Json, StringsAreEscapedNotDropped) {
  const std::string message = std::string("rip=0x10\x01\x1f\"\\\n\tend") + '\0' + "z";
  const std::string text = format_event(DeviceFailedEvent{"cpu", message});
  EXPECT_EQ(text.find('\n'), std::string::npos);
  EXPECT_NE(text.find("\\u0001\\u001f\\\"\\\\\\n\\tend\\u0000z"), std::string::npos) << text;
  auto parsed = parse_json(text, kMaxMessageLength);
  ASSERT_TRUE(parsed.ok());
  auto event = decode_event(*parsed);
  ASSERT_TRUE(event.ok());
  EXPECT_EQ(std::get<DeviceFailedEvent>(*event).message, message);
  // Invalid UTF-8 (a path is bytes) becomes U+FFFD instead of throwing.
  EXPECT_EQ(dump_json(Json("a\xff"
                           "b")),
            "\"a\xef\xbf\xbd"
            "b\"");
}

TEST(Json, ParsingIsBounded) {
  EXPECT_TRUE(parse_json(R"({"a":[1,-2.5,true,null,"x\u00e9\ud83d\ude00"]})", 100).ok());
  for (const char* text :
       {"",      "{",        "{\"a\":}",  "[1,]",        "nul",         "{\"a\" 1}",   "\"\\x\"",
        "01",    "\"\x01\"", "{} {}",     "\"\\ud800\"", "\"\\udc00\"", "{\"a\":1} x", "\"a\nb\"",
        "{1:2}", "[[[[",     "\"\\u12\"", "tru",         "-",           "1."})
    EXPECT_FALSE(parse_json(text, 100).ok()) << text;
  EXPECT_FALSE(parse_json(std::string(100, '[') + std::string(100, ']'), 1000).ok());
  EXPECT_TRUE(
      parse_json(std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']'), 1000).ok());
  EXPECT_TRUE(parse_json("\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"", 1000).ok());  // text
  EXPECT_FALSE(parse_json(std::string(101, ' ') + "1", 100).ok());
}

TEST(Commands, TableNamesAreUniqueAndFound) {
  std::set<std::string_view> names;
  for (const CommandSpec& spec : kCommands) {
    EXPECT_TRUE(names.insert(spec.name).second) << spec.name;
    ASSERT_NE(find_command(spec.name), nullptr);
    EXPECT_EQ(find_command(spec.name)->id, spec.id);
    EXPECT_EQ(command_name(spec.id), spec.name);
  }
  EXPECT_EQ(find_command("stop"), nullptr);
  EXPECT_EQ(command_name(QueryChardev::kId), "query-chardev");
}

TEST(Commands, RepliesRoundTrip) {
  EXPECT_EQ(round_trip(VersionInfo{"amber-vmm", "9.8.7", {1, 4}}),
            (VersionInfo{"amber-vmm", "9.8.7", {1, 4}}));
  const StatusInfo status{RunState::kRunning, "w7", 4242};
  EXPECT_EQ(round_trip(status), status);
  EXPECT_EQ(encode(status)["running"], true);
  const std::vector<ChardevInfo> chardevs = {{"serial0", SerialKind::kPty, "/dev/pts/7"}};
  EXPECT_EQ(round_trip(chardevs), chardevs);
  NoArguments none;
  EXPECT_TRUE(decode(Json::object(), none).ok());
  EXPECT_FALSE(decode(Json{{"force", true}}, none).ok());
}

TEST(Protocol, RequestsAndReplies) {
  const std::string line = encode_request("query-status", Json::object(), Json(7));
  EXPECT_EQ(line, R"({"execute":"query-status","id":7})");
  auto request = decode_request(line);
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(request->command, "query-status");
  EXPECT_EQ(*request->id, Json(7));
  for (const char* bad : {"[1]", R"({"id":1})", R"({"execute":5})",
                          R"({"execute":"quit","arguments":[]})", R"({"execute":"x","y":1})"}) {
    auto refused = decode_request(bad);
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_EQ(refused.error().kind(), ErrorKind::kInvalidArgument) << bad;
  }
  EXPECT_EQ(decode_request("{").error().kind(), ErrorKind::kCorrupt);

  auto reply = decode_message(encode_return(Json::object(), Json("a")));
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->kind, Message::Kind::kReturn);
  EXPECT_EQ(*reply->id, Json("a"));
  auto error = decode_message(encode_error(ErrorClass::kUnsupported, "no", std::nullopt));
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(error->kind, Message::Kind::kError);
  EXPECT_FALSE(error->id.has_value());
  EXPECT_EQ(decode_error("system_powerdown", error->body).kind(), ErrorKind::kUnsupported);

  Greeting greeting;
  greeting.version = std::string(program_version());
  auto hello = decode_message(dump_json(encode_greeting(greeting)));
  ASSERT_TRUE(hello.ok());
  EXPECT_EQ(hello->kind, Message::Kind::kGreeting);
  EXPECT_EQ(*decode_greeting(hello->body), greeting);
}

TEST(Events, RoundTripAndUnknownOnesAreKept) {
  for (const Event& event :
       {Event(ShutdownEvent{ShutdownReason::kGuestReset}), Event(ResetEvent{}),
        Event(DeviceFailedEvent{"cpu", "KVM_EXIT_INTERNAL_ERROR"}),
        Event(BlockIoErrorEvent{"disk0", "write", "report", true, 28, "no space",
                                "pwritev: No space left"}),
        Event(DeviceNeedsResetEvent{"disk1", "avail index jumped"}),
        Event(BlockIoErrorEvent{"disk2", "flush", "stop", false, 5, "io", "m"}),
        Event(StopEvent{RunState::kIoError}), Event(StopEvent{}), Event(ResumeEvent{})}) {
    auto message = decode_message(format_event(event));
    ASSERT_TRUE(message.ok());
    EXPECT_EQ(message->kind, Message::Kind::kEvent);
    auto back = decode_event(message->body);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, event);
  }
  EXPECT_EQ(format_event(ResetEvent{}), R"({"event":"RESET"})");
  EXPECT_EQ(format_event(ShutdownEvent{ShutdownReason::kHostQuit}),
            R"({"event":"SHUTDOWN","data":{"reason":"host-quit"}})");
  EXPECT_EQ(format_event(BlockIoErrorEvent{"disk0", "read", "report", false, 5, "io", "m"}),
            R"({"event":"BLOCK_IO_ERROR","data":{"device":"disk0","operation":"read",)"
            R"("action":"report","nospace":false,"errno":5,"kind":"io","message":"m"}})");
  EXPECT_EQ(format_event(DeviceNeedsResetEvent{"disk0", "bad ring"}),
            R"({"event":"DEVICE_NEEDS_RESET","data":{"device":"disk0","reason":"bad ring"}})");
  EXPECT_FALSE(
      decode_event(
          *parse_json(R"({"event":"BLOCK_IO_ERROR","data":{"device":"disk0","operation":"read"}})",
                      200))
          .ok());
  auto future = decode_event(*parse_json(R"({"event":"NEW_THING","data":{"x":1}})", 100));
  ASSERT_TRUE(future.ok());
  EXPECT_EQ(std::get<UnknownEvent>(*future).name, "NEW_THING");
  EXPECT_FALSE(
      decode_event(*parse_json(R"({"event":"SHUTDOWN","data":{"reason":"x"}})", 100)).ok());
}

// The names the daemon matches on: the io-error run state and the
// STOP / RESUME events around it.
TEST(Events, IoErrorStopAndResumeOnTheWire) {
  EXPECT_EQ(format_event(StopEvent{RunState::kIoError}),
            R"({"event":"STOP","data":{"status":"io-error"}})");
  EXPECT_EQ(format_event(StopEvent{RunState::kPaused}),
            R"({"event":"STOP","data":{"status":"paused"}})");
  EXPECT_EQ(format_event(ResumeEvent{}), R"({"event":"RESUME"})");
  EXPECT_FALSE(
      decode_event(*parse_json(R"({"event":"STOP","data":{"status":"dozing"}})", 100)).ok());
  EXPECT_FALSE(decode_event(*parse_json(R"({"event":"STOP"})", 100)).ok());
  EXPECT_EQ(format_event(BlockIoErrorEvent{"disk0", "write", "stop", true, 28, "no space", "m"}),
            R"({"event":"BLOCK_IO_ERROR","data":{"device":"disk0","operation":"write",)"
            R"("action":"stop","nospace":true,"errno":28,"kind":"no space","message":"m"}})");
  const StatusInfo stopped{RunState::kIoError, "w7", 7};
  const Json json = encode(stopped);
  EXPECT_EQ(dump_json(json), R"({"status":"io-error","running":false,"name":"w7","pid":7})");
  StatusInfo back;
  ASSERT_TRUE(decode(json, back).ok());
  EXPECT_EQ(back, stopped);
}

}  // namespace
}  // namespace amber::vmmctl
