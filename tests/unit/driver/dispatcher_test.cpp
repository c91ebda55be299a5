// SPDX-License-Identifier: GPL-2.0-or-later
// Unit tests for driver/protocol/dispatcher: the handshake calls virsh
// makes, keepalive, and error replies for unknown programs and procedures,
// bad arguments and read-only refusals.
#include "driver/protocol/dispatcher.h"

#include <gtest/gtest.h>
#include <libvirt/virterror.h>

#include <string>

#include "driver/protocol/limits.h"
#include "driver/protocol/remote_error.h"
#include "driver/protocol/remote_table.h"

namespace amber::driver::protocol {
namespace {

std::vector<uint8_t> call(int32_t procedure, const rpc::XdrWriter& args, uint32_t serial = 5,
                          uint32_t program = kRemoteProgram) {
  rpc::PacketHeader header;
  header.program = program;
  header.version = 1;
  header.procedure = procedure;
  header.serial = serial;
  auto frame = rpc::encode_frame(header, args.bytes());
  return std::vector<uint8_t>(frame.begin() + rpc::kLengthWordBytes, frame.end());
}

struct Decoded {
  rpc::PacketHeader header;
  std::vector<uint8_t> body;
};

Decoded decode(const std::vector<uint8_t>& reply) {
  rpc::XdrReader reader{std::span(reply).subspan(rpc::kLengthWordBytes)};
  Decoded decoded;
  decoded.header = *rpc::decode_header(reader);
  decoded.body.assign(reply.begin() + rpc::kMinFrameBytes, reply.end());
  return decoded;
}

Decoded run(Connection& connection, const std::vector<uint8_t>& frame) {
  auto reply = dispatch_frame(connection, frame);
  EXPECT_TRUE(reply.ok());
  EXPECT_TRUE(reply->has_value());
  return decode(**reply);
}

RemoteError error_of(const Decoded& decoded) {
  EXPECT_EQ(decoded.header.status, rpc::PacketStatus::kError);
  rpc::XdrReader reader(decoded.body);
  auto error = decode_remote_error(reader);
  EXPECT_TRUE(error.ok());
  return *error;
}

TEST(RemoteTable, SortedAndUnique) {
  auto table = remote_procedures();
  for (size_t i = 1; i < table.size(); ++i) EXPECT_LT(table[i - 1].number, table[i].number);
  EXPECT_EQ(find_remote_procedure(66)->name, "AUTH_LIST");
  EXPECT_EQ(find_remote_procedure(5)->name, "CONNECT_GET_MAX_VCPUS");
  EXPECT_EQ(find_remote_procedure(8), nullptr);
}

TEST(Dispatcher, AuthListAnswersNone) {
  Connection connection;
  auto reply = run(connection, call(66, {}));
  EXPECT_EQ(reply.header.type, rpc::PacketType::kReply);
  EXPECT_EQ(reply.header.status, rpc::PacketStatus::kOk);
  EXPECT_EQ(reply.header.serial, 5u);
  EXPECT_EQ(reply.header.procedure, 66);
  EXPECT_EQ(reply.body, (std::vector<uint8_t>{0, 0, 0, 1, 0, 0, 0, 0}));
}

TEST(Dispatcher, OpenThenHostQueries) {
  Connection connection;
  rpc::XdrWriter open;
  open.write_optional_string(std::string("amber:///system"));
  open.write_u32(0);
  EXPECT_EQ(run(connection, call(1, open)).header.status, rpc::PacketStatus::kOk);
  EXPECT_TRUE(connection.opened);
  auto type = run(connection, call(3, {}));
  rpc::XdrReader reader(type.body);
  EXPECT_EQ(*reader.read_string("type", 100), "AMBER");
  auto uri = run(connection, call(110, {}));
  rpc::XdrReader uri_reader(uri.body);
  EXPECT_EQ(*uri_reader.read_string("uri", 100), "amber:///system");
}

TEST(Dispatcher, OpenRefusesForeignScheme) {
  Connection connection;
  rpc::XdrWriter open;
  open.write_optional_string(std::string("xen:///system"));
  open.write_u32(0);
  auto error = error_of(run(connection, call(1, open)));
  EXPECT_EQ(error.code, VIR_ERR_INVALID_ARG);
  EXPECT_FALSE(connection.opened);
}

TEST(Dispatcher, QueriesBeforeOpenFail) {
  Connection connection;
  EXPECT_EQ(run(connection, call(59, {})).header.status, rpc::PacketStatus::kError);
}

TEST(Dispatcher, UnknownProcedureIsTheLibvirtdMessage) {
  Connection connection;
  auto error = error_of(run(connection, call(71, {})));
  EXPECT_EQ(error.code, VIR_ERR_RPC);
  EXPECT_EQ(error.domain, VIR_FROM_RPC);
  EXPECT_EQ(error.message, "unknown procedure: 71");
}

TEST(Dispatcher, UnknownProgramGetsAnErrorReply) {
  Connection connection;
  auto reply = run(connection, call(1, {}, 9, 0x12345678));
  EXPECT_EQ(reply.header.program, 0x12345678u);
  EXPECT_NE(error_of(reply).message->find("Cannot find program"), std::string::npos);
}

TEST(Dispatcher, BadArgumentsGetAnErrorNamingTheField) {
  Connection connection;
  rpc::XdrWriter open;
  open.write_u32(1);
  open.write_u32(0xfffffff0);  // a string length far past the packet
  auto error = error_of(run(connection, call(1, open)));
  EXPECT_EQ(error.code, VIR_ERR_RPC);
  EXPECT_NE(error.message->find("name"), std::string::npos);
  rpc::XdrWriter extra;
  extra.write_u32(7);
  EXPECT_EQ(run(connection, call(66, extra)).header.status, rpc::PacketStatus::kError);
}

TEST(Dispatcher, KeepalivePingGetsPong) {
  Connection connection;
  rpc::PacketHeader ping;
  ping.program = kKeepaliveProgram;
  ping.version = 1;
  ping.procedure = kKeepalivePing;
  ping.type = rpc::PacketType::kMessage;
  auto frame = rpc::encode_frame(ping, {});
  std::vector<uint8_t> body(frame.begin() + 4, frame.end());
  auto reply = run(connection, body);
  EXPECT_EQ(reply.header.program, kKeepaliveProgram);
  EXPECT_EQ(reply.header.procedure, kKeepalivePong);
  EXPECT_EQ(reply.header.type, rpc::PacketType::kMessage);
  ping.procedure = kKeepalivePong;
  auto pong = rpc::encode_frame(ping, {});
  auto none = dispatch_frame(connection, std::vector<uint8_t>(pong.begin() + 4, pong.end()));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST(Dispatcher, ReplyFromClientClosesTheConnection) {
  Connection connection;
  auto frame = call(66, {});
  frame[15] = 1;  // type REPLY
  EXPECT_FALSE(dispatch_frame(connection, frame).ok());
}

}  // namespace
}  // namespace amber::driver::protocol
