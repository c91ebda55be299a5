// SPDX-License-Identifier: GPL-2.0-or-later
// The i8042 with its PS/2 keyboard and mouse, through synthetic port I/O:
// controller and device command sequences, XLATE on and off, the
// interrupt lines, mouse packets, bounded queues and hostile byte streams.
// Single-threaded.
#include "hv/devices/i8042.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "hv/devices/ps2_keymap.h"

namespace amber::hv::devices {
namespace {

constexpr unsigned kKeyA = 30, kKeyRightCtrl = 97, kKeyUp = 103, kKeySysrq = 99, kKeyPause = 119;

struct Harness {
  int resets = 0;
  std::vector<bool> kbd_edges, aux_edges;  // every level change
  bool kbd = false, aux = false;
  I8042 dev{[this] { ++resets; },
            [this](bool level) {
              kbd = level;
              kbd_edges.push_back(level);
            },
            [this](bool level) {
              aux = level;
              aux_edges.push_back(level);
            }};

  uint8_t status() {
    uint8_t v = 0;
    dev.io_read(4, {&v, 1});
    return v;
  }
  uint8_t data() {
    uint8_t v = 0;
    dev.io_read(0, {&v, 1});
    return v;
  }
  void command(uint8_t v) { dev.io_write(4, {&v, 1}); }
  void write(uint8_t v) { dev.io_write(0, {&v, 1}); }
  void command(uint8_t v, uint8_t arg) {
    command(v);
    write(arg);
  }
  // Everything in the output buffer, in order.
  std::vector<uint8_t> drain(size_t limit = 100000) {
    std::vector<uint8_t> out;
    while ((status() & 0x01) != 0 && out.size() < limit) out.push_back(data());
    return out;
  }
  void mouse(uint8_t v) { command(0xD4, v); }
};

using Bytes = std::vector<uint8_t>;

TEST(I8042, PowerOnStateAndSelfTests) {
  Harness h;
  EXPECT_EQ(h.status() & 0x01, 0);
  h.command(0x20);
  EXPECT_EQ(h.drain(), Bytes{0x03});  // QEMU's: both interrupts, no XLATE
  h.command(0xAA);
  EXPECT_EQ(h.drain(), Bytes{0x55});
  h.command(0xAB);
  EXPECT_EQ(h.drain(), Bytes{0x00});
  h.command(0xA9);
  EXPECT_EQ(h.drain(), Bytes{0x00});
  h.command(0xD0);
  EXPECT_EQ(h.drain(), Bytes{0xCF});
  h.command(0x60, 0x61);
  h.command(0x20);
  EXPECT_EQ(h.drain(), Bytes{0x61});
  EXPECT_EQ(h.resets, 0);
}

TEST(I8042, ResetThroughPulseAndOutputPort) {
  Harness h;
  h.command(0xFE);
  EXPECT_EQ(h.resets, 1);
  h.command(0xFF);  // pulse nothing
  EXPECT_EQ(h.resets, 1);
  h.command(0xD1, 0x03);  // reset line high: no reset
  EXPECT_EQ(h.resets, 1);
  h.command(0xD1, 0x02);
  EXPECT_EQ(h.resets, 2);
}

TEST(I8042, KeyboardCommands) {
  Harness h;
  h.command(0x60, 0x00);  // no interrupts, no translation
  h.write(0xFF);
  EXPECT_EQ(h.drain(), (Bytes{0xFA, 0xAA}));
  h.write(0xF2);
  EXPECT_EQ(h.drain(), (Bytes{0xFA, 0xAB, 0x83}));
  h.write(0xEE);
  EXPECT_EQ(h.drain(), Bytes{0xEE});
  h.write(0xED);
  h.write(0x07);
  EXPECT_EQ(h.drain(), (Bytes{0xFA, 0xFA}));
  h.write(0xF3);
  h.write(0x20);
  EXPECT_EQ(h.drain(), (Bytes{0xFA, 0xFA}));
  h.write(0xF0);
  h.write(0x00);
  EXPECT_EQ(h.drain(), (Bytes{0xFA, 0xFA, 0x02}));
  h.write(0xF0);
  h.write(0x01);
  h.write(0xF0);
  h.write(0x00);
  EXPECT_EQ(h.drain(), (Bytes{0xFA, 0xFA, 0xFA, 0xFA, 0x01}));
  h.write(0xF0);
  h.write(0x07);  // no such set
  EXPECT_EQ(h.drain(), (Bytes{0xFA, 0xFE}));
  h.write(0x42);  // not a command
  EXPECT_EQ(h.drain(), Bytes{0xFE});
  h.write(0xF5);  // defaults (set 2) and scanning off
  EXPECT_EQ(h.drain(), Bytes{0xFA});
  EXPECT_FALSE(h.dev.key_event(kKeyA, true));
  EXPECT_EQ(h.drain(), Bytes{});
  h.write(0xF4);
  EXPECT_EQ(h.drain(), Bytes{0xFA});
  EXPECT_TRUE(h.dev.key_event(kKeyA, true));
  EXPECT_EQ(h.drain(), Bytes{0x1C});  // set 2 again after F5
  // Translated: identify ends in 41, the set reads as 41 (set 2's code).
  h.command(0x60, 0x40);
  h.write(0xF2);
  EXPECT_EQ(h.drain(), (Bytes{0xFA, 0xAB, 0x41}));
  h.write(0xF0);
  h.write(0x00);
  EXPECT_EQ(h.drain(), (Bytes{0xFA, 0xFA, 0x41}));
}

TEST(I8042, ScancodesSet2AndTranslated) {
  Harness h;
  h.command(0x60, 0x00);
  h.dev.key_event(kKeyA, true);
  h.dev.key_event(kKeyA, false);
  EXPECT_EQ(h.drain(), (Bytes{0x1C, 0xF0, 0x1C}));
  h.dev.key_event(kKeyRightCtrl, true);
  h.dev.key_event(kKeyRightCtrl, false);
  EXPECT_EQ(h.drain(), (Bytes{0xE0, 0x14, 0xE0, 0xF0, 0x14}));
  h.dev.key_event(kKeyPause, true);
  EXPECT_FALSE(h.dev.key_event(kKeyPause, false));  // Pause has no break
  EXPECT_EQ(h.drain(), (Bytes{0xE1, 0x14, 0x77, 0xE1, 0xF0, 0x14, 0xF0, 0x77}));
  h.dev.key_event(kKeySysrq, true);
  h.dev.key_event(kKeySysrq, false);
  EXPECT_EQ(h.drain(), (Bytes{0xE0, 0x12, 0xE0, 0x7C, 0xE0, 0xF0, 0x7C, 0xE0, 0xF0, 0x12}));

  h.command(0x60, 0x40);  // XLATE
  h.dev.key_event(kKeyA, true);
  h.dev.key_event(kKeyA, false);
  EXPECT_EQ(h.drain(), (Bytes{0x1E, 0x9E}));
  h.dev.key_event(kKeyUp, true);
  h.dev.key_event(kKeyUp, false);
  EXPECT_EQ(h.drain(), (Bytes{0xE0, 0x48, 0xE0, 0xC8}));
  h.dev.key_event(kKeyPause, true);
  EXPECT_EQ(h.drain(), (Bytes{0xE1, 0x1D, 0x45, 0xE1, 0x9D, 0xC5}));
  h.dev.key_event(kKeySysrq, true);
  h.dev.key_event(kKeySysrq, false);
  EXPECT_EQ(h.drain(), (Bytes{0xE0, 0x2A, 0xE0, 0x37, 0xE0, 0xB7, 0xE0, 0xAA}));

  // A keyboard switched to set 1 sends set 1 itself.
  h.command(0x60, 0x00);
  h.write(0xF0);
  h.write(0x01);
  h.drain();
  h.dev.key_event(kKeyA, true);
  h.dev.key_event(kKeyA, false);
  EXPECT_EQ(h.drain(), (Bytes{0x1E, 0x9E}));
  EXPECT_FALSE(h.dev.key_event(84, true));  // no such key
  EXPECT_FALSE(h.dev.key_event(100000, true));
}

// Linux keycodes 1..88 are the XT (set 1) codes: the set 2 table must
// translate back to them, which checks every row of the main block.
TEST(I8042, KeymapTranslatesToLinuxKeycodes) {
  for (unsigned key = 1; key <= 88; ++key) {
    if (key == 84 || key == 85) continue;  // no key; Zenkaku/Hankaku is not on the table
    const ScancodeSequence s = set2_sequence(key, true);
    ASSERT_EQ(s.size, 1u) << key;
    EXPECT_EQ(translate_set2(s.bytes[0]), key) << key;
    const ScancodeSequence b = set2_sequence(key, false);
    ASSERT_EQ(b.size, 2u) << key;
    EXPECT_EQ(b.bytes[0], 0xF0);
  }
  // The E0 block: Linux keycode -> the set 1 code after E0.
  const std::pair<unsigned, uint8_t> e0[] = {
      {96, 0x1C},  {97, 0x1D},  {98, 0x35},  {100, 0x38}, {102, 0x47}, {103, 0x48},
      {104, 0x49}, {105, 0x4B}, {106, 0x4D}, {107, 0x4F}, {108, 0x50}, {109, 0x51},
      {110, 0x52}, {111, 0x53}, {125, 0x5B}, {126, 0x5C}, {127, 0x5D}, {113, 0x20},
      {114, 0x2E}, {115, 0x30}, {116, 0x5E}, {142, 0x5F}, {143, 0x63}};
  for (auto [key, code] : e0) {
    const ScancodeSequence s = set2_sequence(key, true);
    ASSERT_EQ(s.size, 2u) << key;
    EXPECT_EQ(s.bytes[0], 0xE0);
    EXPECT_EQ(translate_set2(s.bytes[1]), code) << key;
  }
}

TEST(I8042, KeyboardInterruptFollowsTheBuffer) {
  Harness h;
  h.command(0x60, 0x41);  // kbd interrupt, XLATE
  h.kbd_edges.clear();
  h.dev.key_event(kKeyA, true);
  h.dev.key_event(kKeyA, false);
  EXPECT_TRUE(h.kbd);
  EXPECT_FALSE(h.aux);
  EXPECT_EQ(h.status() & 0x21, 0x01);
  EXPECT_EQ(h.data(), 0x1E);
  EXPECT_TRUE(h.kbd);  // the next byte raised it again ...
  EXPECT_EQ(h.data(), 0x9E);
  EXPECT_FALSE(h.kbd);
  // ... after a drop in between: one edge per byte.
  EXPECT_EQ(h.kbd_edges, (std::vector<bool>{true, false, true, false}));
  EXPECT_EQ(h.data(), 0x9E);  // an empty buffer repeats the last byte
  // Interrupt disabled: data arrives, the line stays low.
  h.command(0x60, 0x40);
  h.dev.key_event(kKeyA, true);
  EXPECT_FALSE(h.kbd);
  EXPECT_EQ(h.drain(), Bytes{0x1E});
  // Keyboard port disabled (0xAD): keys wait until 0xAE.
  h.command(0x60, 0x41);
  h.command(0xAD);
  h.dev.key_event(kKeyA, true);
  EXPECT_EQ(h.status() & 0x01, 0);
  EXPECT_FALSE(h.kbd);
  h.command(0xAE);
  EXPECT_TRUE(h.kbd);
  EXPECT_EQ(h.drain(), Bytes{0x1E});
}

TEST(I8042, KeyboardQueueIsBounded) {
  Harness h;
  h.command(0x60, 0x40);
  int sent = 0;
  for (int i = 0; i < 100; ++i) sent += h.dev.key_event(kKeyRightCtrl, (i & 1) == 0);
  // E0 1D / E0 9D: 2 bytes each; the buffer byte plus 16 queued.
  const Bytes out = h.drain();
  EXPECT_EQ(out.size(), size_t(sent) * 2);
  EXPECT_LE(out.size(), 18u);
  EXPECT_EQ(out[0], 0xE0);
  // Whole sequences only: every E0 is followed by its code.
  for (size_t i = 0; i < out.size(); i += 2) EXPECT_EQ(out[i], 0xE0);
  EXPECT_TRUE(h.dev.key_event(kKeyA, true));  // room again
}

TEST(I8042, MouseCommandsAndPackets) {
  Harness h;
  h.command(0x60, 0x02);  // aux interrupt only
  h.command(0xA8);
  h.mouse(0xFF);
  EXPECT_TRUE(h.aux);
  EXPECT_EQ(h.status() & 0x21, 0x21);  // AUXB with OBF
  EXPECT_EQ(h.drain(), (Bytes{0xFA, 0xAA, 0x00}));
  EXPECT_FALSE(h.aux);
  h.mouse(0xF2);
  EXPECT_EQ(h.drain(), (Bytes{0xFA, 0x00}));
  h.mouse(0xE9);
  EXPECT_EQ(h.drain(), (Bytes{0xFA, 0x00, 0x02, 100}));
  h.mouse(0xE8);
  h.mouse(0x03);
  h.mouse(0xE7);
  h.mouse(0xE9);
  EXPECT_EQ(h.drain(), (Bytes{0xFA, 0xFA, 0xFA, 0xFA, 0x10, 0x03, 100}));
  h.mouse(0xE6);
  h.mouse(0xF6);
  h.mouse(0xE9);
  EXPECT_EQ(h.drain(), (Bytes{0xFA, 0xFA, 0xFA, 0x00, 0x02, 100}));
  // Reporting off: motion is dropped.
  h.dev.mouse_event(5, 5, 0, 0);
  EXPECT_EQ(h.drain(), Bytes{});
  h.mouse(0xF4);
  EXPECT_EQ(h.drain(), Bytes{0xFA});
  h.dev.mouse_event(5, -3, 0, kMouseLeft);  // right 5, up 3
  EXPECT_EQ(h.drain(), (Bytes{0x09, 0x05, 0x03}));
  h.dev.mouse_event(-2, 4, 0, 0);
  EXPECT_EQ(h.drain(), (Bytes{0x38, 0xFE, 0xFC}));  // sign bits of x and y
  h.dev.mouse_event(0, 0, 0, kMouseRight);          // a button alone
  EXPECT_EQ(h.drain(), (Bytes{0x0A, 0x00, 0x00}));
  h.dev.mouse_event(300, 0, 0, 0);  // split into packets of at most 127
  EXPECT_EQ(h.drain(), (Bytes{0x08, 127, 0, 0x08, 127, 0, 0x08, 46, 0}));
  // Remote mode: nothing streams; 0xEB reads what piled up.
  h.mouse(0xF0);
  h.dev.mouse_event(7, 0, 0, 0);
  EXPECT_EQ(h.drain(), Bytes{0xFA});
  h.mouse(0xEB);
  EXPECT_EQ(h.drain(), (Bytes{0xFA, 0x08, 0x07, 0x00}));
  h.mouse(0xEA);
  EXPECT_EQ(h.drain(), Bytes{0xFA});
  // Wrap mode echoes until 0xEC.
  h.mouse(0xEE);
  h.mouse(0x12);
  h.mouse(0xEC);
  EXPECT_EQ(h.drain(), (Bytes{0xFA, 0x12, 0xFA}));
}

TEST(I8042, IntelliMouseWheel) {
  Harness h;
  for (uint8_t rate : {200, 100, 80}) {
    h.mouse(0xF3);
    h.mouse(rate);
  }
  h.mouse(0xF2);
  const Bytes knock = h.drain();
  ASSERT_EQ(knock.size(), 8u);
  EXPECT_EQ(knock.back(), 0x03);
  h.mouse(0xF4);
  h.drain();
  h.dev.mouse_event(1, 0, -2, 0);
  EXPECT_EQ(h.drain(), (Bytes{0x08, 0x01, 0x00, 0xFE}));
  // The Explorer knock (200,200,80) gives type 4; a reset forgets both.
  for (uint8_t rate : {200, 200, 80}) {
    h.mouse(0xF3);
    h.mouse(rate);
  }
  h.mouse(0xF2);
  EXPECT_EQ(h.drain().back(), 0x04);
  h.mouse(0xFF);
  EXPECT_EQ(h.drain(), (Bytes{0xFA, 0xAA, 0x00}));
}

TEST(I8042, AuxPortDisableHoldsMouseData) {
  Harness h;
  h.command(0x60, 0x03);
  h.mouse(0xF4);  // writing to the mouse enables its port
  EXPECT_EQ(h.drain(), Bytes{0xFA});
  h.command(0xA7);
  h.dev.mouse_event(1, 1, 0, 0);
  EXPECT_EQ(h.status() & 0x01, 0);
  EXPECT_FALSE(h.aux);
  // Keyboard bytes still get through, ahead of the held mouse packet.
  h.dev.key_event(kKeyA, true);
  EXPECT_TRUE(h.kbd);
  EXPECT_EQ(h.drain(), Bytes{0x1C});
  h.command(0xA8);
  EXPECT_TRUE(h.aux);
  EXPECT_EQ(h.drain(), (Bytes{0x28, 0x01, 0xFF}));  // down 1: y sign
  // D2 / D3: bytes as if from the keyboard / the mouse.
  h.command(0xD2, 0x55);
  EXPECT_TRUE(h.kbd);
  EXPECT_EQ(h.status() & 0x20, 0);
  EXPECT_EQ(h.data(), 0x55);
  h.command(0xD3, 0x66);
  EXPECT_TRUE(h.aux);
  EXPECT_EQ(h.status() & 0x21, 0x21);
  EXPECT_EQ(h.data(), 0x66);
}

TEST(I8042, MouseQueueIsBounded) {
  Harness h;
  h.mouse(0xF4);
  h.drain();
  // The guest does not read: at most 256 bytes wait, the rest of the
  // motion is kept and sent once there is room, none of it lost.
  for (int i = 0; i < 1000; ++i) h.dev.mouse_event(1, 0, 0, 0);
  const Bytes out = h.drain();
  // 85 one-count packets filled the queue; the 915 held back went as 8
  // packets of at most 127 once the guest read.
  EXPECT_EQ(out.size(), 3u * (85 + 8));
  int dx = 0;
  for (size_t i = 0; i + 2 < out.size(); i += 3) {
    EXPECT_EQ(out[i], 0x08) << i;
    dx += out[i + 1];
  }
  EXPECT_EQ(dx, 1000);
  h.dev.mouse_event(INT32_MAX, INT32_MIN, INT32_MAX, 0xFFFFFFFF);  // no overflow, no hang
  const Bytes big = h.drain();
  EXPECT_EQ(big.size() % 3, 0u);
  EXPECT_LE(big.size(), 3u * ((1 << 16) / 127 + 1));
}

TEST(I8042, ResetStateRestoresPowerOn) {
  Harness h;
  h.command(0x60, 0x43);
  h.mouse(0xF4);
  h.dev.key_event(kKeyA, true);
  h.dev.reset_state();
  EXPECT_EQ(h.status() & 0x01, 0);
  EXPECT_FALSE(h.kbd);
  EXPECT_FALSE(h.aux);
  h.command(0x20);
  EXPECT_EQ(h.drain(), Bytes{0x03});
  h.dev.mouse_event(1, 1, 0, 0);  // reporting is off again
  EXPECT_EQ(h.drain(), Bytes{});
}

// Random writes to both ports mixed with input: no crash, no unbounded
// growth, and the controller still answers afterwards.
TEST(I8042, HostileByteStreams) {
  Harness h;
  std::mt19937 rng(12042);
  size_t max_drained = 0;
  for (int i = 0; i < 200000; ++i) {
    const uint32_t r = rng();
    uint8_t v = static_cast<uint8_t>(r >> 8);
    switch (r % 8) {
      case 0:
      case 1:
        if ((v & 0xF1) == 0xF0 || v == 0xFE) v = 0xFF;  // skip resets: counted below
        if (v == 0xD1) v = 0xD2;
        h.command(v);
        break;
      case 2:
      case 3:
        h.write(v);
        break;
      case 4:
        h.data();
        break;
      case 5:
        h.dev.key_event(v, (r & 0x10000) != 0);
        break;
      case 6:
        h.dev.mouse_event(static_cast<int8_t>(v), static_cast<int8_t>(r >> 16), r & 3, r >> 24);
        break;
      default: {
        const Bytes out = h.drain();
        max_drained = std::max(max_drained, out.size());
        break;
      }
    }
  }
  EXPECT_LE(max_drained, 10000u);
  while (!h.drain().empty()) {
  }
  h.command(0xAA);
  EXPECT_EQ(h.drain(), Bytes{0x55});
  EXPECT_EQ(h.resets, 0);
}

}  // namespace
}  // namespace amber::hv::devices
