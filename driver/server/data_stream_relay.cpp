// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/server/data_stream_relay.h"

#include <cinttypes>
#include <cstdio>
#include <utility>

namespace amber::driver::server {

DataStreamRelay::DataStreamRelay(int32_t procedure, uint32_t serial, protocol::OpenedStream stream,
                                 std::function<void()> ring)
    : StreamRelay(procedure, serial),
      stream_(std::move(stream)),
      ring_(std::move(ring)),
      upload_(stream_.sink != nullptr) {
  if (upload_) {
    worker_ = std::thread([this] { run_upload(); });
  } else {
    worker_ = std::thread([this] { run_download(); });
  }
}

DataStreamRelay::~DataStreamRelay() {
  {
    std::lock_guard lock(mutex_);
    if (stop_ == Stop::kNo) stop_ = Stop::kTornDown;
    commands_.clear();
    queued_bytes_ = 0;
  }
  wake_worker_.notify_all();
  if (worker_.joinable()) worker_.join();
}

bool DataStreamRelay::input_full() const {
  std::lock_guard lock(mutex_);
  return queued_bytes_ > kDataInputMax;
}

void DataStreamRelay::queue(Command command) {
  {
    std::lock_guard lock(mutex_);
    if (worker_finished_) return;  // it failed: nobody would take it
    queued_bytes_ += command.data.size();
    commands_.push_back(std::move(command));
  }
  wake_worker_.notify_one();
}

void DataStreamRelay::on_packet(const rpc::PacketHeader& header, std::span<const uint8_t> body,
                                OutputQueue&) {
  if (closing_ || done_) return;
  if (header.type == rpc::PacketType::kStreamHole) {
    // A download has nothing to skip on the client's behalf: dropped.
    if (upload_) on_hole_packet(body);
    return;
  }
  switch (header.status) {
    case rpc::PacketStatus::kContinue:
      if (upload_ && !body.empty()) {
        Command command;
        command.data.assign(body.begin(), body.end());
        queue(std::move(command));
      }
      return;
    case rpc::PacketStatus::kOk:  // finish
      closing_ = true;
      if (upload_) {
        Command command;
        command.kind = Command::Kind::kFinish;
        queue(std::move(command));
        return;
      }
      {
        std::lock_guard lock(mutex_);
        stop_ = Stop::kClientFinished;
      }
      wake_worker_.notify_one();
      return;
    case rpc::PacketStatus::kError:  // abort: what is still queued is dropped
      closing_ = true;
      {
        std::lock_guard lock(mutex_);
        commands_.clear();
        queued_bytes_ = 0;
        stop_ = Stop::kClientAborted;
      }
      wake_worker_.notify_one();
      return;
  }
}

void DataStreamRelay::on_hole_packet(std::span<const uint8_t> body) {
  auto fail = [this](Error error) {
    closing_ = true;
    Command command;
    command.kind = Command::Kind::kFail;
    command.error = std::move(error);
    queue(std::move(command));
  };
  // libvirtd's words for a client that did not ask for a sparse stream.
  if (stream_.holes != protocol::StreamHoles::kAllowed) {
    return fail(Error(ErrorKind::kCorrupt, "Unexpected stream hole"));
  }
  rpc::XdrReader reader(body);
  auto length = reader.read_i64("length");
  auto flags = length.ok() ? reader.read_u32("flags") : Result<uint32_t>(length.error());
  Result<void> end = flags.ok() ? reader.expect_end("virNetStreamHole") : Result<void>();
  if (!flags.ok())
    return fail(Error(ErrorKind::kCorrupt, "malformed stream hole: " + flags.error().message()));
  if (!end.ok())
    return fail(Error(ErrorKind::kCorrupt, "malformed stream hole: " + end.error().message()));
  if (*length <= 0) {
    return fail(Error(ErrorKind::kInvalidArgument,
                      "stream hole length must be positive, got " + std::to_string(*length)));
  }
  if (*flags != 0) {
    char text[16];
    std::snprintf(text, sizeof(text), "0x%" PRIx32, *flags);
    return fail(Error(ErrorKind::kInvalidArgument,
                      std::string("unsupported flags (") + text + ") in a stream hole"));
  }
  Command command;
  command.kind = Command::Kind::kHole;
  command.hole_length = static_cast<uint64_t>(*length);  // positive, checked above
  queue(std::move(command));
}

void DataStreamRelay::tick(OutputQueue& output) {
  if (done_) return;
  bool moved = false;
  bool finished = false;
  {
    std::lock_guard lock(mutex_);
    while (!outbox_.empty() && output.pending() < kStreamHighWater) {
      output.push(std::move(outbox_.front()));
      outbox_.pop_front();
      moved = true;
    }
    finished = worker_finished_ && outbox_.empty();
  }
  if (moved) wake_worker_.notify_one();
  if (finished) {
    worker_.join();  // it has handed over its last frame: returns at once
    done_ = true;
  }
}

void DataStreamRelay::end(std::optional<std::vector<uint8_t>> last) {
  stream_.sink.reset();
  stream_.source.reset();
  if (auto on_end = std::exchange(stream_.on_end, nullptr)) on_end();
  {
    std::lock_guard lock(mutex_);
    if (last) outbox_.push_back(std::move(*last));
    worker_finished_ = true;
  }
  ring_();
}

void DataStreamRelay::run_upload() {
  protocol::StreamSink& sink = *stream_.sink;
  for (;;) {
    Command command;
    bool room_again = false;
    Stop stop = Stop::kNo;
    {
      std::unique_lock lock(mutex_);
      wake_worker_.wait(lock, [this] { return !commands_.empty() || stop_ != Stop::kNo; });
      stop = stop_;
      if (stop == Stop::kNo) {
        const bool was_full = queued_bytes_ > kDataInputMax;
        command = std::move(commands_.front());
        commands_.pop_front();
        queued_bytes_ -= command.data.size();
        room_again = was_full && queued_bytes_ <= kDataInputMax;
      }
    }
    if (stop != Stop::kNo) {
      sink.abort();
      if (stop == Stop::kClientAborted) {
        end(frame(rpc::PacketType::kStream, rpc::PacketStatus::kOk, {}));
      } else {
        end(std::nullopt);
      }
      return;
    }
    if (room_again) ring_();  // the loop may read the client again
    Result<void> result;
    switch (command.kind) {
      case Command::Kind::kData:
        result = sink.write(command.data);
        break;
      case Command::Kind::kHole:
        result = sink.hole(command.hole_length);
        break;
      case Command::Kind::kFail:
        result = std::move(command.error);
        break;
      case Command::Kind::kFinish: {
        auto finished = sink.finish();
        end(finished.ok() ? frame(rpc::PacketType::kStream, rpc::PacketStatus::kOk, {})
                          : error_frame(finished.error()));
        return;
      }
    }
    if (!result.ok()) {
      sink.abort();
      end(error_frame(result.error()));
      return;
    }
  }
}

void DataStreamRelay::run_download() {
  protocol::StreamSource* source = stream_.source.get();
  std::vector<uint8_t> buffer(kStreamChunk);
  for (;;) {
    Stop stop = Stop::kNo;
    {
      std::unique_lock lock(mutex_);
      wake_worker_.wait(lock, [&] {
        return stop_ != Stop::kNo || (source != nullptr && outbox_.size() < kOutboxFrames);
      });
      stop = stop_;
    }
    if (stop != Stop::kNo) {
      if (stop == Stop::kTornDown) {
        end(std::nullopt);
      } else {
        end(frame(rpc::PacketType::kStream, rpc::PacketStatus::kOk, {}));
      }
      return;
    }
    auto chunk = source->next(buffer);
    if (!chunk.ok()) {
      end(error_frame(chunk.error()));
      return;
    }
    std::vector<uint8_t> out;
    switch (chunk->kind) {
      case protocol::SourceChunk::Kind::kData:
        if (chunk->size == 0 || chunk->size > buffer.size()) {
          end(error_frame(Error(
              ErrorKind::kInternal,
              "the stream source returned " + std::to_string(chunk->size) + " bytes of data")));
          return;
        }
        out = frame(rpc::PacketType::kStream, rpc::PacketStatus::kContinue,
                    std::span(buffer.data(), chunk->size));
        break;
      case protocol::SourceChunk::Kind::kHole: {
        if (stream_.holes != protocol::StreamHoles::kAllowed || chunk->hole_length == 0 ||
            chunk->hole_length > static_cast<uint64_t>(INT64_MAX)) {
          end(error_frame(Error(ErrorKind::kInternal,
                                "the stream source returned a hole the stream cannot carry")));
          return;
        }
        rpc::XdrWriter body;
        body.write_i64(static_cast<int64_t>(chunk->hole_length));  // <= INT64_MAX, checked
        body.write_u32(0);
        out = frame(rpc::PacketType::kStreamHole, rpc::PacketStatus::kContinue, body.bytes());
        break;
      }
      case protocol::SourceChunk::Kind::kEnd:
        // libvirt's end of data: an empty CONTINUE; the client confirms
        // with a finish. The file is closed now; on_end runs at the finish.
        out = frame(rpc::PacketType::kStream, rpc::PacketStatus::kContinue, {});
        stream_.source.reset();
        source = nullptr;
        break;
    }
    {
      std::lock_guard lock(mutex_);
      outbox_.push_back(std::move(out));
    }
    ring_();
  }
}

}  // namespace amber::driver::server
