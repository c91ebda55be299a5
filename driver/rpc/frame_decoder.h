// SPDX-License-Identifier: GPL-2.0-or-later
// An incremental frame decoder for one client connection.
//
// The server feeds it whatever read() returned (a partial frame, or several
// frames at once) and takes out complete frames one by one. A length word
// outside [kMinFrameBytes, kMaxFrameBytes] is a fatal error: the decoder
// stays broken and the server closes that client, as libvirtd does.
//
// Thread-safety: one decoder per connection, used by its event-loop thread.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/result.h"

namespace amber::driver::rpc {

class FrameDecoder {
 public:
  // Appends received bytes. Never fails; errors surface from next_frame().
  void feed(std::span<const uint8_t> bytes);

  // The next complete frame (length word stripped: header + body), nullopt
  // when more bytes are needed, or kCorrupt for a bad length word.
  Result<std::optional<std::vector<uint8_t>>> next_frame();

  // Bytes buffered but not yet returned as frames.
  size_t buffered() const { return buffer_.size() - consumed_; }

 private:
  std::vector<uint8_t> buffer_;
  size_t consumed_ = 0;
  bool broken_ = false;
};

}  // namespace amber::driver::rpc
