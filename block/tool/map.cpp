// SPDX-License-Identifier: GPL-2.0-or-later
// `amber-img map`: the image's allocation map in qemu-img 7.2's human table
// or its one-object-per-line JSON, adjacent runs merged as qemu-img does.
#include <getopt.h>

#include <algorithm>
#include <cstdio>

#include "block/check.h"
#include "block/image.h"
#include "block/tool/command.h"
#include "block/tool/format.h"
#include "block/tool/image_args.h"
#include "block/tool/options.h"

namespace amber::block::tool {
namespace {

// One block_status query covers at most this much (keeps each call cheap;
// runs are merged afterwards).
constexpr uint64_t kMaxQueryBytes = 1ull << 30;

enum class MapOutput { kHuman, kJson };
// Where an entry falls in the JSON list (the first opens it).
enum class ListPosition { kFirst, kLater };

// Prints one merged entry; false (after the error line) where the human
// format cannot show it.
bool print_entry(const MapEntry& e, MapOutput output, ListPosition position) {
  if (output == MapOutput::kJson) {
    std::printf("%s%s", position == ListPosition::kFirst ? "[" : ",\n", map_entry_json(e).c_str());
    return true;
  }
  if (e.data && !e.offset) {
    report_error("File contains external, encrypted or compressed clusters.");
    return false;
  }
  const std::string row = map_entry_human(e);
  if (!row.empty()) std::printf("%s\n", row.c_str());
  return true;
}

}  // namespace

int run_map(int argc, char** argv) {
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 {"output", required_argument, nullptr, 'O'},
                                 {"start-offset", required_argument, nullptr, 's'},
                                 {"max-length", required_argument, nullptr, 'l'},
                                 {"force-share", no_argument, nullptr, 'U'},
                                 {"image-opts", no_argument, nullptr, 'I'},
                                 {"object", required_argument, nullptr, 'o'},
                                 {nullptr, 0, nullptr, 0}};
  std::string format, output = "human";
  bool image_opts = false;
  Secrets secrets;
  uint64_t start = 0, max_length = UINT64_MAX;
  OpenOptions o;
  reset_getopt();
  int c;
  while ((c = getopt_long(argc, argv, ":f:hU", kLong, nullptr)) != -1) {
    switch (c) {
      case 'f':
        format = optarg;
        break;
      case 'O':
        output = optarg;
        break;
      case 'U':
        o.sharing = Sharing::kForceShare;
        break;
      case 's': {
        auto v = parse_size(optarg);
        if (!v.ok() || *v > kMaxImageSize)
          return report_error_lines(invalid_size_message("start offset"));
        start = *v;
        break;
      }
      case 'l': {
        auto v = parse_size(optarg);
        if (!v.ok() || *v > kMaxImageSize)
          return report_error_lines(invalid_size_message("max length"));
        max_length = *v;
        break;
      }
      case 'h':
        std::fputs(usage_text().c_str(), stdout);
        return 0;
      case 'I':
        image_opts = true;
        break;
      case 'o':
        if (auto r = secrets.add_object(optarg); !r.ok()) return report_error(r.error());
        break;
      default:
        return usage_error(getopt_error(c, argv));
    }
  }
  if (int status = check_single_image_args(argc, output); status != 0) return status;
  auto ref = resolve_image(argv[optind], image_opts, format, secrets);
  if (!ref.ok()) return report_error(ref.error());
  const std::string filename = ref->path;
  apply(*ref, o);
  auto image = open_image(filename, o);
  if (!image.ok())
    return report_error("Could not open '" + filename + "': " + error_text(image.error()));
  Image& img = **image;
  const uint64_t size = img.size();
  const uint64_t end = start >= size ? start : start + std::min(max_length, size - start);
  const MapOutput map_output = output == "json" ? MapOutput::kJson : MapOutput::kHuman;
  if (map_output == MapOutput::kHuman) std::fputs(kMapHumanHeader, stdout);

  std::optional<MapEntry> current;
  ListPosition position = ListPosition::kFirst;
  for (uint64_t offset = start; offset < end;) {
    auto st = img.block_status(offset, std::min(end - offset, kMaxQueryBytes));
    if (!st.ok()) return report_error("Could not read file metadata: " + error_text(st.error()));
    if (st->length == 0) return report_error("Could not read file metadata: empty block status");
    MapEntry e{offset,   st->length, st->depth,  st->present,
               st->zero, st->data,   st->offset, st->filename};
    offset += st->length;
    if (current && map_entries_mergeable(*current, e)) {
      current->length += e.length;
      continue;
    }
    if (current) {
      if (!print_entry(*current, map_output, position)) return 1;
      position = ListPosition::kLater;
    }
    current = std::move(e);
  }
  if (current) {
    if (!print_entry(*current, map_output, position)) return 1;
    position = ListPosition::kLater;
  }
  if (map_output == MapOutput::kJson && position == ListPosition::kFirst) {
    // Nothing to map (start at or past the end): qemu-img prints one empty run.
    MapEntry empty;
    empty.start = start;
    print_entry(empty, MapOutput::kJson, ListPosition::kFirst);
  }
  if (map_output == MapOutput::kJson) std::printf("]\n");
  return 0;
}

}  // namespace amber::block::tool
