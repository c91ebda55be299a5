// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/devices/ps2_keymap.h"

#include <array>

namespace amber::hv::devices {
namespace {

struct KeyRow {
  uint16_t linux_keycode;
  uint8_t code;   // set 2 code (after the E0 prefix when extended)
  bool extended;  // E0-prefixed
};

// Linux keycodes 1..88 number the keys as the XT keyboard did (set 1),
// so each row's translation is its keycode (checked by the unit tests).
constexpr KeyRow kKeys[] = {
    {1, 0x76, false},
    {2, 0x16, false},
    {3, 0x1E, false},
    {4, 0x26, false},
    {5, 0x25, false},
    {6, 0x2E, false},
    {7, 0x36, false},
    {8, 0x3D, false},
    {9, 0x3E, false},
    {10, 0x46, false},
    {11, 0x45, false},
    {12, 0x4E, false},
    {13, 0x55, false},
    {14, 0x66, false},
    {15, 0x0D, false},
    {16, 0x15, false},
    {17, 0x1D, false},
    {18, 0x24, false},
    {19, 0x2D, false},
    {20, 0x2C, false},
    {21, 0x35, false},
    {22, 0x3C, false},
    {23, 0x43, false},
    {24, 0x44, false},
    {25, 0x4D, false},
    {26, 0x54, false},
    {27, 0x5B, false},
    {28, 0x5A, false},
    {29, 0x14, false},
    {30, 0x1C, false},
    {31, 0x1B, false},
    {32, 0x23, false},
    {33, 0x2B, false},
    {34, 0x34, false},
    {35, 0x33, false},
    {36, 0x3B, false},
    {37, 0x42, false},
    {38, 0x4B, false},
    {39, 0x4C, false},
    {40, 0x52, false},
    {41, 0x0E, false},
    {42, 0x12, false},
    {43, 0x5D, false},
    {44, 0x1A, false},
    {45, 0x22, false},
    {46, 0x21, false},
    {47, 0x2A, false},
    {48, 0x32, false},
    {49, 0x31, false},
    {50, 0x3A, false},
    {51, 0x41, false},
    {52, 0x49, false},
    {53, 0x4A, false},
    {54, 0x59, false},
    {55, 0x7C, false},
    {56, 0x11, false},
    {57, 0x29, false},
    {58, 0x58, false},
    {59, 0x05, false},
    {60, 0x06, false},
    {61, 0x04, false},
    {62, 0x0C, false},
    {63, 0x03, false},
    {64, 0x0B, false},
    {65, 0x83, false},
    {66, 0x0A, false},
    {67, 0x01, false},
    {68, 0x09, false},
    {69, 0x77, false},
    {70, 0x7E, false},
    {71, 0x6C, false},
    {72, 0x75, false},
    {73, 0x7D, false},
    {74, 0x7B, false},
    {75, 0x6B, false},
    {76, 0x73, false},
    {77, 0x74, false},
    {78, 0x79, false},
    {79, 0x69, false},
    {80, 0x72, false},
    {81, 0x7A, false},
    {82, 0x70, false},
    {83, 0x71, false},
    {86, 0x61, false},
    {87, 0x78, false},
    {88, 0x07, false},
    // Japanese keys: RO, HENKAN, KATAKANAHIRAGANA, MUHENKAN, YEN; KPEQUAL.
    {89, 0x51, false},
    {92, 0x64, false},
    {93, 0x13, false},
    {94, 0x67, false},
    {124, 0x6A, false},
    {117, 0x0F, false},
    // E0-prefixed: KPENTER, RIGHTCTRL, KPSLASH, RIGHTALT, HOME, UP, PAGEUP,
    // LEFT, RIGHT, END, DOWN, PAGEDOWN, INSERT, DELETE, MUTE, VOLUMEDOWN,
    // VOLUMEUP, POWER, LEFTMETA, RIGHTMETA, COMPOSE (menu), SLEEP, WAKEUP.
    {96, 0x5A, true},
    {97, 0x14, true},
    {98, 0x4A, true},
    {100, 0x11, true},
    {102, 0x6C, true},
    {103, 0x75, true},
    {104, 0x7D, true},
    {105, 0x6B, true},
    {106, 0x74, true},
    {107, 0x69, true},
    {108, 0x72, true},
    {109, 0x7A, true},
    {110, 0x70, true},
    {111, 0x71, true},
    {113, 0x23, true},
    {114, 0x21, true},
    {115, 0x32, true},
    {116, 0x37, true},
    {125, 0x1F, true},
    {126, 0x27, true},
    {127, 0x2F, true},
    {142, 0x3F, true},
    {143, 0x5E, true},
};

constexpr unsigned kKeySysrq = 99;  // Print Screen
constexpr unsigned kKeyPause = 119;

// The i8042's XLATE table for bytes 0x00..0x7F; 0x80..0xFF pass through
// except 0x83 (F7) and 0x84 (Alt+SysRq).
constexpr std::array<uint8_t, 128> kTranslate = {
    0xff, 0x43, 0x41, 0x3f, 0x3d, 0x3b, 0x3c, 0x58, 0x64, 0x44, 0x42, 0x40, 0x3e, 0x0f, 0x29, 0x59,
    0x65, 0x38, 0x2a, 0x70, 0x1d, 0x10, 0x02, 0x5a, 0x66, 0x71, 0x2c, 0x1f, 0x1e, 0x11, 0x03, 0x5b,
    0x67, 0x2e, 0x2d, 0x20, 0x12, 0x05, 0x04, 0x5c, 0x68, 0x39, 0x2f, 0x21, 0x14, 0x13, 0x06, 0x5d,
    0x69, 0x31, 0x30, 0x23, 0x22, 0x15, 0x07, 0x5e, 0x6a, 0x72, 0x32, 0x24, 0x16, 0x08, 0x09, 0x5f,
    0x6b, 0x33, 0x25, 0x17, 0x18, 0x0b, 0x0a, 0x60, 0x6c, 0x34, 0x35, 0x26, 0x27, 0x19, 0x0c, 0x61,
    0x6d, 0x73, 0x28, 0x74, 0x1a, 0x0d, 0x62, 0x6e, 0x3a, 0x36, 0x1c, 0x1b, 0x75, 0x2b, 0x63, 0x76,
    0x55, 0x56, 0x77, 0x78, 0x79, 0x7a, 0x0e, 0x7b, 0x7c, 0x4f, 0x7d, 0x4b, 0x47, 0x7e, 0x7f, 0x6f,
    0x52, 0x53, 0x50, 0x4c, 0x4d, 0x48, 0x01, 0x45, 0x57, 0x4e, 0x51, 0x4a, 0x37, 0x49, 0x46, 0x54,
};

const KeyRow* find_key(unsigned linux_keycode) {
  for (const KeyRow& row : kKeys)
    if (row.linux_keycode == linux_keycode) return &row;
  return nullptr;
}

void append(ScancodeSequence& out, std::initializer_list<uint8_t> bytes) {
  for (uint8_t b : bytes)
    if (out.size < kMaxScancodeBytes) out.bytes[out.size++] = b;
}

}  // namespace

bool has_scancode(unsigned linux_keycode) {
  return linux_keycode == kKeySysrq || linux_keycode == kKeyPause ||
         find_key(linux_keycode) != nullptr;
}

ScancodeSequence set2_sequence(unsigned linux_keycode, bool down) {
  ScancodeSequence out;
  if (linux_keycode == kKeyPause) {
    // Pause sends its make and break together when pressed, nothing later.
    if (down) append(out, {0xE1, 0x14, 0x77, 0xE1, 0xF0, 0x14, 0xF0, 0x77});
    return out;
  }
  if (linux_keycode == kKeySysrq) {
    // Print Screen alone: a fake left shift around E0 7C.
    if (down)
      append(out, {0xE0, 0x12, 0xE0, 0x7C});
    else
      append(out, {0xE0, 0xF0, 0x7C, 0xE0, 0xF0, 0x12});
    return out;
  }
  const KeyRow* row = find_key(linux_keycode);
  if (row == nullptr) return out;
  if (row->extended) append(out, {0xE0});
  if (!down) append(out, {0xF0});
  append(out, {row->code});
  return out;
}

uint8_t translate_set2(uint8_t byte) {
  if (byte < kTranslate.size()) return kTranslate[byte];
  if (byte == 0x83) return 0x41;
  if (byte == 0x84) return 0x54;
  return byte;
}

}  // namespace amber::hv::devices
