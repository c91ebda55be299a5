// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/vm/keycodes.h"

#include <array>
#include <string>

namespace amber::driver::vm {
namespace {

struct Key {
  uint16_t linux_keycode;
  uint16_t set1;  // 0xE0nn for an E0 key
  uint8_t usb;    // 0: none
  uint8_t win32;  // 0: none
};

constexpr Key kKeys[] = {
    {1, 0x01, 0x29, 0x1B},      // ESC
    {2, 0x02, 0x1E, 0x31},      // 1
    {3, 0x03, 0x1F, 0x32},      // 2
    {4, 0x04, 0x20, 0x33},      // 3
    {5, 0x05, 0x21, 0x34},      // 4
    {6, 0x06, 0x22, 0x35},      // 5
    {7, 0x07, 0x23, 0x36},      // 6
    {8, 0x08, 0x24, 0x37},      // 7
    {9, 0x09, 0x25, 0x38},      // 8
    {10, 0x0A, 0x26, 0x39},     // 9
    {11, 0x0B, 0x27, 0x30},     // 0
    {12, 0x0C, 0x2D, 0xBD},     // MINUS
    {13, 0x0D, 0x2E, 0xBB},     // EQUAL
    {14, 0x0E, 0x2A, 0x08},     // BACKSPACE
    {15, 0x0F, 0x2B, 0x09},     // TAB
    {16, 0x10, 0x14, 0x51},     // Q
    {17, 0x11, 0x1A, 0x57},     // W
    {18, 0x12, 0x08, 0x45},     // E
    {19, 0x13, 0x15, 0x52},     // R
    {20, 0x14, 0x17, 0x54},     // T
    {21, 0x15, 0x1C, 0x59},     // Y
    {22, 0x16, 0x18, 0x55},     // U
    {23, 0x17, 0x0C, 0x49},     // I
    {24, 0x18, 0x12, 0x4F},     // O
    {25, 0x19, 0x13, 0x50},     // P
    {26, 0x1A, 0x2F, 0xDB},     // LEFTBRACE
    {27, 0x1B, 0x30, 0xDD},     // RIGHTBRACE
    {28, 0x1C, 0x28, 0x0D},     // ENTER
    {29, 0x1D, 0xE0, 0xA2},     // LEFTCTRL
    {30, 0x1E, 0x04, 0x41},     // A
    {31, 0x1F, 0x16, 0x53},     // S
    {32, 0x20, 0x07, 0x44},     // D
    {33, 0x21, 0x09, 0x46},     // F
    {34, 0x22, 0x0A, 0x47},     // G
    {35, 0x23, 0x0B, 0x48},     // H
    {36, 0x24, 0x0D, 0x4A},     // J
    {37, 0x25, 0x0E, 0x4B},     // K
    {38, 0x26, 0x0F, 0x4C},     // L
    {39, 0x27, 0x33, 0xBA},     // SEMICOLON
    {40, 0x28, 0x34, 0xDE},     // APOSTROPHE
    {41, 0x29, 0x35, 0xC0},     // GRAVE
    {42, 0x2A, 0xE1, 0xA0},     // LEFTSHIFT
    {43, 0x2B, 0x31, 0xDC},     // BACKSLASH
    {44, 0x2C, 0x1D, 0x5A},     // Z
    {45, 0x2D, 0x1B, 0x58},     // X
    {46, 0x2E, 0x06, 0x43},     // C
    {47, 0x2F, 0x19, 0x56},     // V
    {48, 0x30, 0x05, 0x42},     // B
    {49, 0x31, 0x11, 0x4E},     // N
    {50, 0x32, 0x10, 0x4D},     // M
    {51, 0x33, 0x36, 0xBC},     // COMMA
    {52, 0x34, 0x37, 0xBE},     // DOT
    {53, 0x35, 0x38, 0xBF},     // SLASH
    {54, 0x36, 0xE5, 0xA1},     // RIGHTSHIFT
    {55, 0x37, 0x55, 0x6A},     // KPASTERISK
    {56, 0x38, 0xE2, 0xA4},     // LEFTALT
    {57, 0x39, 0x2C, 0x20},     // SPACE
    {58, 0x3A, 0x39, 0x14},     // CAPSLOCK
    {59, 0x3B, 0x3A, 0x70},     // F1
    {60, 0x3C, 0x3B, 0x71},     // F2
    {61, 0x3D, 0x3C, 0x72},     // F3
    {62, 0x3E, 0x3D, 0x73},     // F4
    {63, 0x3F, 0x3E, 0x74},     // F5
    {64, 0x40, 0x3F, 0x75},     // F6
    {65, 0x41, 0x40, 0x76},     // F7
    {66, 0x42, 0x41, 0x77},     // F8
    {67, 0x43, 0x42, 0x78},     // F9
    {68, 0x44, 0x43, 0x79},     // F10
    {69, 0x45, 0x53, 0x90},     // NUMLOCK
    {70, 0x46, 0x47, 0x91},     // SCROLLLOCK
    {71, 0x47, 0x5F, 0x67},     // KP7
    {72, 0x48, 0x60, 0x68},     // KP8
    {73, 0x49, 0x61, 0x69},     // KP9
    {74, 0x4A, 0x56, 0x6D},     // KPMINUS
    {75, 0x4B, 0x5C, 0x64},     // KP4
    {76, 0x4C, 0x5D, 0x65},     // KP5
    {77, 0x4D, 0x5E, 0x66},     // KP6
    {78, 0x4E, 0x57, 0x6B},     // KPPLUS
    {79, 0x4F, 0x59, 0x61},     // KP1
    {80, 0x50, 0x5A, 0x62},     // KP2
    {81, 0x51, 0x5B, 0x63},     // KP3
    {82, 0x52, 0x62, 0x60},     // KP0
    {83, 0x53, 0x63, 0x6E},     // KPDOT
    {85, 0x76, 0x94, 0},        // ZENKAKUHANKAKU
    {86, 0x56, 0x64, 0xE2},     // 102ND
    {87, 0x57, 0x44, 0x7A},     // F11
    {88, 0x58, 0x45, 0x7B},     // F12
    {89, 0x73, 0x87, 0xC1},     // RO
    {92, 0x79, 0x8A, 0x1C},     // HENKAN
    {93, 0x70, 0x88, 0x15},     // KATAKANAHIRAGANA
    {94, 0x7B, 0x8B, 0x1D},     // MUHENKAN
    {96, 0xE01C, 0x58, 0},      // KPENTER
    {97, 0xE01D, 0xE4, 0xA3},   // RIGHTCTRL
    {98, 0xE035, 0x54, 0x6F},   // KPSLASH
    {99, 0xE037, 0x46, 0x2C},   // SYSRQ (Print Screen)
    {100, 0xE038, 0xE6, 0xA5},  // RIGHTALT
    {102, 0xE047, 0x4A, 0x24},  // HOME
    {103, 0xE048, 0x52, 0x26},  // UP
    {104, 0xE049, 0x4B, 0x21},  // PAGEUP
    {105, 0xE04B, 0x50, 0x25},  // LEFT
    {106, 0xE04D, 0x4F, 0x27},  // RIGHT
    {107, 0xE04F, 0x4D, 0x23},  // END
    {108, 0xE050, 0x51, 0x28},  // DOWN
    {109, 0xE051, 0x4E, 0x22},  // PAGEDOWN
    {110, 0xE052, 0x49, 0x2D},  // INSERT
    {111, 0xE053, 0x4C, 0x2E},  // DELETE
    {113, 0xE020, 0x7F, 0xAD},  // MUTE
    {114, 0xE02E, 0x81, 0xAE},  // VOLUMEDOWN
    {115, 0xE030, 0x80, 0xAF},  // VOLUMEUP
    {116, 0xE05E, 0x66, 0},     // POWER
    {117, 0x59, 0x67, 0},       // KPEQUAL
    {119, 0xE046, 0x48, 0x13},  // PAUSE
    {124, 0x7D, 0x89, 0},       // YEN
    {125, 0xE05B, 0xE3, 0x5B},  // LEFTMETA
    {126, 0xE05C, 0xE7, 0x5C},  // RIGHTMETA
    {127, 0xE05D, 0x65, 0x5D},  // COMPOSE (menu)
    {142, 0xE05F, 0, 0x5F},     // SLEEP
    {143, 0xE063, 0, 0},        // WAKEUP
};

constexpr std::array<std::string_view, 10> kNames = {
    "linux", "xt", "atset1", "atset2", "atset3", "os_x", "xt_kbd", "usb", "win32", "qnum",
};

// The code of `key` in `set`; 0 when the key has none there.
unsigned code_in(const Key& key, Codeset set) {
  const bool e0 = (key.set1 & 0xFF00) == 0xE000;
  const unsigned low = key.set1 & 0xFF;
  switch (set) {
    case Codeset::kLinux:
      return key.linux_keycode;
    case Codeset::kXt:
      return !e0 && low <= 0x53 ? low : 0;
    case Codeset::kAtset1:
      return key.set1;
    case Codeset::kXtKbd:
      return e0 ? 0x100 | low : low;
    case Codeset::kQnum:
      return e0 ? 0x80 | low : low;
    case Codeset::kUsb:
      return key.usb;
    case Codeset::kWin32:
      return key.win32;
    default:
      return 0;
  }
}

}  // namespace

std::string_view codeset_name(unsigned codeset) {
  return codeset < kNames.size() ? kNames[codeset] : std::string_view();
}

Result<unsigned> to_linux_keycode(unsigned codeset, unsigned code) {
  if (codeset >= kNames.size())
    return Error(ErrorKind::kInvalidArgument, "unknown keycode set " + std::to_string(codeset));
  const auto set = static_cast<Codeset>(codeset);
  if (set == Codeset::kAtset2 || set == Codeset::kAtset3 || set == Codeset::kOsx)
    return Error(ErrorKind::kUnsupported,
                 "keycode set '" + std::string(kNames[codeset]) + "' is not supported");
  if (code != 0) {
    for (const Key& key : kKeys)
      if (code_in(key, set) == code) return key.linux_keycode;
    // Alt+SysRq's own set 1 code, and the XT 84th key.
    if (code == 0x54 &&
        (set == Codeset::kAtset1 || set == Codeset::kXtKbd || set == Codeset::kQnum))
      return 99u;
  }
  return Error(ErrorKind::kInvalidArgument, "cannot translate keycode " + std::to_string(code) +
                                                " of " + std::string(kNames[codeset]) +
                                                " codeset to a key of the PS/2 keyboard");
}

}  // namespace amber::driver::vm
