// The control protocol's command table: one JSON object per line in, one
// reply line out ({"return":...} or {"error":{"class","desc"}}), with the
// request's "id" echoed when present. The VM is reached through
// ControlTarget so the table can be tested without a VM.
//
// Thread-safety: handle_line() is called by the control thread only; the
// target's methods must be safe from that thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace amber::hv::control {

struct BlockOpCounters {
  uint64_t operations = 0;
  uint64_t bytes = 0;
  uint64_t total_time_ns = 0;
  uint64_t failed = 0;
};

struct BlockInfo {
  std::string device;
  std::string path;
  unsigned slot = 0;
  BlockOpCounters read, write, flush, discard;
};

class ControlTarget {
 public:
  virtual ~ControlTarget() = default;
  virtual std::string name() = 0;
  virtual std::string status() = 0;  // running | paused | shutdown
  virtual void pause() = 0;
  virtual void resume() = 0;
  virtual void reset() = 0;
  virtual void quit() = 0;
  virtual std::vector<BlockInfo> query_block() = 0;
};

// Returns the reply line (without the trailing newline).
std::string handle_line(std::string_view line, ControlTarget& target);

}  // namespace amber::hv::control
