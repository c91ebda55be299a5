// amber-img output formatting: see format.h.
#include "block/tool/format.h"

#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <ctime>

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
  switch (value.kind) {
    case Json::Kind::kBool: out += value.boolean ? "true" : "false"; return;
    case Json::Kind::kInt: out += std::to_string(value.number); return;
    case Json::Kind::kString: out += '"' + json_escape(value.text) + '"'; return;
    case Json::Kind::kArray:
      if (value.items.empty()) {
        out += "[]";
        return;
      }
      out += "[\n";
      for (size_t i = 0; i < value.items.size(); ++i) {
        out += inner;
        append_json(value.items[i], level + 1, out);
        out += i + 1 < value.items.size() ? ",\n" : "\n";
      }
      out += indent + "]";
      return;
    case Json::Kind::kObject:
      if (value.members.empty()) {
        out += "{}";
        return;
      }
      out += "{\n";
      for (size_t i = 0; i < value.members.size(); ++i) {
        out += inner + '"' + json_escape(value.members[i].first) + "\": ";
        append_json(value.members[i].second, level + 1, out);
        out += i + 1 < value.members.size() ? ",\n" : "\n";
      }
      out += indent + "}";
      return;
  }
}

const char* yes_no(bool v) { return v ? "true" : "false"; }

// qemu's "format-specific" data for qcow2, in its QDict order (the human
// dump walks the same dictionary).
std::vector<std::pair<std::string, Json>> qcow2_specific(const Qcow2Info& q) {
  std::vector<std::pair<std::string, Json>> m;
  const bool v3 = q.version >= 3;
  m.emplace_back("compat", Json::of(std::string(v3 ? "1.1" : "0.10")));
  m.emplace_back("compression-type", Json::of(q.compression_type));
  if (v3) m.emplace_back("lazy-refcounts", Json::of(q.lazy_refcounts));
  m.emplace_back("refcount-bits", Json::of(uint64_t{q.refcount_bits}));
  if (!q.data_file.empty()) m.emplace_back("data-file", Json::of(q.data_file));
  if (v3) {
    m.emplace_back("corrupt", Json::of(q.corrupt));
    m.emplace_back("extended-l2", Json::of(q.extended_l2));
  }
  return m;
}

}  // namespace

std::string format_human_size(uint64_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  // The next unit starts at 1000 of the current one (QEMU divides by
  // 1000/1024 before taking the binary exponent), so a value never shows
  // four integer digits. Exact integer thresholds avoid rounding trouble.
  int unit = 0;
  unsigned __int128 unit_bytes = 1;
  while (unit < 6 && static_cast<unsigned __int128>(bytes) >= unit_bytes * 1000) {
    unit_bytes *= 1024;
    ++unit;
  }
  const long double divisor = static_cast<long double>(unit_bytes);
  return printf_string("%0.3g %s", static_cast<double>(static_cast<long double>(bytes) / divisor),
                       kUnits[unit]);
}

std::string json_escape(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) out += printf_string("\\u%04x", c);
        else out += static_cast<char>(c);
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
  if (!info.backing_format.empty())
    j.add("backing-filename-format", Json::of(info.backing_format));
  if (!info.snapshots.empty()) {
    Json list = Json::array();
    for (const auto& s : info.snapshots) {
      Json e = Json::object();
      e.add("icount", Json::of(s.icount));
      e.add("vm-clock-nsec", Json::of(s.vm_clock_nsec % 1000000000));
      e.add("name", Json::of(s.name));
      e.add("date-sec", Json::of(uint64_t{s.date_sec}));
      e.add("date-nsec", Json::of(uint64_t{s.date_nsec}));
      e.add("vm-clock-sec", Json::of(s.vm_clock_nsec / 1000000000));
      e.add("id", Json::of(s.id));
      e.add("vm-state-size", Json::of(s.vm_state_size));
      list.items.push_back(std::move(e));
    }
    j.add("snapshots", std::move(list));
  }
  j.add("virtual-size", Json::of(info.virtual_size));
  j.add("filename", Json::of(info.filename));
  if (info.cluster_size) j.add("cluster-size", Json::of(*info.cluster_size));
  j.add("format", Json::of(std::string(to_string(info.format))));
  j.add("actual-size", Json::of(info.actual_size));
  if (info.qcow2) {
    Json data = Json::object();
    data.members = qcow2_specific(*info.qcow2);
    Json specific = Json::object();
    specific.add("type", Json::of(std::string("qcow2")));
    specific.add("data", std::move(data));
    j.add("format-specific", std::move(specific));
  }
  if (!info.backing_filename.empty())
    j.add("full-backing-filename", Json::of(info.full_backing_filename));
  if (info.qcow2 && info.qcow2->crypt_method != 0) j.add("encrypted", Json::of(true));
  if (!info.backing_filename.empty()) j.add("backing-filename", Json::of(info.backing_filename));
  j.add("dirty-flag", Json::of(info.dirty));
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
  if (localtime_r(&t, &tm_buf) != nullptr) std::strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm_buf);
  const uint64_t ms = s.vm_clock_nsec / 1000000;
  const std::string clock = printf_string("%02" PRIu64 ":%02" PRIu64 ":%02" PRIu64 ".%03" PRIu64,
                                          ms / 3600000, (ms / 60000) % 60, (ms / 1000) % 60,
                                          ms % 1000);
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
  if (info.cluster_size) out += "cluster_size: " + std::to_string(*info.cluster_size) + "\n";
  if (info.qcow2 && info.qcow2->crypt_method != 0) out += "encrypted: yes\n";
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
    for (const auto& [key, value] : qcow2_specific(*info.qcow2)) {
      std::string name = key;
      for (char& c : name) if (c == '-') c = ' ';
      std::string text = value.kind == Json::Kind::kString ? value.text
                         : value.kind == Json::Kind::kBool ? yes_no(value.boolean)
                                                            : std::to_string(value.number);
      out += "    " + name + ": " + text + "\n";
    }
  }
  return out;
}

// ---- check -----------------------------------------------------------------

Json check_to_json(const CheckReport& r) {
  // QDict hash order of ImageCheck; zero optional counters are left out.
  Json j = Json::object();
  j.add("image-end-offset", Json::of(r.image_end_offset));
  if (r.compressed_clusters) j.add("compressed-clusters", Json::of(r.compressed_clusters));
  if (r.total_clusters) j.add("total-clusters", Json::of(r.total_clusters));
  if (r.corruptions) j.add("corruptions", Json::of(r.corruptions));
  if (r.corruptions_fixed) j.add("corruptions-fixed", Json::of(r.corruptions_fixed));
  j.add("check-errors", Json::of(r.check_errors));
  if (r.leaks) j.add("leaks", Json::of(r.leaks));
  if (r.leaks_fixed) j.add("leaks-fixed", Json::of(r.leaks_fixed));
  if (r.allocated_clusters) j.add("allocated-clusters", Json::of(r.allocated_clusters));
  j.add("filename", Json::of(r.filename));
  j.add("format", Json::of(r.format));
  if (r.fragmented_clusters) j.add("fragmented-clusters", Json::of(r.fragmented_clusters));
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
    out += printf_string("%" PRIu64 "/%" PRIu64 " = %0.2f%% allocated, %0.2f%% fragmented, %0.2f%% "
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
  std::string out = printf_string(
      "{ \"start\": %" PRIu64 ", \"length\": %" PRIu64 ", \"depth\": %u, \"present\": %s, "
      "\"zero\": %s, \"data\": %s",
      e.start, e.length, e.depth, yes_no(e.present), yes_no(e.zero), yes_no(e.data));
  if (e.offset) out += ", \"offset\": " + std::to_string(*e.offset);
  out += "}";
  return out;
}

std::string map_entry_human(const MapEntry& e) {
  if (!e.data || !e.offset) return {};
  return printf_string("%#-16" PRIx64 "%#-16" PRIx64 "%#-16" PRIx64 "%s", e.start, e.length,
                       *e.offset, e.filename.c_str());
}

}  // namespace amber::block::tool
