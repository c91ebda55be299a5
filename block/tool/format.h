// SPDX-License-Identifier: GPL-2.0-or-later
// amber-img output formatting: qemu-img 7.2's human sizes, its JSON style
// (QEMU's pretty printer: 4-space indentation, keys in QDict hash order),
// and the text of `info`, `check` and `map`. Kept apart from the commands
// so the unit tests can compare against golden strings.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "block/check.h"
#include "block/image.h"

namespace amber::block::tool {

// "512 B", "196 KiB", "1.5 GiB", "0.977 MiB" (QEMU's size_to_str: three
// significant digits, next unit from 1000 of the previous one).
std::string format_human_size(uint64_t bytes);

// JSON values are nlohmann's ordered_json: members print in insertion
// order, which the builders below choose to match QEMU's QDict hash order.
// Unsigned values stay uint64 (exact up to 2^64-1).
using Json = nlohmann::ordered_json;

// QEMU's pretty JSON (qobject/json-writer.c: 4-space indentation, "key":
// value, a closing bracket on its own line even when empty; no trailing
// newline).
std::string to_pretty_json(const Json& value);
// QEMU's string escaping: \" \\ \b \f \n \r \t, other code points below
// 0x20 or from 0x7F as \uXXXX (upper-case hex, surrogate pairs past the
// BMP), invalid UTF-8 as \uFFFD.
std::string json_escape(const std::string& text);

// ---- info ----------------------------------------------------------------
Json info_to_json(const ImageInfo& info);
std::string info_to_human(const ImageInfo& info);
// One snapshot table row / header line, as `info` and `snapshot -l` print.
std::string snapshot_table_header();
std::string snapshot_table_row(const SnapshotInfo& snapshot);

// ---- check ---------------------------------------------------------------
Json check_to_json(const CheckReport& report);
std::string check_to_human(const CheckReport& report);
// qemu-img's exit status for a finished check: 0, 2 (corruptions), 3
// (leaks only), 1 (check errors).
int check_exit_code(const CheckReport& report);

// ---- map -----------------------------------------------------------------
struct MapEntry {
  uint64_t start = 0;
  uint64_t length = 0;
  unsigned depth = 0;
  bool present = false;
  bool zero = false;
  bool data = false;
  std::optional<uint64_t> offset;
  std::string filename;
};

// Whether `next` continues `current` (same state, contiguous host offset).
bool map_entries_mergeable(const MapEntry& current, const MapEntry& next);
// `{ "start": 0, ... "offset": 327680}` (no separators).
std::string map_entry_json(const MapEntry& entry);
// "0x10000         0x10000         0x50000         a.qcow2" row; empty when
// the entry has no data or reads as zeros.
std::string map_entry_human(const MapEntry& entry);
inline constexpr const char* kMapHumanHeader =
    "Offset          Length          Mapped to       File\n";

}  // namespace amber::block::tool
