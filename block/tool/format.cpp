// SPDX-License-Identifier: GPL-2.0-or-later
// amber-img output formatting: see format.h.
#include "block/tool/format.h"

#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <ctime>

#include "common/uint128.h"

namespace amber::block::tool {
namespace {

std::string printf_string(const char* format, ...) __attribute__((format(printf, 1, 2)));
std::string printf_string(const char* format, ...) {
  char buffer[512];
  va_list args;
  va_start(args, format);
  const int n = std::vsnprintf(buffer, sizeof buffer, format, args);
  va_end(args);
  if (n < 0) return {};
  return std::string(buffer, std::min<size_t>(static_cast<size_t>(n), sizeof buffer - 1));
}

void append_json(const Json& value, int level, std::string& out) {
  const std::string indent(static_cast<size_t>(level) * 4, ' ');
  const std::string inner(static_cast<size_t>(level + 1) * 4, ' ');
  switch (value.type()) {
    case Json::value_t::null:
      out += "null";
      return;
    case Json::value_t::boolean:
      out += value.get<bool>() ? "true" : "false";
      return;
    case Json::value_t::number_integer:
      out += std::to_string(value.get<int64_t>());
      return;
    case Json::value_t::number_unsigned:
      out += std::to_string(value.get<uint64_t>());
      return;
    case Json::value_t::string:
      out += '"';
      out += json_escape(value.get_ref<const std::string&>());
      out += '"';
      return;
    case Json::value_t::array: {
      // QEMU puts the closing bracket of an empty list on its own line too.
      out += "[\n";
      size_t left = value.size();
      for (const auto& item : value) {
        out += inner;
        append_json(item, level + 1, out);
        out += --left != 0 ? ",\n" : "\n";
      }
      out += indent + "]";
      return;
    }
    case Json::value_t::object: {
      out += "{\n";
      size_t left = value.size();
      for (const auto& [key, member] : value.items()) {
        out += inner;
        out += '"';
        out += json_escape(key);
        out += "\": ";
        append_json(member, level + 1, out);
        out += --left != 0 ? ",\n" : "\n";
      }
      out += indent + "}";
      return;
    }
    default:
      // Amber's output has no floating-point or binary values.
      out += value.dump();
      return;
  }
}

// One code point of (modified) UTF-8 at `text[at]`, as QEMU's
// mod_utf8_codepoint: -1 for an invalid sequence; `at` moves past what
// was consumed.
int next_codepoint(const std::string& text, size_t& at) {
  static constexpr int kMinCodepoint[] = {0x80, 0x800, 0x10000, 0x200000, 0x4000000};
  const unsigned first = static_cast<unsigned char>(text[at++]);
  if (first < 0x80) return static_cast<int>(first);
  if (first >= 0xFE || (first & 0x40) == 0) return -1;  // impossible or stray continuation
  unsigned length = 0;
  unsigned mask = 0x80;
  for (; (first & mask) != 0; mask >>= 1) ++length;
  int codepoint = static_cast<int>(first & (mask - 1));
  for (unsigned i = 1; i < length; ++i) {
    const unsigned byte = at < text.size() ? static_cast<unsigned char>(text[at]) : 0;
    if ((byte & 0xC0) != 0x80) return -1;  // continuation missing
    ++at;
    codepoint = (codepoint << 6) | static_cast<int>(byte & 0x3F);
  }
  const bool noncharacter =
      (codepoint >= 0xFDD0 && codepoint <= 0xFDEF) || (codepoint & 0xFFFE) == 0xFFFE;
  const bool surrogate = codepoint >= 0xD800 && codepoint <= 0xDFFF;
  if (codepoint > 0x10FFFF || noncharacter || surrogate) return -1;
  // Overlong forms are invalid, except C0 80 (modified UTF-8's NUL).
  if (codepoint < kMinCodepoint[length - 2] && !(codepoint == 0 && length == 2)) return -1;
  return codepoint;
}

const char* yes_no(bool v) {
  return v ? "true" : "false";
}

// QEMU's QCryptoBlockInfoLUKS in qemu-img 7.2's QDict order; qcow2 adds
// "format": "luks" (its encrypt block), the luks driver does not.
Json luks_specific(const LuksInfo& l, bool with_format) {
  Json m = Json::object();
  m["ivgen-alg"] = l.ivgen_alg;
  if (!l.ivgen_hash_alg.empty()) m["ivgen-hash-alg"] = l.ivgen_hash_alg;
  m["hash-alg"] = l.hash_alg;
  m["cipher-alg"] = l.cipher_alg;
  m["uuid"] = l.uuid;
  if (with_format) m["format"] = "luks";
  m["cipher-mode"] = l.cipher_mode;
  Json slots = Json::array();
  for (const auto& slot : l.slots) {
    Json e = Json::object();
    e["active"] = slot.active;
    if (slot.active) e["iters"] = uint64_t{slot.iters};
    e["key-offset"] = slot.key_offset;
    if (slot.active) e["stripes"] = uint64_t{slot.stripes};
    slots.push_back(std::move(e));
  }
  m["slots"] = std::move(slots);
  m["payload-offset"] = l.payload_offset;
  m["master-key-iters"] = l.master_key_iters;
  return m;
}

// qemu's "format-specific" data for qcow2, in its QDict order (the human
// dump walks the same dictionary).
Json qcow2_specific(const Qcow2Info& q) {
  Json m = Json::object();
  const bool v3 = q.version >= 3;
  m["compat"] = v3 ? "1.1" : "0.10";
  m["compression-type"] = q.compression_type;
  if (v3) m["lazy-refcounts"] = q.lazy_refcounts;
  if (!q.bitmaps.empty()) {
    Json list = Json::array();
    for (const auto& bitmap : q.bitmaps) {
      Json flags = Json::array();
      if (bitmap.in_use) flags.push_back("in-use");
      if (bitmap.auto_enabled) flags.push_back("auto");
      Json entry = Json::object();
      entry["flags"] = std::move(flags);
      entry["name"] = bitmap.name;
      entry["granularity"] = bitmap.granularity;
      list.push_back(std::move(entry));
    }
    m["bitmaps"] = std::move(list);
  }
  m["refcount-bits"] = uint64_t{q.refcount_bits};
  if (!q.data_file.empty()) m["data-file"] = q.data_file;
  if (q.has_data_file) m["data-file-raw"] = q.data_file_raw;
  if (q.luks) m["encrypt"] = luks_specific(*q.luks, true);
  if (q.crypt_method == 1) {
    Json aes = Json::object();  // legacy AES: QEMU reports the format alone
    aes["format"] = "aes";
    m["encrypt"] = aes;
  }
  if (v3) {
    m["corrupt"] = q.corrupt;
    m["extended-l2"] = q.extended_l2;
  }
  return m;
}

// QEMU's human dump of a QObject (qapi dump_qobject / dump_qdict /
// dump_qlist): "key: value" with '-' shown as ' ', lists as "[i]:" rows,
// nested containers one level (4 spaces) deeper.
void append_human(const Json& value, int level, std::string& out);

std::string human_scalar(const Json& value) {
  switch (value.type()) {
    case Json::value_t::string:
      return value.get<std::string>();
    case Json::value_t::boolean:
      return yes_no(value.get<bool>());
    case Json::value_t::number_unsigned:
      return std::to_string(value.get<uint64_t>());
    case Json::value_t::number_integer:
      return std::to_string(value.get<int64_t>());
    default:
      return value.dump();
  }
}

void append_human_member(const std::string& key, const Json& value, int level, std::string& out) {
  const std::string indent(static_cast<size_t>(level) * 4, ' ');
  const bool container = value.is_object() || value.is_array();
  // Appended piece by piece: GCC 12's -Wrestrict misfires on
  // "literal" + std::string temporaries at -O3 (GCC bug 105329).
  out += indent;
  out += key;
  out += ':';
  if (!container) {
    out += ' ';
    out += human_scalar(value);
  }
  out += '\n';
  if (container) append_human(value, level + 1, out);
}

void append_human(const Json& value, int level, std::string& out) {
  if (value.is_array()) {
    size_t index = 0;
    for (const auto& item : value) {
      std::string label(1, '[');
      label += std::to_string(index++);
      label += ']';
      append_human_member(label, item, level, out);
    }
    return;
  }
  for (const auto& [key, member] : value.items()) {
    std::string name = key;
    for (char& c : name)
      if (c == '-') c = ' ';
    append_human_member(name, member, level, out);
  }
}

}  // namespace

std::string format_human_size(uint64_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  // The next unit starts at 1000 of the current one (QEMU divides by
  // 1000/1024 before taking the binary exponent), so a value never shows
  // four integer digits. Exact integer thresholds avoid rounding trouble.
  int unit = 0;
  Uint128 unit_bytes = 1;
  while (unit < 6 && static_cast<Uint128>(bytes) >= unit_bytes * 1000) {
    unit_bytes *= 1024;
    ++unit;
  }
  const long double divisor = static_cast<long double>(unit_bytes);
  return printf_string("%0.3g %s", static_cast<double>(static_cast<long double>(bytes) / divisor),
                       kUnits[unit]);
}

std::string json_escape(const std::string& text) {
  std::string out;
  for (size_t at = 0; at < text.size() && text[at] != '\0';) {
    int codepoint = next_codepoint(text, at);
    switch (codepoint) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (codepoint < 0) codepoint = 0xFFFD;  // the replacement character
        if (codepoint > 0xFFFF) {
          out += printf_string("\\u%04X\\u%04X", 0xD800 + ((codepoint - 0x10000) >> 10),
                               0xDC00 + ((codepoint - 0x10000) & 0x3FF));
        } else if (codepoint < 0x20 || codepoint >= 0x7F) {
          out += printf_string("\\u%04X", codepoint);
        } else {
          out += static_cast<char>(codepoint);
        }
    }
  }
  return out;
}

std::string to_pretty_json(const Json& value) {
  std::string out;
  append_json(value, 0, out);
  return out;
}

// ---- info ------------------------------------------------------------------

Json info_to_json(const ImageInfo& info) {
  // QDict hash order of ImageInfo's keys, as qemu-img 7.2 prints them.
  Json j = Json::object();
  if (!info.backing_format.empty()) j["backing-filename-format"] = info.backing_format;
  if (!info.snapshots.empty()) {
    Json list = Json::array();
    for (const auto& s : info.snapshots) {
      Json e = Json::object();
      e["icount"] = s.icount;
      e["vm-clock-nsec"] = s.vm_clock_nsec % 1000000000;
      e["name"] = s.name;
      e["date-sec"] = uint64_t{s.date_sec};
      e["date-nsec"] = uint64_t{s.date_nsec};
      e["vm-clock-sec"] = s.vm_clock_nsec / 1000000000;
      e["id"] = s.id;
      e["vm-state-size"] = s.vm_state_size;
      list.push_back(std::move(e));
    }
    j["snapshots"] = std::move(list);
  }
  j["virtual-size"] = info.virtual_size;
  j["filename"] = info.filename;
  if (info.cluster_size) j["cluster-size"] = *info.cluster_size;
  j["format"] = std::string(to_string(info.format));
  j["actual-size"] = info.actual_size;
  if (info.qcow2) {
    Json specific = Json::object();
    specific["type"] = "qcow2";
    specific["data"] = qcow2_specific(*info.qcow2);
    j["format-specific"] = std::move(specific);
  }
  if (info.luks) {
    Json specific = Json::object();
    specific["type"] = "luks";
    specific["data"] = luks_specific(*info.luks, false);
    j["format-specific"] = std::move(specific);
  }
  if (!info.backing_filename.empty()) j["full-backing-filename"] = info.full_backing_filename;
  if (info.encrypted || (info.qcow2 && info.qcow2->crypt_method != 0)) j["encrypted"] = true;
  if (!info.backing_filename.empty()) j["backing-filename"] = info.backing_filename;
  j["dirty-flag"] = info.dirty;
  return j;
}

std::string snapshot_table_header() {
  return printf_string("%-9s %-17s %7s%20s%13s%11s", "ID", "TAG", "VM SIZE", "DATE", "VM CLOCK",
                       "ICOUNT");
}

std::string snapshot_table_row(const SnapshotInfo& s) {
  char date[64] = "";
  const time_t t = static_cast<time_t>(s.date_sec);
  struct tm tm_buf;
  if (localtime_r(&t, &tm_buf) != nullptr)
    std::strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm_buf);
  const uint64_t ms = s.vm_clock_nsec / 1000000;
  const std::string clock =
      printf_string("%02" PRIu64 ":%02" PRIu64 ":%02" PRIu64 ".%03" PRIu64, ms / 3600000,
                    (ms / 60000) % 60, (ms / 1000) % 60, ms % 1000);
  const std::string icount = s.has_icount || s.icount != 0 ? std::to_string(s.icount) : "--";
  return printf_string("%-9s %-17s %7s%20s%13s%11s", s.id.c_str(), s.name.c_str(),
                       format_human_size(s.vm_state_size).c_str(), date, clock.c_str(),
                       icount.c_str());
}

std::string info_to_human(const ImageInfo& info) {
  std::string out;
  out += "image: " + info.filename + "\n";
  out += "file format: " + std::string(to_string(info.format)) + "\n";
  out += "virtual size: " + format_human_size(info.virtual_size) + " (" +
         std::to_string(info.virtual_size) + " bytes)\n";
  out += "disk size: " + format_human_size(info.actual_size) + "\n";
  if (info.encrypted || (info.qcow2 && info.qcow2->crypt_method != 0)) out += "encrypted: yes\n";
  if (info.cluster_size) out += "cluster_size: " + std::to_string(*info.cluster_size) + "\n";
  if (info.dirty) out += "cleanly shut down: no\n";
  if (!info.backing_filename.empty()) {
    out += "backing file: " + info.backing_filename;
    if (!info.full_backing_filename.empty() && info.full_backing_filename != info.backing_filename)
      out += " (actual path: " + info.full_backing_filename + ")";
    out += "\n";
  }
  if (!info.backing_format.empty()) out += "backing file format: " + info.backing_format + "\n";
  if (!info.snapshots.empty()) {
    out += "Snapshot list:\n" + snapshot_table_header() + "\n";
    for (const auto& s : info.snapshots) out += snapshot_table_row(s) + "\n";
  }
  if (info.qcow2) {
    out += "Format specific information:\n";
    append_human(qcow2_specific(*info.qcow2), 1, out);
  }
  if (info.luks) {
    out += "Format specific information:\n";
    append_human(luks_specific(*info.luks, false), 1, out);
  }
  return out;
}

// ---- check -----------------------------------------------------------------

Json check_to_json(const CheckReport& r) {
  // QDict hash order of ImageCheck; zero optional counters are left out.
  Json j = Json::object();
  j["image-end-offset"] = r.image_end_offset;
  if (r.compressed_clusters) j["compressed-clusters"] = r.compressed_clusters;
  if (r.total_clusters) j["total-clusters"] = r.total_clusters;
  if (r.corruptions) j["corruptions"] = r.corruptions;
  if (r.corruptions_fixed) j["corruptions-fixed"] = r.corruptions_fixed;
  j["check-errors"] = r.check_errors;
  if (r.leaks) j["leaks"] = r.leaks;
  if (r.leaks_fixed) j["leaks-fixed"] = r.leaks_fixed;
  if (r.allocated_clusters) j["allocated-clusters"] = r.allocated_clusters;
  j["filename"] = r.filename;
  j["format"] = r.format;
  if (r.fragmented_clusters) j["fragmented-clusters"] = r.fragmented_clusters;
  return j;
}

std::string check_to_human(const CheckReport& r) {
  std::string out;
  if (r.corruptions_fixed || r.leaks_fixed) {
    out += "The following inconsistencies were found and repaired:\n\n";
    out += "    " + std::to_string(r.leaks_fixed) + " leaked clusters\n";
    out += "    " + std::to_string(r.corruptions_fixed) + " corruptions\n\n";
    out += "Double checking the fixed image now...\n";
  }
  if (r.corruptions == 0 && r.leaks == 0 && r.check_errors == 0) {
    out += "No errors were found on the image.\n";
  } else {
    if (r.corruptions)
      out += "\n" + std::to_string(r.corruptions) +
             " errors were found on the image.\nData may be corrupted, or further writes to the "
             "image may corrupt it.\n";
    if (r.leaks)
      out += "\n" + std::to_string(r.leaks) +
             " leaked clusters were found on the image.\nThis means waste of disk space, but no "
             "harm to data.\n";
    if (r.check_errors)
      out += "\n" + std::to_string(r.check_errors) +
             " internal errors have occurred during the check.\n";
  }
  if (r.total_clusters != 0 && r.allocated_clusters != 0) {
    const double allocated = static_cast<double>(r.allocated_clusters);
    out += printf_string("%" PRIu64 "/%" PRIu64
                         " = %0.2f%% allocated, %0.2f%% fragmented, %0.2f%% "
                         "compressed clusters\n",
                         r.allocated_clusters, r.total_clusters,
                         allocated * 100.0 / static_cast<double>(r.total_clusters),
                         static_cast<double>(r.fragmented_clusters) * 100.0 / allocated,
                         static_cast<double>(r.compressed_clusters) * 100.0 / allocated);
  }
  if (r.image_end_offset) out += "Image end offset: " + std::to_string(r.image_end_offset) + "\n";
  return out;
}

int check_exit_code(const CheckReport& r) {
  if (r.check_errors) return 1;
  if (r.corruptions) return 2;
  if (r.leaks) return 3;
  return 0;
}

// ---- map -------------------------------------------------------------------

bool map_entries_mergeable(const MapEntry& current, const MapEntry& next) {
  if (current.length == 0) return false;
  if (current.zero != next.zero || current.data != next.data || current.depth != next.depth ||
      current.present != next.present)
    return false;
  if (current.offset.has_value() != next.offset.has_value()) return false;
  if (current.offset && *current.offset + current.length != *next.offset) return false;
  return current.start + current.length == next.start;
}

std::string map_entry_json(const MapEntry& e) {
  std::string out =
      printf_string("{ \"start\": %" PRIu64 ", \"length\": %" PRIu64
                    ", \"depth\": %u, \"present\": %s, "
                    "\"zero\": %s, \"data\": %s",
                    e.start, e.length, e.depth, yes_no(e.present), yes_no(e.zero), yes_no(e.data));
  if (e.offset) out += ", \"offset\": " + std::to_string(*e.offset);
  out += "}";
  return out;
}

std::string map_entry_human(const MapEntry& e) {
  // As qemu-img: only data that does not read as zeros (a metadata-
  // preallocated cluster over a host hole is data and zero).
  if (!e.data || e.zero || !e.offset) return {};
  return printf_string("%#-16" PRIx64 "%#-16" PRIx64 "%#-16" PRIx64 "%s", e.start, e.length,
                       *e.offset, e.filename.c_str());
}

}  // namespace amber::block::tool
