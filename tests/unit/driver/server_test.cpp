// SPDX-License-Identifier: GPL-2.0-or-later
// Unit tests for driver/server with the event and stream procedures: a real
// Server over socketpairs, a FakeManager behind it, and test clients that
// speak the wire format. Covers event registration and delivery (domain
// filter, legacy forms, nothing after deregister), console streams both
// ways, finish, abort, EOF and revocation, a slow reader dropped without
// hurting others, a client killed mid-stream, and a high-priority call
// served while a normal worker waits on the manager.
#include "driver/server/server.h"

#include <gtest/gtest.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <sys/socket.h>

#include <functional>
#include <string>
#include <thread>

#include "driver/protocol/event_messages.h"
#include "driver/protocol/remote_error.h"
#include "tests/unit/driver/fake_manager.h"
#include "tests/unit/driver/wire_client.h"

namespace amber::driver::testing {
namespace {

using namespace std::chrono_literals;
using rpc::PacketStatus;
using rpc::PacketType;

constexpr int32_t kProcOpen = 1;
constexpr int32_t kProcSupportsFeature = 60;
constexpr int32_t kProcLibVersion = 157;
constexpr int32_t kProcRegister = 105;
constexpr int32_t kProcDeregister = 106;
constexpr int32_t kProcRegisterAny = 167;
constexpr int32_t kProcDeregisterAny = 168;
constexpr int32_t kProcOpenConsole = 201;
constexpr int32_t kProcCallbackRegisterAny = 316;
constexpr int32_t kProcCallbackDeregisterAny = 317;

vm::DomainRef domain(const std::string& name, uint8_t tag) {
  vm::DomainRef ref;
  ref.name = name;
  ref.uuid.bytes.fill(tag);
  ref.id = tag;
  return ref;
}

vm::LifecycleEvent lifecycle(const vm::DomainRef& ref, int event, int detail) {
  return vm::LifecycleEvent{ref, event, detail};
}

template <typename T, typename U>
T value_or(Result<T> result, U fallback) {
  return result.ok() ? *result : T(fallback);
}

bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 5s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return condition();
}

class ServerTest : public ::testing::Test {
 protected:
  void start(size_t output_limit = 64 * 1024 * 1024, int keepalive_interval = 5,
             int keepalive_count = 5) {
    server::ServerOptions options;
    options.keepalive_interval = keepalive_interval;
    options.keepalive_count = keepalive_count;
    options.daemon.manager = &manager_;
    options.rw_requires_root = false;
    options.max_client_output = output_limit;
    options.normal_workers = 2;
    options.priority_workers = 1;
    auto created = server::Server::create(options);
    ASSERT_TRUE(created.ok()) << created.error().message();
    server_ = std::move(*created);
    thread_ = std::thread([this] { run_ok_ = server_->run().ok(); });
  }
  void SetUp() override { start(); }
  void TearDown() override {
    server_->stop();
    thread_.join();
    EXPECT_TRUE(run_ok_);
    server_.reset();
  }
  void restart(size_t output_limit, int keepalive_interval = 5, int keepalive_count = 5) {
    TearDown();
    start(output_limit, keepalive_interval, keepalive_count);
  }
  // CONNECT_SUPPORTS_FEATURE(VIR_DRV_FEATURE_PROGRAM_KEEPALIVE), as a
  // libvirt client with an event loop asks right after CONNECT_OPEN.
  void ask_keepalive(WireClient& client, uint32_t serial) {
    rpc::XdrWriter args;
    args.write_i32(10);  // VIR_DRV_FEATURE_PROGRAM_KEEPALIVE
    client.call(kProcSupportsFeature, serial, args);
    Frame reply = expect_reply(client, kProcSupportsFeature, serial);
    rpc::XdrReader reader(reply.body);
    EXPECT_EQ(value_or(reader.read_i32("supported"), -1), 1);
  }

  WireClient connect() {
    int pair[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    server_->adopt(UniqueFd(pair[0]), protocol::SocketKind::kReadWrite);
    return WireClient(UniqueFd(pair[1]));
  }
  WireClient open_client() {
    WireClient client = connect();
    rpc::XdrWriter args;
    args.write_optional_string(std::string("amber:///system"));
    args.write_u32(0);
    client.call(kProcOpen, 0, args);
    Frame reply = expect_reply(client, kProcOpen, 0);
    EXPECT_EQ(reply.header.status, PacketStatus::kOk);
    return client;
  }
  Frame expect_reply(WireClient& client, int32_t procedure, uint32_t serial) {
    auto frame = client.read();
    EXPECT_TRUE(frame.has_value()) << "no reply to " << procedure;
    if (!frame) return {};
    EXPECT_EQ(frame->header.type, PacketType::kReply);
    EXPECT_EQ(frame->header.procedure, procedure);
    EXPECT_EQ(frame->header.serial, serial);
    return *frame;
  }
  // The next frame is the reply to a fresh call: nothing else was queued.
  void expect_nothing_queued(WireClient& client, uint32_t serial) {
    client.call(kProcLibVersion, serial);
    auto frame = client.read();
    ASSERT_TRUE(frame.has_value());
    EXPECT_EQ(frame->header.type, PacketType::kReply)
        << "unexpected frame, procedure " << frame->header.procedure;
    EXPECT_EQ(frame->header.procedure, kProcLibVersion);
  }
  int32_t register_callback(WireClient& client, uint32_t serial, int32_t event_id,
                            const std::optional<vm::DomainRef>& filter) {
    rpc::XdrWriter args;
    args.write_i32(event_id);
    args.write_bool(filter.has_value());
    if (filter) protocol::write_domain(args, *filter);
    client.call(kProcCallbackRegisterAny, serial, args);
    Frame reply = expect_reply(client, kProcCallbackRegisterAny, serial);
    EXPECT_EQ(reply.header.status, PacketStatus::kOk);
    rpc::XdrReader reader(reply.body);
    return value_or(reader.read_i32("callbackID"), -1);
  }
  // Opens the console of `ref`; returns the test's end of the "pty".
  UniqueFd open_console(WireClient& client, uint32_t serial, const vm::DomainRef& ref,
                        uint32_t flags = 0) {
    rpc::XdrWriter args;
    protocol::write_domain(args, ref);
    args.write_optional_string(std::nullopt);
    args.write_u32(flags);
    client.call(kProcOpenConsole, serial, args);
    Frame reply = expect_reply(client, kProcOpenConsole, serial);
    EXPECT_EQ(reply.header.status, PacketStatus::kOk);
    return manager_.take_console_peer();
  }

  FakeManager manager_;  // outlives the server
  std::unique_ptr<server::Server> server_;
  std::thread thread_;
  bool run_ok_ = false;
};

TEST_F(ServerTest, AdvertisesEventCallbacks) {
  WireClient client = open_client();
  rpc::XdrWriter args;
  args.write_i32(14);  // VIR_DRV_FEATURE_REMOTE_EVENT_CALLBACK
  client.call(kProcSupportsFeature, 1, args);
  Frame reply = expect_reply(client, kProcSupportsFeature, 1);
  rpc::XdrReader reader(reply.body);
  EXPECT_EQ(value_or(reader.read_i32("supported"), -1), 1);
}

TEST_F(ServerTest, CallbackEventsHonourTheDomainFilterAndStopAfterDeregister) {
  WireClient client = open_client();
  vm::DomainRef alpha = domain("alpha", 1), beta = domain("beta", 2);
  int32_t lifecycle_id = register_callback(client, 1, VIR_DOMAIN_EVENT_ID_LIFECYCLE, alpha);
  int32_t reboot_id = register_callback(client, 2, VIR_DOMAIN_EVENT_ID_REBOOT, std::nullopt);
  EXPECT_GT(lifecycle_id, 0);
  EXPECT_NE(lifecycle_id, reboot_id);
  EXPECT_EQ(manager_.subscriber_count(), 1u);

  manager_.emit(lifecycle(beta, VIR_DOMAIN_EVENT_STARTED, 0));  // filtered out
  manager_.emit(lifecycle(alpha, VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_BOOTED));
  auto message = client.read();
  ASSERT_TRUE(message.has_value());
  EXPECT_EQ(message->header.type, PacketType::kMessage);
  EXPECT_EQ(message->header.procedure, protocol::kProcEventCallbackLifecycle);
  EXPECT_EQ(message->header.serial, 0u);
  rpc::XdrReader reader(message->body);
  EXPECT_EQ(value_or(reader.read_i32("callbackID"), -1), lifecycle_id);
  auto sent = protocol::read_domain(reader);
  ASSERT_TRUE(sent.ok());
  EXPECT_EQ(*sent, alpha);
  EXPECT_EQ(value_or(reader.read_i32("event"), -1), VIR_DOMAIN_EVENT_STARTED);
  EXPECT_EQ(value_or(reader.read_i32("detail"), -1), VIR_DOMAIN_EVENT_STARTED_BOOTED);
  EXPECT_TRUE(reader.expect_end("lifecycle").ok());

  manager_.emit(vm::RebootEvent{beta});
  message = client.read();
  ASSERT_TRUE(message.has_value());
  EXPECT_EQ(message->header.procedure, protocol::kProcEventCallbackReboot);
  rpc::XdrReader reboot(message->body);
  EXPECT_EQ(value_or(reboot.read_i32("callbackID"), -1), reboot_id);

  rpc::XdrWriter args;
  args.write_i32(lifecycle_id);
  client.call(kProcCallbackDeregisterAny, 3, args);
  EXPECT_EQ(expect_reply(client, kProcCallbackDeregisterAny, 3).header.status, PacketStatus::kOk);
  client.call(kProcCallbackDeregisterAny, 4, args);  // twice: an error
  EXPECT_EQ(expect_reply(client, kProcCallbackDeregisterAny, 4).header.status,
            PacketStatus::kError);
  manager_.emit(lifecycle(alpha, VIR_DOMAIN_EVENT_STOPPED, 0));
  expect_nothing_queued(client, 5);
}

TEST_F(ServerTest, LegacyRegistrationsGetLegacyMessages) {
  WireClient client = open_client();
  client.call(kProcRegister, 1);
  Frame registered = expect_reply(client, kProcRegister, 1);
  rpc::XdrReader cb(registered.body);
  EXPECT_EQ(value_or(cb.read_i32("cb_registered"), -1), 1);
  rpc::XdrWriter io_reason;
  io_reason.write_i32(VIR_DOMAIN_EVENT_ID_IO_ERROR_REASON);
  client.call(kProcRegisterAny, 2, io_reason);
  EXPECT_EQ(expect_reply(client, kProcRegisterAny, 2).header.status, PacketStatus::kOk);
  client.call(kProcRegisterAny, 3, io_reason);  // already registered
  Frame duplicate = expect_reply(client, kProcRegisterAny, 3);
  EXPECT_EQ(duplicate.header.status, PacketStatus::kError);

  vm::DomainRef alpha = domain("alpha", 1);
  manager_.emit(lifecycle(alpha, VIR_DOMAIN_EVENT_SUSPENDED, 0));
  auto message = client.read();
  ASSERT_TRUE(message.has_value());
  EXPECT_EQ(message->header.procedure, protocol::kProcEventLifecycle);
  rpc::XdrReader reader(message->body);
  EXPECT_EQ(protocol::read_domain(reader)->name, "alpha");  // no callback id first
  EXPECT_EQ(value_or(reader.read_i32("event"), -1), VIR_DOMAIN_EVENT_SUSPENDED);

  manager_.emit(vm::IoErrorEvent{alpha, "/img/a.qcow2", "virtio-disk0", 1, "enospc"});
  message = client.read();
  ASSERT_TRUE(message.has_value());
  EXPECT_EQ(message->header.procedure, protocol::kProcEventIoErrorReason);
  rpc::XdrReader io(message->body);
  EXPECT_TRUE(protocol::read_domain(io).ok());
  EXPECT_EQ(value_or(io.read_string("srcPath", 100), ""), "/img/a.qcow2");
  EXPECT_EQ(value_or(io.read_string("devAlias", 100), ""), "virtio-disk0");
  EXPECT_EQ(value_or(io.read_i32("action"), -1), 1);
  EXPECT_EQ(value_or(io.read_string("reason", 100), ""), "enospc");

  client.call(kProcDeregister, 4);
  EXPECT_EQ(expect_reply(client, kProcDeregister, 4).header.status, PacketStatus::kOk);
  client.call(kProcDeregisterAny, 5, io_reason);
  EXPECT_EQ(expect_reply(client, kProcDeregisterAny, 5).header.status, PacketStatus::kOk);
  manager_.emit(lifecycle(alpha, VIR_DOMAIN_EVENT_RESUMED, 0));
  manager_.emit(vm::IoErrorEvent{alpha, "/img/a.qcow2", "virtio-disk0", 1, "enospc"});
  expect_nothing_queued(client, 6);
}

TEST_F(ServerTest, EventsBeforeOpenAreRefused) {
  WireClient client = connect();
  rpc::XdrWriter args;
  args.write_i32(0);
  args.write_bool(false);
  client.call(kProcCallbackRegisterAny, 1, args);
  EXPECT_EQ(expect_reply(client, kProcCallbackRegisterAny, 1).header.status, PacketStatus::kError);
  EXPECT_EQ(manager_.subscriber_count(), 0u);
}

TEST_F(ServerTest, ClosingAClientReleasesItsSubscription) {
  {
    WireClient client = open_client();
    register_callback(client, 1, VIR_DOMAIN_EVENT_ID_LIFECYCLE, std::nullopt);
    EXPECT_EQ(manager_.subscriber_count(), 1u);
  }
  EXPECT_TRUE(wait_for([&] { return manager_.subscriber_count() == 0; }));
  EXPECT_TRUE(wait_for([&] { return server_->client_count() == 0; }));
}

TEST_F(ServerTest, ConsoleRelaysBothWaysAndFinishes) {
  WireClient client = open_client();
  UniqueFd pty = open_console(client, 7, domain("alpha", 1));
  ASSERT_TRUE(pty);

  ASSERT_EQ(write(pty.get(), "login: ", 7), 7);
  auto data = client.read();
  ASSERT_TRUE(data.has_value());
  EXPECT_EQ(data->header.type, PacketType::kStream);
  EXPECT_EQ(data->header.status, PacketStatus::kContinue);
  EXPECT_EQ(data->header.serial, 7u);
  EXPECT_EQ(data->header.procedure, kProcOpenConsole);
  EXPECT_EQ(std::string(data->body.begin(), data->body.end()), "login: ");

  std::string typed = "root\n";
  client.send(PacketType::kStream, kProcOpenConsole, 7, PacketStatus::kContinue,
              std::span(reinterpret_cast<const uint8_t*>(typed.data()), typed.size()));
  char buffer[64] = {};
  ssize_t got = read(pty.get(), buffer, sizeof(buffer));
  EXPECT_EQ(std::string(buffer, got > 0 ? static_cast<size_t>(got) : 0), typed);

  client.send(PacketType::kStream, kProcOpenConsole, 7, PacketStatus::kOk, {});
  auto confirm = client.read();
  ASSERT_TRUE(confirm.has_value());
  EXPECT_EQ(confirm->header.type, PacketType::kStream);
  EXPECT_EQ(confirm->header.status, PacketStatus::kOk);
  EXPECT_TRUE(confirm->body.empty());
  EXPECT_EQ(read(pty.get(), buffer, sizeof(buffer)), 0);  // the server closed its end
  EXPECT_TRUE(wait_for([&] { return manager_.release_count() == 1; }));
  expect_nothing_queued(client, 8);
  // Released: a second session opens without FORCE.
  EXPECT_TRUE(open_console(client, 9, domain("alpha", 1)));
}

TEST_F(ServerTest, ConsoleAbortIsConfirmedAndClosesThePty) {
  WireClient client = open_client();
  UniqueFd pty = open_console(client, 3, domain("alpha", 1));
  client.send(PacketType::kStream, kProcOpenConsole, 3, PacketStatus::kError, {});
  auto confirm = client.read();
  ASSERT_TRUE(confirm.has_value());
  EXPECT_EQ(confirm->header.type, PacketType::kStream);
  EXPECT_EQ(confirm->header.status, PacketStatus::kOk);
  char buffer[8];
  EXPECT_EQ(read(pty.get(), buffer, sizeof(buffer)), 0);
  // Late data for the ended stream is dropped; the connection stays up.
  client.send(PacketType::kStream, kProcOpenConsole, 3, PacketStatus::kContinue,
              std::vector<uint8_t>{'x'});
  expect_nothing_queued(client, 4);
}

TEST_F(ServerTest, ConsoleEndOfFileIsAnEmptyContinue) {
  WireClient client = open_client();
  UniqueFd pty = open_console(client, 3, domain("alpha", 1));
  pty.reset();  // the guest went away
  auto end = client.read();
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->header.type, PacketType::kStream);
  EXPECT_EQ(end->header.status, PacketStatus::kContinue);
  EXPECT_TRUE(end->body.empty());
  client.send(PacketType::kStream, kProcOpenConsole, 3, PacketStatus::kOk, {});
  auto confirm = client.read();
  ASSERT_TRUE(confirm.has_value());
  EXPECT_EQ(confirm->header.status, PacketStatus::kOk);
}

TEST_F(ServerTest, ConsoleOfAStoppedDomainEndsWithEndOfFileNotAnError) {
  WireClient client = open_client();
  UniqueFd pty = open_console(client, 3, domain("alpha", 1));
  pty.reset();                // the guest's pty hung up
  manager_.revoke_console();  // and the manager revokes the holder of a stopped domain
  auto end = client.read();
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->header.type, PacketType::kStream);
  EXPECT_EQ(end->header.status, PacketStatus::kContinue);
  EXPECT_TRUE(end->body.empty());
  client.send(PacketType::kStream, kProcOpenConsole, 3, PacketStatus::kOk, {});
  auto confirm = client.read();
  ASSERT_TRUE(confirm.has_value());
  EXPECT_EQ(confirm->header.status, PacketStatus::kOk);
  EXPECT_EQ(manager_.release_count(), 0);  // revoked: the manager already let go
}

TEST_F(ServerTest, ForcedOpenRevokesTheFirstStreamWithAnError) {
  WireClient first = open_client();
  WireClient second = open_client();
  UniqueFd first_pty = open_console(first, 3, domain("alpha", 1));
  // Without FORCE a second session is refused.
  rpc::XdrWriter args;
  protocol::write_domain(args, domain("alpha", 1));
  args.write_optional_string(std::string("serial0"));
  args.write_u32(0);
  second.call(kProcOpenConsole, 4, args);
  Frame refused = expect_reply(second, kProcOpenConsole, 4);
  EXPECT_EQ(refused.header.status, PacketStatus::kError);

  UniqueFd second_pty = open_console(second, 5, domain("alpha", 1), VIR_DOMAIN_CONSOLE_FORCE);
  auto error = first.read();
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->header.type, PacketType::kStream);
  EXPECT_EQ(error->header.status, PacketStatus::kError);
  EXPECT_EQ(error->header.serial, 3u);
  rpc::XdrReader reader(error->body);
  auto decoded = protocol::decode_remote_error(reader);
  ASSERT_TRUE(decoded.ok());
  EXPECT_NE(decoded->message->find("taken over"), std::string::npos) << *decoded->message;
  char buffer[8];
  EXPECT_EQ(read(first_pty.get(), buffer, sizeof(buffer)), 0);

  EXPECT_EQ(manager_.release_count(), 0);  // the console is the second session's now
  ASSERT_EQ(write(second_pty.get(), "ok", 2), 2);
  auto data = second.read();
  ASSERT_TRUE(data.has_value());
  EXPECT_EQ(data->header.serial, 5u);
  EXPECT_EQ(std::string(data->body.begin(), data->body.end()), "ok");
  expect_nothing_queued(first, 6);
}

TEST_F(ServerTest, ConsoleOnReadOnlySocketIsRefused) {
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  server_->adopt(UniqueFd(pair[0]), protocol::SocketKind::kReadOnly);
  WireClient client{UniqueFd(pair[1])};
  rpc::XdrWriter args;
  protocol::write_domain(args, domain("alpha", 1));
  args.write_optional_string(std::nullopt);
  args.write_u32(0);
  client.call(kProcOpenConsole, 1, args);
  Frame reply = expect_reply(client, kProcOpenConsole, 1);
  EXPECT_EQ(reply.header.status, PacketStatus::kError);
  EXPECT_FALSE(manager_.take_console_peer());
}

TEST_F(ServerTest, SlowReaderIsDroppedOthersAreServed) {
  restart(256 * 1024);
  WireClient slow = open_client();
  WireClient fine = open_client();
  register_callback(slow, 1, VIR_DOMAIN_EVENT_ID_LIFECYCLE, std::nullopt);
  vm::DomainRef alpha = domain("alpha", 1);
  // The slow client never reads: the socket buffer fills, then our queue.
  for (int i = 0; i < 50000 && server_->client_count() == 2; ++i) {
    manager_.emit(lifecycle(alpha, VIR_DOMAIN_EVENT_STARTED, 0));
  }
  EXPECT_TRUE(wait_for([&] { return server_->client_count() == 1; }));
  EXPECT_TRUE(wait_for([&] { return manager_.subscriber_count() == 0; }));
  EXPECT_TRUE(slow.closed_by_server());
  expect_nothing_queued(fine, 1);
}

TEST_F(ServerTest, ClientKilledMidStreamLeavesTheDaemonHealthy) {
  WireClient doomed = open_client();
  UniqueFd pty = open_console(doomed, 3, domain("alpha", 1));
  register_callback(doomed, 4, VIR_DOMAIN_EVENT_ID_LIFECYCLE, std::nullopt);
  std::vector<uint8_t> chunk(32 * 1024, 'x');
  ASSERT_EQ(write(pty.get(), chunk.data(), chunk.size()), static_cast<ssize_t>(chunk.size()));
  doomed.send(PacketType::kStream, kProcOpenConsole, 3, PacketStatus::kContinue, chunk);
  doomed.close();
  EXPECT_TRUE(wait_for([&] { return server_->client_count() == 0; }));
  EXPECT_EQ(manager_.subscriber_count(), 0u);
  // The server closed its end of the pty.
  EXPECT_TRUE(wait_for([&] {
    char buffer[65536];
    return read(pty.get(), buffer, sizeof(buffer)) == 0;
  }));
  EXPECT_TRUE(wait_for([&] { return manager_.release_count() == 1; }));
  WireClient next = open_client();
  UniqueFd next_pty = open_console(next, 1, domain("alpha", 1));
  EXPECT_TRUE(next_pty);
  expect_nothing_queued(next, 2);
}

TEST_F(ServerTest, HighPriorityCallsDoNotWaitForABusyNormalWorker) {
  WireClient busy = open_client();
  WireClient quick = open_client();
  manager_.block_console(true);
  rpc::XdrWriter args;
  protocol::write_domain(args, domain("alpha", 1));
  args.write_optional_string(std::nullopt);
  args.write_u32(0);
  busy.call(kProcOpenConsole, 1, args);
  ASSERT_TRUE(wait_for([&] { return manager_.console_waiting(); }));
  quick.call(kProcLibVersion, 1);
  auto reply = quick.read(2s);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->header.procedure, kProcLibVersion);
  EXPECT_FALSE(busy.read(100ms).has_value());  // still waiting on the manager
  manager_.block_console(false);
  EXPECT_EQ(expect_reply(busy, kProcOpenConsole, 1).header.status, PacketStatus::kOk);
}

TEST_F(ServerTest, CallsOfOneClientAreAnsweredInOrder) {
  WireClient client = open_client();
  for (uint32_t serial = 1; serial <= 40; ++serial) client.call(kProcLibVersion, serial);
  for (uint32_t serial = 1; serial <= 40; ++serial) {
    EXPECT_EQ(expect_reply(client, kProcLibVersion, serial).header.status, PacketStatus::kOk);
  }
}

TEST_F(ServerTest, MalformedFramesCloseOnlyThatClient) {
  WireClient good = open_client();
  WireClient bad = connect();
  uint8_t undersized[4] = {0, 0, 0, 27};
  bad.send_raw(undersized);
  EXPECT_TRUE(bad.closed_by_server());
  WireClient reply_sender = connect();
  reply_sender.send(PacketType::kReply, 1, 1, PacketStatus::kOk, {});
  EXPECT_TRUE(reply_sender.closed_by_server());
  expect_nothing_queued(good, 1);
}

bool is_ping(const std::optional<Frame>& frame) {
  return frame && frame->header.program == protocol::kKeepaliveProgram &&
         frame->header.procedure == protocol::kKeepalivePing &&
         frame->header.type == PacketType::kMessage && frame->body.empty();
}

TEST_F(ServerTest, PingedClientIsAnsweredWithPong) {
  WireClient client = connect();
  client.send(PacketType::kMessage, protocol::kKeepalivePing, 0, PacketStatus::kOk, {},
              protocol::kKeepaliveProgram);
  auto pong = client.read();
  ASSERT_TRUE(pong.has_value());
  EXPECT_EQ(pong->header.program, protocol::kKeepaliveProgram);
  EXPECT_EQ(pong->header.procedure, protocol::kKeepalivePong);
  EXPECT_EQ(pong->header.type, PacketType::kMessage);
}

TEST_F(ServerTest, SilentKeepaliveClientIsPingedThenDropped) {
  restart(64 * 1024 * 1024, /*keepalive_interval=*/1, /*keepalive_count=*/2);
  WireClient silent = open_client();
  ask_keepalive(silent, 1);
  WireClient never_asked = open_client();  // no keepalive: never pinged, never dropped
  auto start = std::chrono::steady_clock::now();
  // One PING per silent second, two of them, then the connection closes.
  EXPECT_TRUE(is_ping(silent.read(3s)));
  auto first = std::chrono::steady_clock::now() - start;
  EXPECT_GE(first, 900ms);
  EXPECT_TRUE(is_ping(silent.read(3s)));
  EXPECT_FALSE(silent.read(3s).has_value()) << "a third frame instead of the close";
  auto closed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(closed, 2900ms);
  EXPECT_LT(closed, 6s);
  EXPECT_TRUE(wait_for([&] { return server_->client_count() == 1; }));
  expect_nothing_queued(never_asked, 1);  // not pinged in those 3 s
}

TEST_F(ServerTest, KeepaliveClientThatAnswersStays) {
  restart(64 * 1024 * 1024, /*keepalive_interval=*/1, /*keepalive_count=*/1);
  WireClient client = open_client();
  ask_keepalive(client, 1);
  int pings = 0;
  auto deadline = std::chrono::steady_clock::now() + 4s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto frame = client.read(3s);
    ASSERT_TRUE(is_ping(frame)) << "dropped or sent something else after " << pings << " PINGs";
    ++pings;
    client.send(PacketType::kMessage, protocol::kKeepalivePong, 0, PacketStatus::kOk, {},
                protocol::kKeepaliveProgram);
  }
  EXPECT_GE(pings, 3);
  expect_nothing_queued(client, 2);
  EXPECT_EQ(server_->client_count(), 1u);
}

TEST_F(ServerTest, BusyClientIsNotPinged) {
  restart(64 * 1024 * 1024, /*keepalive_interval=*/1, /*keepalive_count=*/0);
  WireClient client = open_client();
  ask_keepalive(client, 1);
  // A call every 300 ms keeps it alive with count 0 (drop after one
  // silent interval): only replies come back.
  for (uint32_t serial = 2; serial < 12; ++serial) {
    std::this_thread::sleep_for(300ms);
    expect_nothing_queued(client, serial);
  }
  EXPECT_TRUE(client.closed_by_server(3s)) << "count 0: dropped after one silent second";
}

TEST_F(ServerTest, KeepaliveOffNeverPings) {
  restart(64 * 1024 * 1024, /*keepalive_interval=*/-1, /*keepalive_count=*/1);
  WireClient client = open_client();
  ask_keepalive(client, 1);
  EXPECT_FALSE(client.read(2500ms).has_value());
  expect_nothing_queued(client, 2);
}

}  // namespace
}  // namespace amber::driver::testing
