// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/display/vnc_keymap.h"

#include <linux/input-event-codes.h>

#include <cstddef>
#include <string_view>
#include <utility>

namespace amber::hv::display {
namespace {

// The printable ASCII keys of the US layout, row by row: the character
// each key gives unshifted and shifted (Latin-1 keysyms equal their
// character code).
struct KeyRow {
  std::string_view plain;
  std::string_view shifted;
  unsigned first_keys[13];
};

constexpr KeyRow kRows[] = {
    {"`1234567890-=",
     "~!@#$%^&*()_+",
     {KEY_GRAVE, KEY_1, KEY_2, KEY_3, KEY_4, KEY_5, KEY_6, KEY_7, KEY_8, KEY_9, KEY_0, KEY_MINUS,
      KEY_EQUAL}},
    {"qwertyuiop[]\\",
     "QWERTYUIOP{}|",
     {KEY_Q, KEY_W, KEY_E, KEY_R, KEY_T, KEY_Y, KEY_U, KEY_I, KEY_O, KEY_P, KEY_LEFTBRACE,
      KEY_RIGHTBRACE, KEY_BACKSLASH}},
    {"asdfghjkl;'",
     "ASDFGHJKL:\"",
     {KEY_A, KEY_S, KEY_D, KEY_F, KEY_G, KEY_H, KEY_J, KEY_K, KEY_L, KEY_SEMICOLON,
      KEY_APOSTROPHE}},
    {"zxcvbnm,./",
     "ZXCVBNM<>?",
     {KEY_Z, KEY_X, KEY_C, KEY_V, KEY_B, KEY_N, KEY_M, KEY_COMMA, KEY_DOT, KEY_SLASH}},
};

// The function, keypad and modifier keysyms (X11's keysymdef.h values).
constexpr std::pair<uint32_t, unsigned> kSpecial[] = {
    {0xFF08, KEY_BACKSPACE},  {0xFF09, KEY_TAB},      {0xFE20, KEY_TAB},    // ISO_Left_Tab
    {0xFF0D, KEY_ENTER},      {0xFF13, KEY_PAUSE},    {0xFF6B, KEY_PAUSE},  // Break
    {0xFF14, KEY_SCROLLLOCK}, {0xFF15, KEY_SYSRQ},    {0xFF61, KEY_SYSRQ},  // Print
    {0xFF1B, KEY_ESC},        {0xFFFF, KEY_DELETE},   {0xFF50, KEY_HOME},
    {0xFF51, KEY_LEFT},       {0xFF52, KEY_UP},       {0xFF53, KEY_RIGHT},
    {0xFF54, KEY_DOWN},       {0xFF55, KEY_PAGEUP},   {0xFF56, KEY_PAGEDOWN},
    {0xFF57, KEY_END},        {0xFF63, KEY_INSERT},   {0xFF67, KEY_COMPOSE},  // Menu
    {0xFF7F, KEY_NUMLOCK},    {0xFF8D, KEY_KPENTER},  {0xFFAA, KEY_KPASTERISK},
    {0xFFAB, KEY_KPPLUS},     {0xFFAC, KEY_KPDOT},    {0xFFAD, KEY_KPMINUS},
    {0xFFAE, KEY_KPDOT},      {0xFFAF, KEY_KPSLASH},  {0xFFBD, KEY_KPEQUAL},
    {0xFF95, KEY_KP7},        {0xFF96, KEY_KP4},      {0xFF97, KEY_KP8},  // KP_Home..
    {0xFF98, KEY_KP6},        {0xFF99, KEY_KP2},      {0xFF9A, KEY_KP9},
    {0xFF9B, KEY_KP3},        {0xFF9C, KEY_KP1},      {0xFF9D, KEY_KP5},
    {0xFF9E, KEY_KP0},        {0xFF9F, KEY_KPDOT},    {0xFFE1, KEY_LEFTSHIFT},
    {0xFFE2, KEY_RIGHTSHIFT}, {0xFFE3, KEY_LEFTCTRL}, {0xFFE4, KEY_RIGHTCTRL},
    {0xFFE5, KEY_CAPSLOCK},   {0xFFE7, KEY_LEFTMETA}, {0xFFE8, KEY_RIGHTMETA},
    {0xFFE9, KEY_LEFTALT},    {0xFFEA, KEY_RIGHTALT}, {0xFFEB, KEY_LEFTMETA},
    {0xFFEC, KEY_RIGHTMETA},  {0xFE03, KEY_RIGHTALT},  // ISO_Level3_Shift (AltGr)
};

// KP_0..KP_9 (0xFFB0..0xFFB9).
constexpr unsigned kKeypadDigits[] = {KEY_KP0, KEY_KP1, KEY_KP2, KEY_KP3, KEY_KP4,
                                      KEY_KP5, KEY_KP6, KEY_KP7, KEY_KP8, KEY_KP9};

}  // namespace

unsigned keysym_to_keycode(uint32_t keysym) {
  if (keysym == ' ') return KEY_SPACE;
  if (keysym > ' ' && keysym < 0x7F) {
    const char c = static_cast<char>(keysym);  // printable ASCII, checked above
    for (const KeyRow& row : kRows) {
      size_t at = row.plain.find(c);
      if (at == std::string_view::npos) at = row.shifted.find(c);
      if (at != std::string_view::npos) return row.first_keys[at];
    }
    return 0;
  }
  if (keysym >= 0xFFBE && keysym <= 0xFFC7)  // F1..F10
    return KEY_F1 + (keysym - 0xFFBE);
  if (keysym == 0xFFC8) return KEY_F11;
  if (keysym == 0xFFC9) return KEY_F12;
  if (keysym >= 0xFFB0 && keysym <= 0xFFB9) return kKeypadDigits[keysym - 0xFFB0];
  for (const auto& [sym, key] : kSpecial)
    if (sym == keysym) return key;
  return 0;
}

}  // namespace amber::hv::display
