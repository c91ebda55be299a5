#include "hv/control/json.h"

#include <gtest/gtest.h>

#include "hv/control/commands.h"

namespace amber::hv::control {
namespace {

TEST(Json, ParsesAndDumps) {
  auto v = parse_json(R"( {"execute":"query-status","id":7,"a":[1,-2.5,true,null,"x\u00e9\ud83d\ude00\n"]} )");
  ASSERT_TRUE(v.ok()) << v.error().message();
  EXPECT_EQ(v->find("execute")->as_string(), "query-status");
  EXPECT_EQ(v->find("id")->as_number(), 7);
  EXPECT_EQ(v->find("a")->items().size(), 5u);
  EXPECT_EQ(v->find("a")->items()[4].as_string(), "x\xc3\xa9\xf0\x9f\x98\x80\n");
  EXPECT_EQ(v->dump(), R"({"execute":"query-status","id":7,"a":[1,-2.5,true,null,"xé😀\n"]})");
}

TEST(Json, RejectsMalformedInput) {
  const char* bad[] = {"", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "[1,]", "[1 2]", "\"abc",
                       "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"", "01", "-", "1.", "1e", "tru", "nul",
                       "{\"a\":1} x", "\"a\nb\"", "{1:2}", "[[[[", "\"\\u12\""};
  for (const char* text : bad) EXPECT_FALSE(parse_json(text).ok()) << text;
  EXPECT_FALSE(parse_json(std::string(100, '[') + std::string(100, ']')).ok());  // too deep
  EXPECT_FALSE(parse_json(std::string(kMaxJsonLength + 1, ' ')).ok());
  EXPECT_FALSE(parse_json("1e999").ok());
}

class FakeTarget : public ControlTarget {
 public:
  std::string name() override { return "vm"; }
  std::string status() override { return paused ? "paused" : "running"; }
  void pause() override { paused = true; }
  void resume() override { paused = false; }
  void reset() override { ++resets; }
  void quit() override { quit_called = true; }
  std::vector<BlockInfo> query_block() override {
    BlockInfo info;
    info.device = "disk0";
    info.path = "/a \"b\".qcow2";
    info.slot = 3;
    info.read = {10, 5120, 1000, 0};
    return {info};
  }
  bool paused = false, quit_called = false;
  int resets = 0;
};

TEST(Commands, Table) {
  FakeTarget t;
  EXPECT_EQ(handle_line(R"({"execute":"query-status"})", t),
            R"({"return":{"status":"running","running":true,"name":"vm"}})");
  EXPECT_EQ(handle_line(R"({"execute":"pause","id":"x1"})", t), R"({"return":{},"id":"x1"})");
  EXPECT_TRUE(t.paused);
  EXPECT_NE(handle_line(R"({"execute":"query-status"})", t).find("\"paused\""), std::string::npos);
  handle_line(R"({"execute":"resume"})", t);
  EXPECT_FALSE(t.paused);
  handle_line(R"({"execute":"system_reset"})", t);
  EXPECT_EQ(t.resets, 1);
  EXPECT_EQ(handle_line(R"({"execute":"system_powerdown"})", t),
            R"J({"error":{"class":"Unsupported","desc":"system_powerdown is not supported yet (no ACPI power button)"}})J");
  const std::string block = handle_line(R"({"execute":"query-block"})", t);
  EXPECT_NE(block.find(R"("path":"/a \"b\".qcow2")"), std::string::npos) << block;
  EXPECT_NE(block.find(R"("rd_operations":10)"), std::string::npos) << block;
  EXPECT_NE(block.find(R"("rd_total_time_ns":1000)"), std::string::npos) << block;
  handle_line(R"({"execute":"quit"})", t);
  EXPECT_TRUE(t.quit_called);
}

TEST(Commands, ErrorsNeverCrash) {
  FakeTarget t;
  for (const char* line : {"garbage", "[]", "42", "{}", R"({"execute":5})", R"({"execute":"nope"})",
                           "{\"execute\":\"query-status\"", "\xff\xfe"}) {
    const std::string reply = handle_line(line, t);
    EXPECT_EQ(reply.rfind("{\"error\":{\"class\":", 0), 0u) << line << " -> " << reply;
  }
  EXPECT_NE(handle_line(R"({"execute":"nope"})", t).find("CommandNotFound"), std::string::npos);
}

}  // namespace
}  // namespace amber::hv::control
