// SPDX-License-Identifier: GPL-2.0-or-later
// The server's command table (hv/control/commands.cpp) against a fake VM:
// every command of vmmctl's table answers, ids are echoed, bad lines get
// an error reply and never a crash.
#include "hv/control/commands.h"

#include <gtest/gtest.h>

#include <string>

#include "hv/control/input_events.h"
#include "vmmctl/protocol.h"
#include "vmmctl/qcode.h"

namespace amber::hv::control {
namespace {

class FakeTarget : public ControlTarget {
 public:
  vmmctl::StatusInfo query_status() override {
    return {paused ? vmmctl::RunState::kPaused : vmmctl::RunState::kRunning, "vm", 4242};
  }
  std::vector<vmmctl::ChardevInfo> query_chardev() override {
    return {{"serial0", vmmctl::SerialKind::kPty, "/dev/pts/7"}};
  }
  std::vector<vmmctl::BlockInfo> query_block() override {
    vmmctl::BlockInfo info;
    info.device = "disk0";
    info.path = "/a \"b\"\x01.qcow2";
    info.slot = 3;
    info.read = {10, 5120, 1000, 0};
    info.write.bytes = (1ULL << 53) + 1;  // not a double
    info.io_errors.write.enospc = 4;
    return {info};
  }
  std::vector<vmmctl::NicInfo> query_nics() override {
    return {{"net0", "e1000", "52:54:00:12:34:56", 1, 2, 3, 4, (1ULL << 53) + 1, 6, 7, 8, {}}};
  }
  void pause() override { paused = true; }
  void resume() override { paused = false; }
  void reset() override { ++resets; }
  void quit() override { quit_called = true; }
  void powerdown() override { ++powerdowns; }
  Result<void> send_key(const vmmctl::SendKeyArguments& arguments) override {
    if (arguments.keys[0] == 9999) return Error(ErrorKind::kInvalidArgument, "no such key");
    sent.push_back(arguments);
    return ok();
  }
  void mouse_move(const vmmctl::MouseMoveArguments& arguments) override {
    moves.push_back(arguments);
  }
  Result<void> input_send_event(const vmmctl::InputSendEventArguments& arguments) override {
    inputs.push_back(arguments);
    return ok();
  }
  std::vector<vmmctl::SendKeyArguments> sent;
  std::vector<vmmctl::MouseMoveArguments> moves;
  std::vector<vmmctl::InputSendEventArguments> inputs;
  bool paused = false, quit_called = false;
  int resets = 0, powerdowns = 0;
};

TEST(Commands, Table) {
  FakeTarget t;
  EXPECT_EQ(handle_line(R"({"execute":"query-status"})", t),
            R"({"return":{"status":"running","running":true,"name":"vm","pid":4242}})");
  EXPECT_EQ(handle_line(R"({"execute":"pause","id":"x1"})", t), R"({"return":{},"id":"x1"})");
  EXPECT_TRUE(t.paused);
  EXPECT_NE(handle_line(R"({"execute":"query-status"})", t).find("\"paused\""), std::string::npos);
  handle_line(R"({"execute":"resume"})", t);
  EXPECT_FALSE(t.paused);
  handle_line(R"({"execute":"system_reset"})", t);
  EXPECT_EQ(t.resets, 1);
  EXPECT_EQ(handle_line(R"({"execute":"system_powerdown","id":2})", t), R"({"return":{},"id":2})");
  EXPECT_EQ(t.powerdowns, 1);
  const std::string block = handle_line(R"({"execute":"query-block"})", t);
  EXPECT_NE(block.find(R"("path":"/a \"b\"\u0001.qcow2")"), std::string::npos) << block;
  EXPECT_NE(block.find(R"("rd_operations":10)"), std::string::npos) << block;
  EXPECT_NE(block.find(R"("rd_total_time_ns":1000)"), std::string::npos) << block;
  EXPECT_NE(block.find(R"("wr_bytes":9007199254740993)"), std::string::npos) << block;
  EXPECT_NE(
      block.find(
          R"("io_errors":{"read":{"eio":0,"enospc":0,"other":0},"write":{"eio":0,"enospc":4,"other":0})"),
      std::string::npos)
      << block;
  EXPECT_EQ(handle_line(R"({"execute":"query-chardev"})", t),
            R"({"return":[{"label":"serial0","backend":"pty","path":"/dev/pts/7"}]})");
  const std::string version = handle_line(R"({"execute":"query-version","id":[1]})", t);
  EXPECT_EQ(version.rfind(R"({"return":{"program":"amber-vmm","version":")", 0), 0u) << version;
  EXPECT_NE(version.find(R"("protocol":{"major":1,"minor":0}},"id":[1]})"), std::string::npos)
      << version;
  EXPECT_EQ(handle_line(R"({"execute":"query-nics","id":5})", t),
            R"({"return":[{"id":"net0","model":"e1000","mac":"52:54:00:12:34:56","rx_bytes":1,)"
            R"("rx_packets":2,"rx_errors":3,"rx_drops":4,"tx_bytes":9007199254740993,)"
            R"("tx_packets":6,"tx_errors":7,"tx_drops":8,"leases":[]}],"id":5})");
  handle_line(R"({"execute":"quit"})", t);
  EXPECT_TRUE(t.quit_called);
}

// Every command of the table answers with a return or a documented error,
// never CommandNotFound.
TEST(Commands, EveryTableCommandIsServed) {
  for (const vmmctl::CommandSpec& spec : vmmctl::kCommands) {
    FakeTarget t;
    const std::string reply =
        handle_line(vmmctl::encode_request(spec.name, vmmctl::Json::object(), 1), t);
    EXPECT_EQ(reply.find("CommandNotFound"), std::string::npos) << spec.name << " -> " << reply;
  }
}

TEST(Commands, ErrorsNeverCrash) {
  FakeTarget t;
  for (const char* line :
       {"garbage", "[]", "42", "{}", R"({"execute":5})", R"({"execute":"nope"})",
        "{\"execute\":\"query-status\"", "\xff\xfe", R"({"execute":"cont"})",
        R"({"execute":"pause","arguments":{"now":true}})", R"({"execute":"pause","arguments":[]})",
        R"({"execute":"pause","x":1})"}) {
    const std::string reply = handle_line(line, t);
    EXPECT_EQ(reply.rfind("{\"error\":{\"class\":", 0), 0u) << line << " -> " << reply;
  }
  EXPECT_FALSE(t.paused);
  EXPECT_NE(handle_line(R"({"execute":"nope","id":9})", t).find(R"("CommandNotFound")"),
            std::string::npos);
  EXPECT_NE(handle_line(R"({"execute":"nope","id":9})", t).find(R"("id":9)"), std::string::npos);
  EXPECT_NE(handle_line(R"({"execute":5,"id":"q"})", t).find(R"("id":"q")"), std::string::npos);
}

// eject / blockdev-change-medium: arguments decoded (unknown or mistyped
// ones refused before the target is called), the target's error text is
// the reply's desc.
class MediaTarget : public FakeTarget {
 public:
  Result<void> eject(const vmmctl::EjectRequest& request) override {
    ejects.push_back(request);
    if (request.id == "ide0-1-0" && !request.force)
      return Error(ErrorKind::kLocked, "Device 'ide0-1-0' is locked and force was not specified");
    return ok();
  }
  Result<void> change_medium(const vmmctl::ChangeMediumRequest& request) override {
    changes.push_back(request);
    return ok();
  }
  std::vector<vmmctl::EjectRequest> ejects;
  std::vector<vmmctl::ChangeMediumRequest> changes;
};

TEST(Commands, EjectAndChangeMedium) {
  MediaTarget t;
  EXPECT_EQ(handle_line(R"({"execute":"eject","arguments":{"id":"ide0-1-1"},"id":1})", t),
            R"({"return":{},"id":1})");
  const std::string locked = handle_line(R"({"execute":"eject","arguments":{"id":"ide0-1-0"}})", t);
  EXPECT_EQ(locked, R"({"error":{"class":"GenericError","desc":"Device 'ide0-1-0' is locked and )"
                    R"(force was not specified"}})");
  handle_line(R"({"execute":"eject","arguments":{"id":"ide0-1-0","force":true}})", t);
  ASSERT_EQ(t.ejects.size(), 3u);
  EXPECT_FALSE(t.ejects[0].force);
  EXPECT_TRUE(t.ejects[2].force);
  EXPECT_EQ(handle_line(R"({"execute":"blockdev-change-medium","arguments":{"id":"ide0-1-0",)"
                        R"("filename":"/b.iso","format":"raw","read-only-mode":"retain"}})",
                        t),
            R"({"return":{}})");
  ASSERT_EQ(t.changes.size(), 1u);
  EXPECT_EQ(t.changes[0].filename, "/b.iso");
  EXPECT_EQ(t.changes[0].format, "raw");
  EXPECT_EQ(t.changes[0].read_only_mode, "retain");
  for (const char* bad :
       {R"({"execute":"eject","arguments":{}})", R"({"execute":"eject","arguments":{"id":1}})",
        R"({"execute":"eject","arguments":{"id":"a","force":"yes"}})",
        R"({"execute":"eject","arguments":{"id":"a","device":"b"}})",
        R"({"execute":"blockdev-change-medium","arguments":{"id":"a"}})",
        R"({"execute":"blockdev-change-medium","arguments":{"id":"a","filename":""}})"}) {
    const std::string reply = handle_line(bad, t);
    EXPECT_EQ(reply.rfind(R"({"error":{"class":"GenericError")", 0), 0u) << bad << " -> " << reply;
  }
  EXPECT_EQ(t.ejects.size(), 3u);
  EXPECT_EQ(t.changes.size(), 1u);
  // A target without removable media.
  FakeTarget plain;
  EXPECT_NE(handle_line(R"({"execute":"eject","arguments":{"id":"x"}})", plain)
                .find("Device 'x' not found"),
            std::string::npos);
}

TEST(Commands, GreetingCarriesTheProtocolVersion) {
  auto message = vmmctl::decode_message(greeting_line());
  ASSERT_TRUE(message.ok()) << greeting_line();
  ASSERT_EQ(message->kind, vmmctl::Message::Kind::kGreeting);
  auto greeting = vmmctl::decode_greeting(message->body);
  ASSERT_TRUE(greeting.ok()) << greeting.error().message();
  EXPECT_EQ(greeting->protocol, vmmctl::kProtocolVersion);
  EXPECT_EQ(greeting->program, "amber-vmm");
  EXPECT_FALSE(greeting->version.empty());
}

TEST(Commands, SendKeyAndMouseMove) {
  FakeTarget t;
  EXPECT_EQ(handle_line(R"({"execute":"send-key","arguments":{"keys":[29,56,111]},"id":1})", t),
            R"({"return":{},"id":1})");
  ASSERT_EQ(t.sent.size(), 1u);
  EXPECT_EQ(t.sent[0].keys, (std::vector<unsigned>{29, 56, 111}));
  EXPECT_EQ(t.sent[0].hold_time_ms, 100u);  // QMP's and libvirt's default
  handle_line(R"({"execute":"send-key","arguments":{"keys":[30],"hold-time":0}})", t);
  ASSERT_EQ(t.sent.size(), 2u);
  EXPECT_EQ(t.sent[1].hold_time_ms, 0u);
  for (
      const char* bad : {
          R"({"execute":"send-key"})",
          R"({"execute":"send-key","arguments":{"keys":[]}})",
          R"({"execute":"send-key","arguments":{"keys":["a"]}})",
          R"({"execute":"send-key","arguments":{"keys":[-1]}})",
          R"({"execute":"send-key","arguments":{"keys":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]}})",
          R"({"execute":"send-key","arguments":{"keys":[30],"hold-time":-5}})",
          R"({"execute":"send-key","arguments":{"keys":[30],"hold-time":10001}})",
          R"({"execute":"send-key","arguments":{"keys":[30],"holdtime":5}})",
          R"({"execute":"send-key","arguments":{"keys":[9999]}})",
      }) {
    const std::string reply = handle_line(bad, t);
    EXPECT_EQ(reply.rfind(R"({"error":{"class":"GenericError")", 0), 0u) << bad << " -> " << reply;
  }
  EXPECT_EQ(t.sent.size(), 2u);
  EXPECT_EQ(handle_line(R"({"execute":"mouse-move","arguments":{"dx":5,"dy":-3,"buttons":1}})", t),
            R"({"return":{}})");
  ASSERT_EQ(t.moves.size(), 1u);
  EXPECT_EQ(t.moves[0], (vmmctl::MouseMoveArguments{5, -3, 0, 1}));
  EXPECT_NE(handle_line(R"({"execute":"mouse-move","arguments":{"dx":1e3}})", t).find("error"),
            std::string::npos);
  EXPECT_NE(handle_line(R"({"execute":"mouse-move","arguments":{"buttons":64}})", t).find("error"),
            std::string::npos);
}

TEST(Commands, InputSendEvent) {
  FakeTarget t;
  EXPECT_EQ(
      handle_line(R"({"execute":"input-send-event","arguments":{"events":[)"
                  R"({"type":"abs","data":{"axis":"x","value":32767}},)"
                  R"({"type":"rel","data":{"axis":"y","value":-5}},)"
                  R"({"type":"btn","data":{"down":true,"button":"wheel-down"}},)"
                  R"({"type":"key","data":{"down":false,"key":{"type":"number","data":30}}}]},)"
                  R"("id":3})",
                  t),
      R"({"return":{},"id":3})");
  ASSERT_EQ(t.inputs.size(), 1u);
  const auto& events = t.inputs[0].events;
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].type, vmmctl::InputEventType::kAbsolute);
  EXPECT_EQ(events[0].value, 32767);
  EXPECT_EQ(events[1].type, vmmctl::InputEventType::kRelative);
  EXPECT_EQ(events[1].axis, vmmctl::InputAxis::kY);
  EXPECT_EQ(events[1].value, -5);
  EXPECT_EQ(events[2].button, vmmctl::InputButton::kWheelDown);
  EXPECT_TRUE(events[2].down);
  EXPECT_EQ(events[3].key_number, 30u);
  EXPECT_FALSE(events[3].down);
  // encode/decode round trip.
  vmmctl::InputSendEventArguments back;
  ASSERT_TRUE(vmmctl::decode(vmmctl::encode(t.inputs[0]), back).ok());
  EXPECT_EQ(back, t.inputs[0]);
  for (
      const char* bad : {
          R"({"execute":"input-send-event"})",
          R"({"execute":"input-send-event","arguments":{"events":[]}})",
          R"({"execute":"input-send-event","arguments":{"events":[{"type":"abs","data":{"axis":"x","value":32768}}]}})",
          R"({"execute":"input-send-event","arguments":{"events":[{"type":"abs","data":{"axis":"z","value":1}}]}})",
          R"({"execute":"input-send-event","arguments":{"events":[{"type":"rel","data":{"axis":"x","value":1e12}}]}})",
          R"({"execute":"input-send-event","arguments":{"events":[{"type":"btn","data":{"down":true,"button":"side"}}]}})",
          R"({"execute":"input-send-event","arguments":{"events":[{"type":"btn","data":{"button":"left"}}]}})",
          R"({"execute":"input-send-event","arguments":{"events":[{"type":"key","data":{"down":true,"key":{"type":"qcode","data":"f24"}}}]}})",
          R"({"execute":"input-send-event","arguments":{"events":[{"type":"key","data":{"down":true,"key":{"type":"qcode","data":7}}}]}})",
          R"({"execute":"input-send-event","arguments":{"events":[{"type":"key","data":{"down":true,"key":{"type":"number","data":256}}}]}})",
          R"({"execute":"input-send-event","arguments":{"events":[{"type":"wiggle","data":{}}]}})",
          R"({"execute":"input-send-event","arguments":{"events":[{"type":"abs"}]}})",
          R"({"execute":"input-send-event","arguments":{"events":"abs"}})",
      }) {
    const std::string reply = handle_line(bad, t);
    EXPECT_EQ(reply.rfind(R"({"error":{"class":"GenericError")", 0), 0u) << bad << " -> " << reply;
  }
  EXPECT_EQ(t.inputs.size(), 1u);
  // QKeyCode names become the key numbers (set 1; 0x80 | code for E0 keys).
  EXPECT_EQ(handle_line(
                R"({"execute":"input-send-event","arguments":{"events":[)"
                R"({"type":"key","data":{"down":true,"key":{"type":"qcode","data":"a"}}},)"
                R"({"type":"key","data":{"down":true,"key":{"type":"qcode","data":"ctrl_r"}}},)"
                R"({"type":"key","data":{"down":true,"key":{"type":"qcode","data":"delete"}}}]}})",
                t),
            R"({"return":{}})");
  ASSERT_EQ(t.inputs.size(), 2u);
  ASSERT_EQ(t.inputs[1].events.size(), 3u);
  EXPECT_EQ(t.inputs[1].events[0].key_number, 0x1Eu);
  EXPECT_EQ(t.inputs[1].events[1].key_number, 0x9Du);
  EXPECT_EQ(t.inputs[1].events[2].key_number, 0xD3u);
}

// Every QKeyCode in the table names a key the keyboards can send.
TEST(Commands, QcodesAreKeys) {
  unsigned known = 0;
  for (const char* name :
       {"esc",   "a",      "z",      "ret",    "spc",    "shift",    "shift_r",   "ctrl",
        "alt",   "alt_r",  "f1",     "f12",    "kp_0",   "kp_enter", "kp_divide", "home",
        "end",   "pgup",   "pgdn",   "insert", "delete", "up",       "down",      "left",
        "right", "meta_l", "meta_r", "menu",   "print",  "pause",    "less"}) {
    const auto qnum = vmmctl::qnum_for_qcode(name);
    ASSERT_TRUE(qnum.has_value()) << name;
    EXPECT_NE(linux_keycode_for_qnum(*qnum), 0u) << name;
    ++known;
  }
  EXPECT_EQ(known, 31u);
  EXPECT_FALSE(vmmctl::qnum_for_qcode("hiragana").has_value());
}

}  // namespace
}  // namespace amber::hv::control
