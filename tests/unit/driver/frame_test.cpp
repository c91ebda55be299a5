// SPDX-License-Identifier: GPL-2.0-or-later
// Unit tests for driver/rpc/packet and frame_decoder: header round trip,
// partial reads, several frames in one read, and out-of-range lengths.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "driver/rpc/frame_decoder.h"
#include "driver/rpc/packet.h"

namespace amber::driver::rpc {
namespace {

PacketHeader sample_header(uint32_t serial) {
  PacketHeader header;
  header.program = 0x20008086;
  header.version = 1;
  header.procedure = 66;
  header.type = PacketType::kCall;
  header.serial = serial;
  header.status = PacketStatus::kOk;
  return header;
}

TEST(Packet, HeaderRoundTrip) {
  std::vector<uint8_t> body = {0, 0, 0, 7};
  auto frame = encode_frame(sample_header(9), body);
  ASSERT_EQ(frame.size(), kMinFrameBytes + 4);
  EXPECT_EQ(frame[3], kMinFrameBytes + 4);
  XdrReader reader{std::span(frame).subspan(kLengthWordBytes)};
  auto header = decode_header(reader);
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->program, 0x20008086u);
  EXPECT_EQ(header->procedure, 66);
  EXPECT_EQ(header->serial, 9u);
  EXPECT_EQ(header->type, PacketType::kCall);
  EXPECT_EQ(*reader.read_u32("body"), 7u);
}

TEST(Packet, UnknownTypeOrStatusFails) {
  XdrWriter writer;
  auto header = sample_header(1);
  encode_header(writer, header);
  auto bytes = std::move(writer).take();
  bytes[15] = 9;  // type
  XdrReader bad_type(bytes);
  EXPECT_FALSE(decode_header(bad_type).ok());
  bytes[15] = 0;
  bytes[23] = 7;  // status
  XdrReader bad_status(bytes);
  auto decoded = decode_header(bad_status);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().message().find("status 7"), std::string::npos);
}

TEST(Packet, TruncatedHeaderFails) {
  std::vector<uint8_t> bytes(20, 0);
  XdrReader reader(bytes);
  EXPECT_FALSE(decode_header(reader).ok());
}

TEST(FrameDecoder, ByteByByteFeeding) {
  auto frame = encode_frame(sample_header(1), std::vector<uint8_t>{1, 2, 3, 4});
  FrameDecoder decoder;
  for (size_t i = 0; i + 1 < frame.size(); ++i) {
    decoder.feed(std::span(frame).subspan(i, 1));
    auto next = decoder.next_frame();
    ASSERT_TRUE(next.ok());
    EXPECT_FALSE(next->has_value());
  }
  decoder.feed(std::span(frame).last(1));
  auto next = decoder.next_frame();
  ASSERT_TRUE(next.ok());
  ASSERT_TRUE(next->has_value());
  EXPECT_EQ((*next)->size(), frame.size() - kLengthWordBytes);
  EXPECT_EQ(decoder.buffered(), 0u);
}

TEST(FrameDecoder, SeveralFramesInOneRead) {
  std::vector<uint8_t> stream;
  for (uint32_t serial = 1; serial <= 3; ++serial) {
    auto frame = encode_frame(sample_header(serial), {});
    stream.insert(stream.end(), frame.begin(), frame.end());
  }
  auto partial = encode_frame(sample_header(4), {});
  stream.insert(stream.end(), partial.begin(), partial.begin() + 10);
  FrameDecoder decoder;
  decoder.feed(stream);
  for (uint32_t serial = 1; serial <= 3; ++serial) {
    auto next = decoder.next_frame();
    ASSERT_TRUE(next.ok());
    ASSERT_TRUE(next->has_value());
    XdrReader reader(**next);
    EXPECT_EQ(decode_header(reader)->serial, serial);
  }
  auto none = decoder.next_frame();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_EQ(decoder.buffered(), 10u);
  decoder.feed(std::span(partial).subspan(10));
  auto last = decoder.next_frame();
  ASSERT_TRUE(last.ok() && last->has_value());
}

TEST(FrameDecoder, UndersizedLengthBreaksTheConnection) {
  FrameDecoder decoder;
  std::vector<uint8_t> bytes = {0, 0, 0, 27};
  decoder.feed(bytes);
  auto next = decoder.next_frame();
  ASSERT_FALSE(next.ok());
  EXPECT_NE(next.error().message().find("frame length 27"), std::string::npos);
  // Stays broken: later good frames are not accepted.
  auto good = encode_frame(sample_header(1), {});
  decoder.feed(good);
  EXPECT_FALSE(decoder.next_frame().ok());
}

TEST(FrameDecoder, OversizedLengthFailsWithoutWaitingForTheBody) {
  FrameDecoder decoder;
  uint32_t length = kMaxFrameBytes + 1;
  std::vector<uint8_t> bytes = {static_cast<uint8_t>(length >> 24),
                                static_cast<uint8_t>(length >> 16),
                                static_cast<uint8_t>(length >> 8), static_cast<uint8_t>(length)};
  decoder.feed(bytes);
  EXPECT_FALSE(decoder.next_frame().ok());
}

TEST(FrameDecoder, MaximumLengthIsAccepted) {
  FrameDecoder decoder;
  uint32_t length = kMaxFrameBytes;
  std::vector<uint8_t> bytes = {static_cast<uint8_t>(length >> 24),
                                static_cast<uint8_t>(length >> 16),
                                static_cast<uint8_t>(length >> 8), static_cast<uint8_t>(length)};
  decoder.feed(bytes);
  auto next = decoder.next_frame();
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->has_value());  // waits for the rest
}

TEST(FrameDecoder, GarbageIsRejectedOrBuffered) {
  std::vector<uint8_t> garbage = {'G', 'E', 'T', ' ', '/', ' ', 'H', 'T', 'T', 'P'};
  FrameDecoder decoder;
  decoder.feed(garbage);
  EXPECT_FALSE(decoder.next_frame().ok());  // 0x47455420 > 32 MiB
}

}  // namespace
}  // namespace amber::driver::rpc
