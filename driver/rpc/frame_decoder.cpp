// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/rpc/frame_decoder.h"

#include <string>

#include "driver/rpc/packet.h"

namespace amber::driver::rpc {

void FrameDecoder::feed(std::span<const uint8_t> bytes) {
  if (broken_) return;
  // Drop consumed bytes before growing, so the buffer stays near one frame.
  if (consumed_ > 0 && consumed_ >= buffer_.size() / 2) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(consumed_));
    consumed_ = 0;
  }
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
}

Result<std::optional<std::vector<uint8_t>>> FrameDecoder::next_frame() {
  if (broken_) return Error(ErrorKind::kCorrupt, "connection framing already failed");
  if (buffered() < kLengthWordBytes) return std::optional<std::vector<uint8_t>>();
  const uint8_t* start = buffer_.data() + consumed_;
  uint32_t length = (uint32_t{start[0]} << 24) | (uint32_t{start[1]} << 16) |
                    (uint32_t{start[2]} << 8) | uint32_t{start[3]};
  if (length < kMinFrameBytes || length > kMaxFrameBytes) {
    broken_ = true;
    return Error(ErrorKind::kCorrupt, "frame length " + std::to_string(length) + " outside [" +
                                          std::to_string(kMinFrameBytes) + ", " +
                                          std::to_string(kMaxFrameBytes) + "]");
  }
  if (buffered() < length) return std::optional<std::vector<uint8_t>>();
  std::vector<uint8_t> frame(start + kLengthWordBytes, start + length);
  consumed_ += length;
  if (consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  }
  return std::optional<std::vector<uint8_t>>(std::move(frame));
}

}  // namespace amber::driver::rpc
