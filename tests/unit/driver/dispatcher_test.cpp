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
  EXPECT_EQ(find_remote_procedure(8)->name, "DOMAIN_ATTACH_DEVICE");
  EXPECT_EQ(find_remote_procedure(75), nullptr);
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
  auto error = error_of(run(connection, call(75, {})));
  EXPECT_EQ(error.code, VIR_ERR_RPC);
  EXPECT_EQ(error.domain, VIR_FROM_RPC);
  EXPECT_EQ(error.message, "unknown procedure: 75");
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

Connection opened_connection(const DaemonInfo* daemon) {
  Connection connection;
  connection.daemon = daemon;
  rpc::XdrWriter open;
  open.write_optional_string(std::string("qemu:///system"));
  open.write_u32(0);
  EXPECT_EQ(run(connection, call(1, open)).header.status, rpc::PacketStatus::kOk);
  return connection;
}

TEST(HostQueries, MemoryStatsSizeQueryThenValues) {
  Connection connection = opened_connection(nullptr);
  rpc::XdrWriter size;
  size.write_i32(0);   // nparams
  size.write_i32(-1);  // all cells
  size.write_u32(0);
  auto reply = run(connection, call(228, size));
  rpc::XdrReader reader(reply.body);
  EXPECT_EQ(*reader.read_u32("count"), 0u);
  EXPECT_EQ(*reader.read_i32("nparams"), 4);
  rpc::XdrWriter full;
  full.write_i32(4);
  full.write_i32(0);
  full.write_u32(0);
  auto values = run(connection, call(228, full));
  rpc::XdrReader value_reader(values.body);
  ASSERT_EQ(*value_reader.read_u32("count"), 4u);
  EXPECT_EQ(*value_reader.read_string("field", 80), "total");
  EXPECT_GT(*value_reader.read_u64("value"), 0u);
  EXPECT_EQ(*value_reader.read_string("field", 80), "free");
  rpc::XdrWriter bad_cell;
  bad_cell.write_i32(4);
  bad_cell.write_i32(3);
  bad_cell.write_u32(0);
  EXPECT_EQ(error_of(run(connection, call(228, bad_cell))).code, VIR_ERR_INVALID_ARG);
  rpc::XdrWriter bad_flags;
  bad_flags.write_i32(0);
  bad_flags.write_i32(-1);
  bad_flags.write_u32(8);
  EXPECT_EQ(error_of(run(connection, call(228, bad_flags))).code, VIR_ERR_INVALID_ARG);
}

TEST(HostQueries, MaxVcpusAndCapabilitiesUseTheVmmBinary) {
  DaemonInfo daemon;
  daemon.vmm_binary = "/opt/amber/bin/amber-vmm";
  Connection connection = opened_connection(&daemon);
  rpc::XdrWriter type;
  type.write_optional_string(std::string("kvm"));
  auto vcpus_reply = run(connection, call(5, type));
  rpc::XdrReader vcpus(vcpus_reply.body);
  EXPECT_EQ(*vcpus.read_i32("max"), 64);
  rpc::XdrWriter bad_type;
  bad_type.write_optional_string(std::string("xen"));
  EXPECT_EQ(error_of(run(connection, call(5, bad_type))).code, VIR_ERR_INVALID_ARG);

  auto caps_reply = run(connection, call(7, {}));
  rpc::XdrReader caps(caps_reply.body);
  std::string caps_xml = *caps.read_string("caps", kStringMax);
  EXPECT_NE(caps_xml.find("<emulator>/opt/amber/bin/amber-vmm</emulator>"), std::string::npos);
  EXPECT_NE(caps_xml.find("<domain type='kvm'"), std::string::npos) << caps_xml;

  auto domcaps = [&](std::optional<std::string> arch, std::optional<std::string> machine,
                     std::optional<std::string> virttype) {
    rpc::XdrWriter args;
    args.write_optional_string(std::nullopt);
    args.write_optional_string(arch);
    args.write_optional_string(machine);
    args.write_optional_string(virttype);
    args.write_u32(0);
    return run(connection, call(342, args));
  };
  auto good = domcaps(std::string("x86_64"), std::nullopt, std::string("kvm"));
  ASSERT_EQ(good.header.status, rpc::PacketStatus::kOk);
  rpc::XdrReader good_reader(good.body);
  std::string xml = *good_reader.read_string("caps", kStringMax);
  EXPECT_NE(xml.find("<path>/opt/amber/bin/amber-vmm</path>"), std::string::npos) << xml;
  EXPECT_NE(xml.find("<arch>x86_64</arch>"), std::string::npos);
  EXPECT_EQ(domcaps(std::string("aarch64"), std::nullopt, std::nullopt).header.status,
            rpc::PacketStatus::kError);
  EXPECT_EQ(error_of(domcaps(std::nullopt, std::string("q35"), std::nullopt)).code,
            VIR_ERR_INVALID_ARG);
  EXPECT_EQ(error_of(domcaps(std::nullopt, std::nullopt, std::string("qemu"))).code,
            VIR_ERR_INVALID_ARG);
  EXPECT_EQ(domcaps(std::nullopt, std::string("pc-i440fx-7.2"), std::nullopt).header.status,
            rpc::PacketStatus::kOk);
}

TEST(HostQueries, CompatListsAreEmpty) {
  Connection connection = opened_connection(nullptr);
  for (int32_t procedure : {283, 284, 285, 286}) {
    rpc::XdrWriter args;
    args.write_i32(1);
    args.write_u32(0);
    auto reply = run(connection, call(procedure, args));
    EXPECT_EQ(reply.body, (std::vector<uint8_t>{0, 0, 0, 0, 0, 0, 0, 0})) << procedure;
  }
  EXPECT_EQ(error_of(run(connection, call(203, {}))).message, "unknown procedure: 203");
}

}  // namespace
}  // namespace amber::driver::protocol
