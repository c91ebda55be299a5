// SPDX-License-Identifier: GPL-2.0-or-later
// rpc-mutate: a seeded mutation fuzzer for the daemon's RPC decoder.
//
// The templates are the call sequences real clients send (virsh's
// handshake: AUTH_LIST, SUPPORTS_FEATURE, CONNECT_OPEN, the close-callback
// registration; list calls; host queries; a keepalive PING; CLOSE), as the
// exact frames on the wire. Each iteration concatenates one sequence,
// applies a few byte-level mutations (bit flips, length-word and header
// field rewrites, truncation, duplication), feeds it to rpc::FrameDecoder
// in random chunk sizes and dispatches every frame against a fresh
// Connection with protocol::dispatch_frame. Errors are the expected
// outcome; this looks for a crash, a sanitizer report, or a reply frame
// whose length word does not match its size or whose header does not echo
// the call's serial and procedure. Stops after ITERATIONS or SECONDS;
// prints the seed of a failing iteration.
//
// Usage: rpc-mutate [-s SEED] [-n ITERATIONS] [-t SECONDS]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "driver/protocol/dispatcher.h"
#include "driver/protocol/limits.h"
#include "driver/rpc/frame_decoder.h"
#include "driver/rpc/packet.h"
#include "driver/rpc/xdr.h"
#include "tests/fuzz/xml_fuzz.h"

namespace {

namespace protocol = amber::driver::protocol;
namespace rpc = amber::driver::rpc;
using Bytes = std::vector<uint8_t>;

using amber::fuzz::Rng;  // the XML fuzzers' generator

Bytes call(uint32_t serial, int32_t procedure, const rpc::XdrWriter& args) {
  rpc::PacketHeader header;
  header.program = protocol::kRemoteProgram;
  header.version = protocol::kRemoteVersion;
  header.procedure = procedure;
  header.serial = serial;
  return rpc::encode_frame(header, args.bytes());
}

rpc::XdrWriter feature(int32_t number) {
  rpc::XdrWriter w;
  w.write_i32(number);
  w.write_u32(0);
  return w;
}

rpc::XdrWriter open_args(const char* uri, uint32_t flags) {
  rpc::XdrWriter w;
  w.write_optional_string(std::string(uri));
  w.write_u32(flags);
  return w;
}

rpc::XdrWriter list_args(int32_t need_results, uint32_t flags) {
  rpc::XdrWriter w;
  w.write_i32(need_results);
  w.write_u32(flags);
  return w;
}

// virsh's handshake, then the calls of one command.
std::vector<Bytes> sequence(int command) {
  std::vector<Bytes> frames;
  uint32_t serial = 0;
  frames.push_back(call(serial++, 66, {}));
  frames.push_back(call(serial++, 60, feature(10)));
  frames.push_back(
      call(serial++, 1,
           open_args(command == 2 ? "qemu:///system" : "amber:///system", command == 3 ? 1 : 0)));
  frames.push_back(call(serial++, 60, feature(14)));
  frames.push_back(call(serial++, 60, feature(15)));
  frames.push_back(call(serial++, 360, {}));
  switch (command) {
    case 0:
      frames.push_back(call(serial++, 273, list_args(1, 3)));
      frames.push_back(call(serial++, 37, feature(16)));  // maxids, reusing an i32 writer
      break;
    case 1: {
      rpc::XdrWriter stats;
      stats.write_i32(0);
      stats.write_i32(-1);
      stats.write_u32(0);
      frames.push_back(call(serial++, 228, stats));
      frames.push_back(call(serial++, 6, {}));
      frames.push_back(call(serial++, 7, {}));
      break;
    }
    case 2: {
      rpc::XdrWriter caps;
      caps.write_optional_string(std::nullopt);
      caps.write_optional_string(std::string("x86_64"));
      caps.write_optional_string(std::nullopt);
      caps.write_optional_string(std::string("kvm"));
      caps.write_u32(0);
      frames.push_back(call(serial++, 342, caps));
      frames.push_back(call(serial++, 283, list_args(1, 3)));
      frames.push_back(call(serial++, 285, list_args(1, 0)));
      rpc::XdrWriter type;
      type.write_optional_string(std::string("kvm"));
      frames.push_back(call(serial++, 5, type));
      break;
    }
    default: {
      rpc::PacketHeader ping;
      ping.program = protocol::kKeepaliveProgram;
      ping.version = protocol::kKeepaliveVersion;
      ping.procedure = protocol::kKeepalivePing;
      ping.type = rpc::PacketType::kMessage;
      frames.push_back(rpc::encode_frame(ping, {}));
      frames.push_back(call(serial++, 59, {}));
      break;
    }
  }
  frames.push_back(call(serial++, 361, {}));
  frames.push_back(call(serial++, 2, {}));
  return frames;
}

void put_u32(Bytes& d, size_t at, uint32_t value) {
  for (size_t i = 0; i < 4 && at + i < d.size(); ++i) {
    d[at + i] = static_cast<uint8_t>(value >> (24 - 8 * i));
  }
}

const uint32_t kInteresting[] = {0,          1,          2,          3,         4,
                                 5,          6,          27,         28,        0x7fffffff,
                                 0x80000000, 0xffffffff, 0xfffffff0, 0x2000000, 0x2000001,
                                 0x20008086, 0x6b656570, 342,        228,       16385};

void mutate(Bytes& d, Rng& rng) {
  const uint64_t count = 1 + rng.below(4);
  for (uint64_t i = 0; i < count && !d.empty(); ++i) {
    const size_t at = rng.below(d.size());
    switch (rng.below(6)) {
      case 0:
        d[at] = static_cast<uint8_t>(d[at] ^ (1u << rng.below(8)));
        break;
      case 1:  // a word-aligned field gets an interesting value
        put_u32(d, at & ~size_t{3}, kInteresting[rng.below(std::size(kInteresting))]);
        break;
      case 2:
        d.erase(d.begin() + static_cast<long>(at),
                d.begin() + static_cast<long>(std::min(d.size(), at + 1 + rng.below(32))));
        break;
      case 3: {
        const size_t from = rng.below(d.size());
        const size_t length = std::min(d.size() - from, size_t{1 + rng.below(64)});
        Bytes copy(d.begin() + static_cast<long>(from),
                   d.begin() + static_cast<long>(from + length));
        d.insert(d.begin() + static_cast<long>(at), copy.begin(), copy.end());
        break;
      }
      case 4:
        d.resize(at);
        break;
      default:
        d.insert(d.begin() + static_cast<long>(at), static_cast<uint8_t>(rng.next()));
    }
  }
}

uint32_t get_u32(const Bytes& d, size_t at) {
  return (uint32_t{d[at]} << 24) | (uint32_t{d[at + 1]} << 16) | (uint32_t{d[at + 2]} << 8) |
         uint32_t{d[at + 3]};
}

// Runs one stream; returns an error description or an empty string.
std::string run_stream(const Bytes& stream, Rng& rng, uint64_t& replies) {
  rpc::FrameDecoder decoder;
  protocol::Connection connection;
  protocol::DaemonInfo daemon;
  daemon.vmm_binary = "/usr/bin/amber-vmm";
  connection.daemon = &daemon;
  size_t offset = 0;
  while (offset < stream.size()) {
    const size_t chunk = std::min(stream.size() - offset, size_t{1 + rng.below(300)});
    decoder.feed(std::span(stream).subspan(offset, chunk));
    offset += chunk;
    while (true) {
      auto frame = decoder.next_frame();
      if (!frame.ok()) return "";  // the connection would close: fine
      if (!frame->has_value()) break;
      const Bytes& in = **frame;
      auto reply = protocol::dispatch_frame(connection, in);
      if (!reply.ok()) return "";
      if (!reply->has_value()) continue;
      const Bytes& out = **reply;
      ++replies;
      if (out.size() < rpc::kMinFrameBytes || get_u32(out, 0) != out.size()) {
        return "reply length word does not match its size";
      }
      // A reply echoes the call's procedure and serial (PONG excepted).
      if (in.size() >= rpc::kHeaderBytes && get_u32(in, 0) == protocol::kRemoteProgram &&
          get_u32(out, 4) == protocol::kRemoteProgram) {
        if (get_u32(out, 12) != get_u32(in, 8) || get_u32(out, 20) != get_u32(in, 16)) {
          return "reply does not echo the call's procedure and serial";
        }
      }
    }
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t seed = 1, iterations = 1000000, seconds = 3;
  int opt;
  while ((opt = getopt(argc, argv, "s:n:t:")) != -1) {
    if (opt == 's')
      seed = std::strtoull(optarg, nullptr, 0);
    else if (opt == 'n')
      iterations = std::strtoull(optarg, nullptr, 0);
    else if (opt == 't')
      seconds = std::strtoull(optarg, nullptr, 0);
    else
      return 2;
  }
  // The unmutated sequences must be served completely: every call answered.
  for (int command = 0; command < 4; ++command) {
    Bytes stream;
    for (const Bytes& frame : sequence(command))
      stream.insert(stream.end(), frame.begin(), frame.end());
    Rng rng{seed | 1};
    uint64_t replies = 0;
    std::string failure = run_stream(stream, rng, replies);
    if (!failure.empty() || replies != sequence(command).size()) {
      std::fprintf(stderr, "rpc-mutate: template %d: %s (%llu replies)\n", command, failure.c_str(),
                   static_cast<unsigned long long>(replies));
      return 1;
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  uint64_t done = 0, replies = 0;
  for (; done < iterations && std::chrono::steady_clock::now() < deadline; ++done) {
    const uint64_t iteration_seed = seed * 1000003 + done;
    Rng rng{iteration_seed | 1};
    Bytes stream;
    for (const Bytes& frame : sequence(static_cast<int>(rng.below(4)))) {
      stream.insert(stream.end(), frame.begin(), frame.end());
    }
    mutate(stream, rng);
    std::string failure = run_stream(stream, rng, replies);
    if (!failure.empty()) {
      std::fprintf(stderr, "rpc-mutate: seed %llu: %s\n",
                   static_cast<unsigned long long>(iteration_seed), failure.c_str());
      return 1;
    }
  }
  std::printf("rpc-mutate: %llu iterations, %llu replies checked\n",
              static_cast<unsigned long long>(done), static_cast<unsigned long long>(replies));
  return 0;
}
