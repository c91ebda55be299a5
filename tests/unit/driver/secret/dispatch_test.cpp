// SPDX-License-Identifier: GPL-2.0-or-later
// The secret procedures through the dispatcher (driver/dispatch/secret.cpp):
// wire layouts, libvirt's error codes for a missing or private secret, the
// read-only socket's refusals, list-all filters, and the secret event
// frames a registration receives.
#include <gtest/gtest.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <filesystem>

#include "driver/protocol/connection_events.h"
#include "driver/protocol/dispatcher.h"
#include "driver/protocol/limits.h"
#include "driver/protocol/remote_error.h"
#include "driver/protocol/secret_events.h"
#include "driver/secret/store.h"

namespace amber::driver::protocol {
namespace {

namespace fs = std::filesystem;

constexpr int32_t kNumOfSecrets = 139;
constexpr int32_t kLookupByUuid = 141;
constexpr int32_t kDefineXml = 142;
constexpr int32_t kGetXmlDesc = 143;
constexpr int32_t kSetValue = 144;
constexpr int32_t kGetValue = 145;
constexpr int32_t kUndefine = 146;
constexpr int32_t kLookupByUsage = 147;
constexpr int32_t kListAllSecrets = 287;
constexpr int32_t kEventRegisterAny = 380;
constexpr int32_t kEventDeregisterAny = 381;

struct Reply {
  rpc::PacketHeader header;
  std::vector<uint8_t> body;
};

class SecretDispatch : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/amber-secret-dispatch-XXXXXX";
    dir_ = ::mkdtemp(pattern);
    secret::StoreOptions options;
    options.dir = dir_ + "/secrets";
    options.log = [](const std::string&) {};
    auto store = secret::Store::open(options);
    ASSERT_TRUE(store.ok()) << store.error().message();
    store_ = std::move(store).value();
    daemon_.secrets = store_.get();
    for (Connection* c : {&rw_, &ro_}) {
      c->opened = true;
      c->daemon = &daemon_;
    }
    ro_.socket = SocketKind::kReadOnly;
  }
  void TearDown() override {
    rw_.secret_events.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  Reply call(Connection& connection, int32_t procedure, const rpc::XdrWriter& args) {
    rpc::PacketHeader header;
    header.program = kRemoteProgram;
    header.version = kRemoteVersion;
    header.procedure = procedure;
    header.serial = 9;
    auto frame = rpc::encode_frame(header, args.bytes());
    auto reply = dispatch_frame(
        connection, std::vector<uint8_t>(frame.begin() + rpc::kLengthWordBytes, frame.end()));
    EXPECT_TRUE(reply.ok() && reply->has_value());
    const auto& bytes = **reply;
    rpc::XdrReader reader{std::span(bytes).subspan(rpc::kLengthWordBytes)};
    Reply out;
    out.header = *rpc::decode_header(reader);
    out.body.assign(bytes.begin() + rpc::kMinFrameBytes, bytes.end());
    return out;
  }

  RemoteError error_of(const Reply& reply) {
    EXPECT_EQ(reply.header.status, rpc::PacketStatus::kError);
    rpc::XdrReader reader(reply.body);
    return *decode_remote_error(reader);
  }

  // Defines XML on the read-write socket; returns the reply's secret args.
  rpc::XdrWriter define(const std::string& xml) {
    rpc::XdrWriter args;
    args.write_string(xml);
    args.write_u32(0);
    Reply reply = call(rw_, kDefineXml, args);
    EXPECT_EQ(reply.header.status, rpc::PacketStatus::kOk);
    rpc::XdrWriter secret;
    secret.write_opaque_fixed(std::span(reply.body).first(reply.body.size()));
    return secret;
  }

  std::string dir_;
  std::unique_ptr<secret::Store> store_;
  DaemonInfo daemon_;
  Connection rw_;
  Connection ro_;
};

constexpr const char* kXml =
    "<secret private='no'><uuid>c7a5fdbd-cdaf-9455-926a-d65c16db1809</uuid>"
    "<usage type='ceph'><name>client.admin</name></usage></secret>";

TEST_F(SecretDispatch, DefineReturnsTheNonnullSecret) {
  rpc::XdrWriter secret = define(kXml);
  rpc::XdrReader reader(secret.bytes());
  auto uuid = reader.read_opaque_fixed("uuid", 16);
  ASSERT_TRUE(uuid.ok());
  EXPECT_EQ((*uuid)[0], 0xc7);
  EXPECT_EQ(*reader.read_i32("usageType"), VIR_SECRET_USAGE_TYPE_CEPH);
  EXPECT_EQ(*reader.read_string("usageID", 100), "client.admin");
  EXPECT_TRUE(reader.expect_end("secret").ok());

  Reply count = call(ro_, kNumOfSecrets, rpc::XdrWriter());
  rpc::XdrReader n(count.body);
  EXPECT_EQ(*n.read_i32("num"), 1);

  rpc::XdrWriter usage;
  usage.write_i32(VIR_SECRET_USAGE_TYPE_CEPH);
  usage.write_string("client.admin");
  Reply found = call(ro_, kLookupByUsage, usage);
  EXPECT_EQ(found.body, secret.bytes());

  rpc::XdrWriter desc = define(kXml);  // redefinition with the same UUID
  desc.write_u32(0);
  Reply xml = call(ro_, kGetXmlDesc, desc);
  rpc::XdrReader text(xml.body);
  EXPECT_NE(text.read_string("xml", 4096)->find("<name>client.admin</name>"), std::string::npos);
}

TEST_F(SecretDispatch, MissingSecretIsVirErrNoSecret) {
  rpc::XdrWriter args;
  args.write_opaque_fixed(std::vector<uint8_t>(16, 0xab));
  RemoteError error = error_of(call(ro_, kLookupByUuid, args));
  EXPECT_EQ(error.code, VIR_ERR_NO_SECRET);
  EXPECT_EQ(error.domain, VIR_FROM_SECRET);
  EXPECT_EQ(
      *error.message,
      "Secret not found: no secret with matching uuid 'abababab-abab-abab-abab-abababababab'");
  rpc::XdrWriter usage;
  usage.write_i32(VIR_SECRET_USAGE_TYPE_VOLUME);
  usage.write_string("/nowhere");
  EXPECT_EQ(error_of(call(ro_, kLookupByUsage, usage)).code, VIR_ERR_NO_SECRET);
}

TEST_F(SecretDispatch, BadXmlAndUnknownUsageKeepLibvirtCodes) {
  rpc::XdrWriter args;
  args.write_string("<secret><uuid>nope</uuid></secret>");
  args.write_u32(0);
  RemoteError bad = error_of(call(rw_, kDefineXml, args));
  EXPECT_EQ(bad.code, VIR_ERR_XML_ERROR);
  EXPECT_NE(bad.message->find("malformed uuid 'nope'"), std::string::npos);
  rpc::XdrWriter nfs;
  nfs.write_string("<secret><usage type='nfs'/></secret>");
  nfs.write_u32(0);
  EXPECT_EQ(error_of(call(rw_, kDefineXml, nfs)).code, VIR_ERR_CONFIG_UNSUPPORTED);
  rpc::XdrWriter flags;
  flags.write_string(kXml);
  flags.write_u32(0x80);
  EXPECT_EQ(error_of(call(rw_, kDefineXml, flags)).code, VIR_ERR_INVALID_ARG);
}

TEST_F(SecretDispatch, ValuesAndTheirRefusals) {
  rpc::XdrWriter secret = define(kXml);
  rpc::XdrWriter set;
  set.write_opaque_fixed(secret.bytes());
  set.write_opaque(std::vector<uint8_t>{'p', 'w'});
  set.write_u32(0);
  RemoteError ro_set = error_of(call(ro_, kSetValue, set));
  EXPECT_EQ(ro_set.code, VIR_ERR_OPERATION_DENIED);
  EXPECT_EQ(call(rw_, kSetValue, set).header.status, rpc::PacketStatus::kOk);

  rpc::XdrWriter get;
  get.write_opaque_fixed(secret.bytes());
  get.write_u32(0);
  RemoteError ro_get = error_of(call(ro_, kGetValue, get));
  EXPECT_EQ(ro_get.code, VIR_ERR_OPERATION_DENIED);
  EXPECT_EQ(ro_get.domain, VIR_FROM_SECRET);
  EXPECT_EQ(*ro_get.message, "operation forbidden: read only access prevents virSecretGetValue");
  Reply value = call(rw_, kGetValue, get);
  rpc::XdrReader reader(value.body);
  EXPECT_EQ(*reader.read_opaque("value", 100), (std::vector<uint8_t>{'p', 'w'}));

  define(
      "<secret private='yes'><uuid>c7a5fdbd-cdaf-9455-926a-d65c16db1809</uuid>"
      "<usage type='ceph'><name>client.admin</name></usage></secret>");
  RemoteError private_error = error_of(call(rw_, kGetValue, get));
  EXPECT_EQ(private_error.code, VIR_ERR_INVALID_SECRET);
  EXPECT_EQ(*private_error.message, "Invalid secret: secret is private");

  rpc::XdrWriter undefine;
  undefine.write_opaque_fixed(secret.bytes());
  EXPECT_EQ(error_of(call(ro_, kUndefine, undefine)).code, VIR_ERR_OPERATION_DENIED);
  EXPECT_EQ(call(rw_, kUndefine, undefine).header.status, rpc::PacketStatus::kOk);
  EXPECT_EQ(error_of(call(rw_, kGetValue, get)).code, VIR_ERR_NO_SECRET);
}

TEST_F(SecretDispatch, ListAllFilters) {
  define(kXml);
  define("<secret ephemeral='yes' private='yes'><usage type='tls'><name>t</name></usage></secret>");
  auto count = [&](uint32_t flags) {
    rpc::XdrWriter args;
    args.write_i32(1);
    args.write_u32(flags);
    Reply reply = call(ro_, kListAllSecrets, args);
    EXPECT_EQ(reply.header.status, rpc::PacketStatus::kOk);
    rpc::XdrReader reader(reply.body);
    const uint32_t n = *reader.read_u32("count");
    for (uint32_t i = 0; i < n; ++i) {
      EXPECT_TRUE(reader.read_opaque_fixed("uuid", 16).ok());
      EXPECT_TRUE(reader.read_i32("usageType").ok());
      EXPECT_TRUE(reader.read_string("usageID", 100).ok());
    }
    EXPECT_EQ(*reader.read_u32("ret"), n);
    return n;
  };
  EXPECT_EQ(count(0), 2u);
  EXPECT_EQ(count(VIR_CONNECT_LIST_SECRETS_EPHEMERAL), 1u);
  EXPECT_EQ(count(VIR_CONNECT_LIST_SECRETS_NO_EPHEMERAL), 1u);
  EXPECT_EQ(count(VIR_CONNECT_LIST_SECRETS_EPHEMERAL | VIR_CONNECT_LIST_SECRETS_NO_EPHEMERAL), 2u);
  EXPECT_EQ(count(VIR_CONNECT_LIST_SECRETS_PRIVATE | VIR_CONNECT_LIST_SECRETS_NO_EPHEMERAL), 0u);
  EXPECT_EQ(count(VIR_CONNECT_LIST_SECRETS_NO_PRIVATE), 1u);
  rpc::XdrWriter bad;
  bad.write_i32(1);
  bad.write_u32(1u << 7);
  EXPECT_EQ(error_of(call(ro_, kListAllSecrets, bad)).code, VIR_ERR_INVALID_ARG);
}

TEST_F(SecretDispatch, EventRegistrationsReceiveTheirFrames) {
  std::vector<std::vector<uint8_t>> frames;
  rw_.events = ConnectionEvents::create(
      nullptr, [&](std::vector<uint8_t> f) { frames.push_back(std::move(f)); });
  rpc::XdrWriter lifecycle;
  lifecycle.write_i32(VIR_SECRET_EVENT_ID_LIFECYCLE);
  lifecycle.write_u32(0);  // no secret filter
  Reply registered = call(rw_, kEventRegisterAny, lifecycle);
  rpc::XdrReader id_reader(registered.body);
  const int32_t callback = *id_reader.read_i32("callbackID");
  rpc::XdrWriter value_changed;
  value_changed.write_i32(VIR_SECRET_EVENT_ID_VALUE_CHANGED);
  value_changed.write_u32(1);  // only for a secret that is not ours
  value_changed.write_opaque_fixed(std::vector<uint8_t>(16, 1));
  value_changed.write_i32(0);
  value_changed.write_string("");
  EXPECT_EQ(call(rw_, kEventRegisterAny, value_changed).header.status, rpc::PacketStatus::kOk);
  rpc::XdrWriter bad_id;
  bad_id.write_i32(2);
  bad_id.write_u32(0);
  EXPECT_EQ(error_of(call(rw_, kEventRegisterAny, bad_id)).code, VIR_ERR_INVALID_ARG);

  rpc::XdrWriter secret = define(kXml);
  ASSERT_EQ(frames.size(), 1u);  // DEFINED; the value-changed filter is another secret
  rpc::XdrReader reader{std::span(frames[0]).subspan(rpc::kLengthWordBytes)};
  auto header = rpc::decode_header(reader);
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->procedure, kProcSecretEventLifecycle);
  EXPECT_EQ(header->type, rpc::PacketType::kMessage);
  EXPECT_EQ(*reader.read_i32("callbackID"), callback);
  EXPECT_TRUE(reader.read_opaque_fixed("uuid", 16).ok());
  EXPECT_EQ(*reader.read_i32("usageType"), VIR_SECRET_USAGE_TYPE_CEPH);
  EXPECT_EQ(*reader.read_string("usageID", 100), "client.admin");
  EXPECT_EQ(*reader.read_i32("event"), VIR_SECRET_EVENT_DEFINED);
  EXPECT_EQ(*reader.read_i32("detail"), 0);

  rpc::XdrWriter deregister;
  deregister.write_i32(callback);
  EXPECT_EQ(call(rw_, kEventDeregisterAny, deregister).header.status, rpc::PacketStatus::kOk);
  EXPECT_EQ(error_of(call(rw_, kEventDeregisterAny, deregister)).code, VIR_ERR_INVALID_ARG);
  rpc::XdrWriter undefine;
  undefine.write_opaque_fixed(secret.bytes());
  EXPECT_EQ(call(rw_, kUndefine, undefine).header.status, rpc::PacketStatus::kOk);
  EXPECT_EQ(frames.size(), 1u);
  rw_.events->close();
}

TEST_F(SecretDispatch, HostileArgumentsGetErrorRepliesNotCrashes) {
  rw_.events = ConnectionEvents::create(nullptr, [](std::vector<uint8_t>) {});
  rpc::XdrWriter secret = define(kXml);
  uint64_t state = 0x9e3779b97f4a7c15u;
  auto next = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  for (int32_t procedure :
       {kNumOfSecrets, 140, kLookupByUuid, kDefineXml, kGetXmlDesc, kSetValue, kGetValue, kUndefine,
        kLookupByUsage, kListAllSecrets, kEventRegisterAny, kEventDeregisterAny}) {
    for (int round = 0; round < 200; ++round) {
      rpc::XdrWriter args;
      // Half the rounds start from a real secret, then garbage; lengths
      // and counts near the limits come from the random words.
      if (round % 2 == 0) args.write_opaque_fixed(secret.bytes());
      const uint64_t words = next() % 12;
      for (uint64_t i = 0; i < words; ++i) {
        const uint64_t r = next();
        args.write_u32(r % 3 == 0 ? static_cast<uint32_t>(r >> 32) : static_cast<uint32_t>(r % 5));
      }
      Reply reply = call(rw_, procedure, args);
      EXPECT_EQ(reply.header.procedure, procedure);
      if (reply.header.status == rpc::PacketStatus::kError) {
        RemoteError error = error_of(reply);
        EXPECT_NE(error.code, VIR_ERR_INTERNAL_ERROR) << procedure << ": " << *error.message;
      }
    }
  }
}

}  // namespace
}  // namespace amber::driver::protocol
