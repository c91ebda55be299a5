// SPDX-License-Identifier: GPL-2.0-or-later
// Unit tests for the server's data streams (server/data_stream_relay.h): a
// real Server over socketpairs whose test procedures 208 and 209 open an
// upload into a FakeSink or a download from a FakeSource, driven by a test
// client speaking the wire format. Covers data split across partial
// writes, holes both ways (and refused without the sparse flag), finish
// and its error as STREAM ERROR, a write error mid-upload, a client abort
// and a client killed mid-upload leaving the daemon healthy, and the flow
// control bounds in both directions.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "driver/protocol/remote_error.h"
#include "driver/server/data_stream_relay.h"
#include "driver/server/server.h"
#include "tests/unit/driver/fake_manager.h"
#include "tests/unit/driver/wire_client.h"

namespace amber::driver::testing {
namespace {

using namespace std::chrono_literals;
using rpc::PacketStatus;
using rpc::PacketType;

constexpr int32_t kProcOpen = 1;
constexpr int32_t kProcLibVersion = 157;
constexpr int32_t kProcUpload = 208;
constexpr int32_t kProcDownload = 209;

bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 5s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

// What a FakeSink saw; outlives the sink (the server destroys it).
struct SinkLog {
  std::mutex mutex;
  std::condition_variable changed;
  std::string events;  // "D<n>" per write, "H<n>" per hole, "F" finish, "A" abort
  std::vector<uint8_t> bytes;
  size_t received = 0;    // data bytes written so far
  bool gate_open = true;  // writes wait while false
  std::optional<Error> finish_error;
  size_t fail_write = SIZE_MAX;  // the index of the write that fails
  size_t writes = 0;
  bool ended = false;  // on_end ran

  std::string snapshot() {
    std::lock_guard lock(mutex);
    return events;
  }
  void open_gate() {
    std::lock_guard lock(mutex);
    gate_open = true;
    changed.notify_all();
  }
};

class FakeSink final : public protocol::StreamSink {
 public:
  explicit FakeSink(std::shared_ptr<SinkLog> log) : log_(std::move(log)) {}
  Result<void> write(std::span<const uint8_t> data) override {
    std::unique_lock lock(log_->mutex);
    log_->changed.wait(lock, [&] { return log_->gate_open; });
    if (log_->writes++ == log_->fail_write) return Error(ErrorKind::kIo, "the disk fell off", EIO);
    log_->events += "D" + std::to_string(data.size());
    log_->bytes.insert(log_->bytes.end(), data.begin(), data.end());
    log_->received += data.size();
    return {};
  }
  Result<void> hole(uint64_t length) override {
    std::lock_guard lock(log_->mutex);
    log_->events += "H" + std::to_string(length);
    return {};
  }
  Result<void> finish() override {
    std::lock_guard lock(log_->mutex);
    log_->events += "F";
    if (log_->finish_error) return *log_->finish_error;
    return {};
  }
  void abort() override {
    std::lock_guard lock(log_->mutex);
    log_->events += "A";
  }

 private:
  std::shared_ptr<SinkLog> log_;
};

// A download of `pieces` (data or, for a negative number, a hole of that
// many bytes), then the end; or endless data; or an error at piece N.
struct SourcePlan {
  std::vector<int64_t> pieces;
  bool endless = false;
  size_t fail_at = SIZE_MAX;
  std::atomic<size_t> produced{0};
};

class FakeSource final : public protocol::StreamSource {
 public:
  explicit FakeSource(std::shared_ptr<SourcePlan> plan) : plan_(std::move(plan)) {}
  Result<protocol::SourceChunk> next(std::span<uint8_t> buffer) override {
    size_t index = plan_->produced++;
    if (index == plan_->fail_at) return Error(ErrorKind::kIo, "cannot read the volume", EIO);
    protocol::SourceChunk chunk;
    if (plan_->endless) {
      chunk.kind = protocol::SourceChunk::Kind::kData;
      chunk.size = buffer.size();
      std::fill(buffer.begin(), buffer.end(), uint8_t{'e'});
      return chunk;
    }
    if (index >= plan_->pieces.size()) return chunk;  // kEnd
    int64_t piece = plan_->pieces[index];
    if (piece < 0) {
      chunk.kind = protocol::SourceChunk::Kind::kHole;
      chunk.hole_length = static_cast<uint64_t>(-piece);
      return chunk;
    }
    chunk.kind = protocol::SourceChunk::Kind::kData;
    chunk.size = std::min(buffer.size(), static_cast<size_t>(piece));
    for (size_t i = 0; i < chunk.size; ++i) buffer[i] = static_cast<uint8_t>(index + i);
    return chunk;
  }

 private:
  std::shared_ptr<SourcePlan> plan_;
};

// The stream the next 208/209 call opens (the handlers are plain functions).
struct NextStream {
  std::mutex mutex;
  std::shared_ptr<SinkLog> sink;
  std::shared_ptr<SourcePlan> source;
  protocol::StreamHoles holes = protocol::StreamHoles::kRefused;
};
NextStream next_stream;

Result<void> open_test_stream(protocol::Connection& connection, rpc::XdrReader&, rpc::XdrWriter&) {
  std::lock_guard lock(next_stream.mutex);
  protocol::OpenedStream stream;
  if (next_stream.sink) {
    auto log = next_stream.sink;
    stream.sink = std::make_unique<FakeSink>(log);
    stream.on_end = [log] {
      std::lock_guard log_lock(log->mutex);
      log->ended = true;
    };
  } else if (next_stream.source) {
    stream.source = std::make_unique<FakeSource>(next_stream.source);
  } else {
    return Error(ErrorKind::kInternal, "the test set no stream");
  }
  stream.holes = next_stream.holes;
  connection.opened_stream = std::move(stream);
  return {};
}

constexpr std::array kTestProcedures = {
    protocol::Procedure{kProcUpload, "TEST_UPLOAD", "-", "-", protocol::Priority::kNormal,
                        protocol::Access::kReadWriteOnly, open_test_stream},
    protocol::Procedure{kProcDownload, "TEST_DOWNLOAD", "-", "-", protocol::Priority::kNormal,
                        protocol::Access::kReadWriteOnly, open_test_stream},
};

std::vector<uint8_t> hole_body(int64_t length, uint32_t flags = 0) {
  rpc::XdrWriter body;
  body.write_i64(length);
  body.write_u32(flags);
  return body.bytes();
}

std::string error_message(const Frame& frame) {
  rpc::XdrReader reader(frame.body);
  auto error = protocol::decode_remote_error(reader);
  return error.ok() && error->message ? *error->message : "<no message>";
}

class DataStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server::ServerOptions options;
    options.daemon.manager = &manager_;
    options.daemon.test_procedures = kTestProcedures;
    options.rw_requires_root = false;
    options.normal_workers = 2;
    options.priority_workers = 1;
    auto created = server::Server::create(options);
    ASSERT_TRUE(created.ok()) << created.error().message();
    server_ = std::move(*created);
    thread_ = std::thread([this] { run_ok_ = server_->run().ok(); });
  }
  void TearDown() override {
    server_->stop();
    thread_.join();
    EXPECT_TRUE(run_ok_);
    server_.reset();
    std::lock_guard lock(next_stream.mutex);
    next_stream.sink.reset();
    next_stream.source.reset();
    next_stream.holes = protocol::StreamHoles::kRefused;
  }

  // `server_send_buffer`: SO_SNDBUF of the daemon's end (0: the default).
  WireClient open_client(int server_send_buffer = 0) {
    int pair[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    if (server_send_buffer > 0) {
      EXPECT_EQ(setsockopt(pair[0], SOL_SOCKET, SO_SNDBUF, &server_send_buffer,
                           sizeof(server_send_buffer)),
                0);
    }
    server_->adopt(UniqueFd(pair[0]), protocol::SocketKind::kReadWrite);
    WireClient client{UniqueFd(pair[1])};
    rpc::XdrWriter args;
    args.write_optional_string(std::string("amber:///system"));
    args.write_u32(0);
    client.call(kProcOpen, 0, args);
    auto reply = client.read();
    EXPECT_TRUE(reply && reply->header.status == PacketStatus::kOk);
    return client;
  }
  std::shared_ptr<SinkLog> start_upload(
      WireClient& client, uint32_t serial,
      protocol::StreamHoles holes = protocol::StreamHoles::kRefused) {
    auto log = std::make_shared<SinkLog>();
    {
      std::lock_guard lock(next_stream.mutex);
      next_stream.sink = log;
      next_stream.source.reset();
      next_stream.holes = holes;
    }
    client.call(kProcUpload, serial);
    auto reply = client.read();
    EXPECT_TRUE(reply && reply->header.type == PacketType::kReply &&
                reply->header.status == PacketStatus::kOk);
    return log;
  }
  std::shared_ptr<SourcePlan> start_download(WireClient& client, uint32_t serial,
                                             std::shared_ptr<SourcePlan> plan,
                                             protocol::StreamHoles holes) {
    {
      std::lock_guard lock(next_stream.mutex);
      next_stream.sink.reset();
      next_stream.source = plan;
      next_stream.holes = holes;
    }
    client.call(kProcDownload, serial);
    auto reply = client.read();
    EXPECT_TRUE(reply && reply->header.type == PacketType::kReply &&
                reply->header.status == PacketStatus::kOk);
    return plan;
  }
  void data(WireClient& client, int32_t procedure, uint32_t serial,
            std::span<const uint8_t> bytes) {
    client.send(PacketType::kStream, procedure, serial, PacketStatus::kContinue, bytes);
  }
  // The next frame is the reply to a fresh call: the connection is healthy
  // and nothing else was queued.
  void expect_healthy(WireClient& client, uint32_t serial) {
    client.call(kProcLibVersion, serial);
    auto frame = client.read();
    ASSERT_TRUE(frame.has_value());
    EXPECT_EQ(frame->header.type, PacketType::kReply)
        << "unexpected frame, type " << static_cast<int>(frame->header.type);
    EXPECT_EQ(frame->header.procedure, kProcLibVersion);
  }
  void expect_confirmation(WireClient& client, int32_t procedure, uint32_t serial) {
    auto frame = client.read();
    ASSERT_TRUE(frame.has_value());
    EXPECT_EQ(frame->header.type, PacketType::kStream);
    EXPECT_EQ(frame->header.procedure, procedure);
    EXPECT_EQ(frame->header.serial, serial);
    EXPECT_EQ(frame->header.status, PacketStatus::kOk);
    EXPECT_TRUE(frame->body.empty());
  }

  FakeManager manager_;
  std::unique_ptr<server::Server> server_;
  std::thread thread_;
  bool run_ok_ = false;
};

TEST_F(DataStreamTest, UploadOfPartialPacketsIsWrittenInOrderAndFinished) {
  WireClient client = open_client();
  auto log = start_upload(client, 5);
  std::vector<uint8_t> first(1000, 'a');
  data(client, kProcUpload, 5, first);
  // The second packet arrives in three pieces, the header itself split.
  std::vector<uint8_t> second(server::kStreamChunk, 'b');
  rpc::PacketHeader header{protocol::kRemoteProgram, 1, kProcUpload,
                           PacketType::kStream,      5, PacketStatus::kContinue};
  auto frame = rpc::encode_frame(header, second);
  std::span<const uint8_t> whole(frame);
  ASSERT_TRUE(client.send_raw(whole.first(10)));
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(client.send_raw(whole.subspan(10, 5000)));
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(client.send_raw(whole.subspan(5010)));
  client.send(PacketType::kStream, kProcUpload, 5, PacketStatus::kOk, {});
  expect_confirmation(client, kProcUpload, 5);
  EXPECT_EQ(log->snapshot(), "D1000D262120F");
  EXPECT_EQ(log->bytes.size(), first.size() + second.size());
  EXPECT_EQ(log->bytes.back(), 'b');
  EXPECT_TRUE(log->ended);  // on_end ran before the confirmation
  expect_healthy(client, 6);
}

TEST_F(DataStreamTest, SparseUploadPassesHolesInOrder) {
  WireClient client = open_client();
  auto log = start_upload(client, 1, protocol::StreamHoles::kAllowed);
  std::vector<uint8_t> bytes(4096, 'x');
  data(client, kProcUpload, 1, bytes);
  client.send(PacketType::kStreamHole, kProcUpload, 1, PacketStatus::kContinue, hole_body(1 << 20));
  data(client, kProcUpload, 1, bytes);
  client.send(PacketType::kStream, kProcUpload, 1, PacketStatus::kOk, {});
  expect_confirmation(client, kProcUpload, 1);
  EXPECT_EQ(log->snapshot(), "D4096H1048576D4096F");
}

TEST_F(DataStreamTest, HoleWithoutTheSparseFlagIsAStreamError) {
  WireClient client = open_client();
  auto log = start_upload(client, 1);
  client.send(PacketType::kStreamHole, kProcUpload, 1, PacketStatus::kContinue, hole_body(4096));
  auto error = client.read();
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->header.type, PacketType::kStream);
  EXPECT_EQ(error->header.status, PacketStatus::kError);
  EXPECT_EQ(error_message(*error), "Unexpected stream hole");
  EXPECT_TRUE(wait_for([&] { return log->snapshot() == "A"; })) << log->snapshot();
  // The stream is gone: late packets are dropped without a reply.
  data(client, kProcUpload, 1, std::vector<uint8_t>(10, 'z'));
  client.send(PacketType::kStream, kProcUpload, 1, PacketStatus::kOk, {});
  expect_healthy(client, 2);
}

TEST_F(DataStreamTest, MalformedOrNegativeHolesAreStreamErrors) {
  WireClient client = open_client();
  start_upload(client, 1, protocol::StreamHoles::kAllowed);
  client.send(PacketType::kStreamHole, kProcUpload, 1, PacketStatus::kContinue, hole_body(-5));
  auto error = client.read();
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->header.status, PacketStatus::kError);
  EXPECT_NE(error_message(*error).find("must be positive"), std::string::npos);
  start_upload(client, 2, protocol::StreamHoles::kAllowed);
  std::vector<uint8_t> short_body = {0, 0, 0, 1};
  client.send(PacketType::kStreamHole, kProcUpload, 2, PacketStatus::kContinue, short_body);
  error = client.read();
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error_message(*error).find("malformed stream hole"), std::string::npos);
  expect_healthy(client, 3);
}

TEST_F(DataStreamTest, FinishErrorBecomesTheStreamError) {
  WireClient client = open_client();
  auto log = start_upload(client, 3);
  {
    std::lock_guard lock(log->mutex);
    log->finish_error = Error(ErrorKind::kIo, "cannot sync the uploaded volume", EIO);
  }
  data(client, kProcUpload, 3, std::vector<uint8_t>(100, 'q'));
  client.send(PacketType::kStream, kProcUpload, 3, PacketStatus::kOk, {});
  auto error = client.read();
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->header.type, PacketType::kStream);
  EXPECT_EQ(error->header.procedure, kProcUpload);
  EXPECT_EQ(error->header.serial, 3u);
  EXPECT_EQ(error->header.status, PacketStatus::kError);
  EXPECT_NE(error_message(*error).find("cannot sync the uploaded volume"), std::string::npos)
      << error_message(*error);
  EXPECT_EQ(log->snapshot(), "D100F");
  expect_healthy(client, 4);
}

TEST_F(DataStreamTest, WriteErrorEndsTheUploadWithAStreamError) {
  WireClient client = open_client();
  auto log = start_upload(client, 3);
  {
    std::lock_guard lock(log->mutex);
    log->fail_write = 1;
  }
  for (int i = 0; i < 4; ++i) data(client, kProcUpload, 3, std::vector<uint8_t>(100, 'w'));
  auto error = client.read();
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->header.status, PacketStatus::kError);
  EXPECT_NE(error_message(*error).find("the disk fell off"), std::string::npos);
  client.send(PacketType::kStream, kProcUpload, 3, PacketStatus::kOk, {});
  expect_healthy(client, 4);
  EXPECT_EQ(log->snapshot(), "D100A");
}

TEST_F(DataStreamTest, ClientAbortMidUploadIsConfirmedAndLeavesTheDaemonHealthy) {
  WireClient client = open_client();
  auto log = start_upload(client, 2);
  {
    std::lock_guard lock(log->mutex);
    log->gate_open = false;  // the disk is slow: data stays queued
  }
  for (int i = 0; i < 4; ++i) data(client, kProcUpload, 2, std::vector<uint8_t>(65536, 'k'));
  client.send(PacketType::kStream, kProcUpload, 2, PacketStatus::kError, {});
  std::this_thread::sleep_for(50ms);
  log->open_gate();
  expect_confirmation(client, kProcUpload, 2);
  const std::string events = log->snapshot();
  EXPECT_EQ(events.back(), 'A') << events;
  EXPECT_EQ(events.find('F'), std::string::npos) << events;
  EXPECT_LE(log->received, 65536u);  // the queued data after the first write was dropped
  EXPECT_TRUE(log->ended);
  expect_healthy(client, 3);
  // A new upload on the same connection works.
  auto again = start_upload(client, 4);
  data(client, kProcUpload, 4, std::vector<uint8_t>(7, 'n'));
  client.send(PacketType::kStream, kProcUpload, 4, PacketStatus::kOk, {});
  expect_confirmation(client, kProcUpload, 4);
  EXPECT_EQ(again->snapshot(), "D7F");
}

TEST_F(DataStreamTest, ClientKilledMidUploadAbortsTheSink) {
  WireClient doomed = open_client();
  auto log = start_upload(doomed, 2);
  data(doomed, kProcUpload, 2, std::vector<uint8_t>(5000, 'd'));
  doomed.close();
  EXPECT_TRUE(wait_for([&] { return server_->client_count() == 0; }));
  EXPECT_TRUE(wait_for([&] {
    std::lock_guard lock(log->mutex);
    return log->ended;
  }));
  EXPECT_EQ(log->snapshot().back(), 'A');
  WireClient next = open_client();
  expect_healthy(next, 1);
}

TEST_F(DataStreamTest, FastClientIsPacedBySlowDisk) {
  WireClient client = open_client();
  auto log = start_upload(client, 2);
  {
    std::lock_guard lock(log->mutex);
    log->gate_open = false;
  }
  // 64 chunks (16 MiB) from a thread; sends block once the server stops
  // reading.
  std::atomic<size_t> sent{0};
  int raw_fd = client.fd();
  std::thread sender([&] {
    std::vector<uint8_t> chunk(server::kStreamChunk, 's');
    rpc::PacketHeader header{protocol::kRemoteProgram, 1, kProcUpload,
                             PacketType::kStream,      2, PacketStatus::kContinue};
    auto frame = rpc::encode_frame(header, chunk);
    for (int i = 0; i < 64; ++i) {
      size_t done = 0;
      while (done < frame.size()) {
        ssize_t count = ::send(raw_fd, frame.data() + done, frame.size() - done, MSG_NOSIGNAL);
        if (count <= 0) return;
        done += static_cast<size_t>(count);
        sent += static_cast<size_t>(count);
      }
    }
  });
  std::this_thread::sleep_for(500ms);
  // Held back: the relay's queue, one frame being handed over, the frame
  // decoder's read and the kernel's socket buffers; far from 16 MiB.
  const size_t held = sent.load();
  EXPECT_GT(held, server::kDataInputMax);
  EXPECT_LT(held, server::kDataInputMax + 4 * 1024 * 1024) << held;
  log->open_gate();
  sender.join();
  client.send(PacketType::kStream, kProcUpload, 2, PacketStatus::kOk, {});
  expect_confirmation(client, kProcUpload, 2);
  EXPECT_EQ(log->received, 64 * server::kStreamChunk);
}

TEST_F(DataStreamTest, SparseDownloadSendsDataHolesAndAnEmptyContinue) {
  WireClient client = open_client();
  auto plan = std::make_shared<SourcePlan>();
  plan->pieces = {3000, -65536, 10};
  start_download(client, 9, plan, protocol::StreamHoles::kAllowed);
  auto first = client.read();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->header.type, PacketType::kStream);
  EXPECT_EQ(first->header.status, PacketStatus::kContinue);
  EXPECT_EQ(first->body.size(), 3000u);
  auto hole = client.read();
  ASSERT_TRUE(hole.has_value());
  EXPECT_EQ(hole->header.type, PacketType::kStreamHole);
  EXPECT_EQ(hole->header.status, PacketStatus::kContinue);
  EXPECT_EQ(hole->body, hole_body(65536));
  auto last = client.read();
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->body.size(), 10u);
  EXPECT_EQ(last->body[0], 2);  // piece 2's first byte
  auto end = client.read();
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->header.type, PacketType::kStream);
  EXPECT_EQ(end->header.status, PacketStatus::kContinue);
  EXPECT_TRUE(end->body.empty());
  client.send(PacketType::kStream, kProcDownload, 9, PacketStatus::kOk, {});
  expect_confirmation(client, kProcDownload, 9);
  expect_healthy(client, 10);
}

TEST_F(DataStreamTest, HoleFromASourceOfANonSparseDownloadIsAnError) {
  WireClient client = open_client();
  auto plan = std::make_shared<SourcePlan>();
  plan->pieces = {-4096};
  start_download(client, 9, plan, protocol::StreamHoles::kRefused);
  auto error = client.read();
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->header.status, PacketStatus::kError);
  expect_healthy(client, 10);
}

TEST_F(DataStreamTest, ReadErrorEndsTheDownloadWithAStreamError) {
  WireClient client = open_client();
  auto plan = std::make_shared<SourcePlan>();
  plan->pieces = {100, 100, 100};
  plan->fail_at = 1;
  start_download(client, 4, plan, protocol::StreamHoles::kRefused);
  auto data_frame = client.read();
  ASSERT_TRUE(data_frame.has_value());
  EXPECT_EQ(data_frame->body.size(), 100u);
  auto error = client.read();
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->header.type, PacketType::kStream);
  EXPECT_EQ(error->header.status, PacketStatus::kError);
  EXPECT_NE(error_message(*error).find("cannot read the volume"), std::string::npos);
  expect_healthy(client, 5);
}

TEST_F(DataStreamTest, SlowReaderPacesTheDownloadAndMayAbortBeforeTheEnd) {
  WireClient client = open_client();
  auto plan = std::make_shared<SourcePlan>();
  plan->endless = true;
  start_download(client, 4, plan, protocol::StreamHoles::kRefused);
  std::this_thread::sleep_for(500ms);
  // Produced: the client's output (kStreamHighWater plus a frame), the
  // outbox and the kernel's socket buffers; not an endless stream.
  const size_t produced = plan->produced.load();
  EXPECT_GT(produced, 2u);
  EXPECT_LT(produced, 24u) << produced;
  client.send(PacketType::kStream, kProcDownload, 4, PacketStatus::kError, {});
  // Data already queued comes first, then the confirmation.
  for (;;) {
    auto frame = client.read();
    ASSERT_TRUE(frame.has_value());
    ASSERT_EQ(frame->header.type, PacketType::kStream);
    if (frame->header.status == PacketStatus::kContinue) continue;
    EXPECT_EQ(frame->header.status, PacketStatus::kOk);
    EXPECT_TRUE(frame->body.empty());
    break;
  }
  expect_healthy(client, 5);
}

// The loop once moved a download's waiting frames only before writing the
// client's output: when one write emptied an output that had been above
// the high water, nothing woke the loop again and the download stalled
// for ever with its outbox full. A socket buffer larger than the high
// water makes that one write likely; a reader that pauses fills
// everything first. Every pause must end with the rest of the data.
TEST_F(DataStreamTest, DownloadResumesAfterTheOutputDrainsInOneWrite) {
  for (uint32_t round = 0; round < 6; ++round) {
    WireClient client = open_client(8 * 1024 * 1024);
    auto plan = std::make_shared<SourcePlan>();
    plan->pieces.assign(96, static_cast<int64_t>(server::kStreamChunk));
    const uint32_t serial = 20 + round;
    start_download(client, serial, plan, protocol::StreamHoles::kRefused);
    size_t chunks = 0;
    for (;;) {
      if (chunks % 24 == 0) std::this_thread::sleep_for(150ms);  // the reader pauses
      auto frame = client.read(5s);
      ASSERT_TRUE(frame.has_value())
          << "round " << round << ": stalled after " << chunks << " chunks";
      ASSERT_EQ(frame->header.type, PacketType::kStream);
      ASSERT_EQ(frame->header.status, PacketStatus::kContinue);
      if (frame->body.empty()) break;
      ++chunks;
    }
    EXPECT_EQ(chunks, 96u);
    client.send(PacketType::kStream, kProcDownload, serial, PacketStatus::kOk, {});
    expect_confirmation(client, kProcDownload, serial);
  }
}

}  // namespace
}  // namespace amber::driver::testing
