// SPDX-License-Identifier: GPL-2.0-or-later
// `amber-img measure`: qemu-img 7.2 measure. How large a new image file
// must be (required) and can grow (fully allocated) for a virtual size
// (--size) or for converting an existing image, with the output format's
// options (-O, -o), computed as qemu's qcow2 and raw drivers compute them:
// - qcow2: one header cluster, L2 tables for every cluster, the L1 table,
//   and the refcount blocks and table that count all of them (a fixed
//   point: refcount metadata counts itself), plus the data. "required"
//   counts only the data clusters the input holds (every cluster its chain
//   holds data in; zeros are not counted), all of them with a backing file
//   (-o backing_file: what it shares with the input is unknown) or with
//   preallocation=falloc/full.
// - raw: the virtual size, rounded up to a sector.
//
// Thread-safety: one call from main().
#include <getopt.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "block/image.h"
#include "block/tool/command.h"
#include "block/tool/create.h"
#include "block/tool/image_args.h"
#include "block/tool/options.h"
#include "block/tool/snapshot_arg.h"

namespace amber::block::tool {
namespace {

constexpr uint64_t kMaxL1Bytes = 32 << 20;  // QEMU's QCOW_MAX_L1_SIZE

uint64_t round_up(uint64_t value, uint64_t to) {
  return (value + to - 1) / to * to;
}
uint64_t div_up(uint64_t value, uint64_t by) {
  return (value + by - 1) / by;
}

// Bytes of refcount blocks and table for `clusters` clusters, themselves
// counted (qcow2_refcount_metadata_size without the generous increase).
uint64_t refcount_metadata_bytes(uint64_t clusters, uint64_t cluster_size, unsigned bits) {
  const uint64_t per_table_cluster = cluster_size / 8;
  const uint64_t per_block = cluster_size * 8 / bits;
  uint64_t table = 0, blocks = 0, n = 0, last;
  do {
    last = n;
    blocks = div_up(clusters + table + blocks, per_block);
    table = div_up(blocks, per_table_cluster);
    n = clusters + blocks + table;
  } while (n != last);
  return (blocks + table) * cluster_size;
}

// The fully allocated file for `size` (metadata and every data cluster).
uint64_t fully_allocated_bytes(uint64_t size, uint64_t cluster_size, unsigned refcount_bits,
                               bool extended_l2) {
  const uint64_t aligned = round_up(size, cluster_size);
  const uint64_t entry = extended_l2 ? 16 : 8;
  uint64_t meta = cluster_size;  // header
  const uint64_t l2_entries = round_up(aligned / cluster_size, cluster_size / entry);
  meta += l2_entries * entry;
  const uint64_t l1_entries = round_up(l2_entries * entry / cluster_size, cluster_size / 8);
  meta += l1_entries * 8;
  meta += refcount_metadata_bytes((meta + aligned) / cluster_size, cluster_size, refcount_bits);
  return meta + aligned;
}

// What the input's chain holds as data, counted in whole clusters of the
// output (qcow2_measure's walk over bdrv_block_status_above).
Result<uint64_t> data_bytes(Image& input, uint64_t cluster_size) {
  const uint64_t size = input.size();
  uint64_t required = 0;
  for (uint64_t offset = 0; offset < size;) {
    AMBER_TRY_ASSIGN(BlockStatus st, input.block_status(offset, size - offset));
    uint64_t n = st.length;
    if (n == 0) return Error(ErrorKind::kIo, "Unable to get block status", EIO);
    if (!st.zero && st.data && st.present) {
      n = round_up(offset + n, cluster_size) - offset;
      required += offset % cluster_size + n;
    }
    offset += n;
  }
  return required;
}

struct MeasureArgs {
  std::string format, out_format = "raw", output = "human", options, filename;
  std::optional<uint64_t> size;
  bool force_share = false;
};

// Reports a -o problem as qemu-img measure does: the option's own message,
// then "Invalid options for file format" (except for what Amber lacks).
int report_option_error(const Error& error, const std::string& out_format) {
  if (error.kind() == ErrorKind::kUnsupported) return report_error(error.context());
  report_error(error.context());
  return report_error("Invalid options for file format '" + out_format + "'");
}

struct Measured {
  uint64_t required = 0, fully_allocated = 0;
  std::optional<uint64_t> bitmaps;
};

}  // namespace

int run_measure(int argc, char** argv) {
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 {"image-opts", no_argument, nullptr, 'I'},
                                 {"object", required_argument, nullptr, 'J'},
                                 {"output", required_argument, nullptr, 'P'},
                                 {"size", required_argument, nullptr, 'S'},
                                 {"force-share", no_argument, nullptr, 'U'},
                                 {nullptr, 0, nullptr, 0}};
  MeasureArgs a;
  bool image_opts = false;
  Secrets secrets;
  SnapshotSelector snapshot;
  reset_getopt();
  int c;
  while ((c = getopt_long(argc, argv, ":hf:O:o:l:U", kLong, nullptr)) != -1) {
    switch (c) {
      case 'h':
        std::fputs(usage_text().c_str(), stdout);
        return 0;
      case 'f':
        a.format = optarg;
        break;
      case 'O':
        a.out_format = optarg;
        break;
      case 'o':
        if (!a.options.empty()) a.options += ',';
        a.options += optarg;
        break;
      case 'l':
        if (auto r = parse_snapshot_arg(optarg, snapshot); !r.ok())
          return report_error_lines(r.error().context());
        break;
      case 'U':
        a.force_share = true;
        break;
      case 'P':
        a.output = optarg;
        break;
      case 'S': {
        auto parsed = parse_image_size(optarg);
        if (!parsed.ok()) return report_error_lines(parsed.error().context());
        a.size = *parsed;
        break;
      }
      case 'I':
        image_opts = true;
        break;
      case 'J':
        if (auto r = secrets.add_object(optarg); !r.ok()) return report_error(r.error());
        break;
      default:
        return usage_error(getopt_error(c, argv));
    }
  }
  if (argc - optind > 1) return report_error("At most one filename argument is allowed.");
  if (argc - optind == 1) a.filename = argv[optind];
  if (a.output != "human" && a.output != "json")
    return report_error("--output must be used with human or json as argument.");
  if (a.filename.empty() && (!a.format.empty() || image_opts || snapshot.given()))
    return report_error("--image-opts, -f, and -l require a filename argument.");
  if (!a.filename.empty() && a.size)
    return report_error("--size N cannot be used together with a filename.");
  if (a.filename.empty() && !a.size)
    return report_error("Either --size N or one filename must be specified.");

  std::unique_ptr<Image> input;
  if (!a.filename.empty()) {
    auto ref = resolve_image(a.filename, image_opts, a.format, secrets);
    if (!ref.ok()) return report_error(ref.error());
    OpenOptions o;
    apply(*ref, o);
    o.sharing = a.force_share ? Sharing::kForceShare : Sharing::kExclusiveWriter;
    auto opened = open_image(ref->path, o);
    if (!opened.ok())
      return report_error("Could not open '" + ref->name + "': " + error_text(opened.error()));
    input = std::move(*opened);
    if (snapshot.given()) {
      if (auto loaded = load_selected_snapshot(*input, snapshot); !loaded.ok())
        return report_error("Failed to load snapshot: " + loaded.error().context());
    }
  }

  auto out_format = parse_format(a.out_format);
  if (!out_format.ok()) return report_error("Unknown file format '" + a.out_format + "'");
  CreateArgs create;
  create.format = a.out_format;
  auto list = parse_option_list(a.options);
  if (!list.ok()) return report_option_error(list.error(), a.out_format);
  create.options = *list;
  auto plan = plan_create(create);
  if (!plan.ok()) return report_option_error(plan.error(), a.out_format);
  const auto& given = plan->given;
  auto get = [&](const char* key) -> const std::string* {
    for (const auto& kv : given)
      if (kv.key == key) return &kv.value;
    return nullptr;
  };
  // Typed options, checked as qemu parses -o.
  bool extended_l2 = false;
  for (const char* key : {"extended_l2", "lazy_refcounts"}) {
    if (const auto* v = get(key)) {
      auto b = parse_bool(*v, key);
      if (!b.ok()) return report_option_error(b.error(), a.out_format);
      if (std::string_view(key) == "extended_l2") extended_l2 = *b;
    }
  }
  uint64_t size = a.size ? *a.size : 0;
  if (!a.size && !input) {
    if (const auto* v = get("size")) size = std::stoull(*v);
  }

  Measured m;
  if (*out_format == ImageFormat::kRaw) {
    if (const auto* v = get("preallocation"); v && !parse_preallocation(*v).ok())
      return report_error("invalid parameter value: " + *v);
    m.required = input ? input->size() : round_up(size, 512);
    m.fully_allocated = m.required;
  } else {
    uint64_t cluster_size = 65536;
    if (const auto* v = get("cluster_size")) cluster_size = std::stoull(*v);
    if (cluster_size < 512 || cluster_size > (2u << 20) || (cluster_size & (cluster_size - 1)))
      return report_error("Cluster size must be a power of two between 512 and 2048k");
    if (extended_l2 && cluster_size < 16384)
      return report_error(
          "Extended L2 entries are only supported with cluster sizes of at least 16384 bytes");
    unsigned version = 3;
    if (const auto* v = get("compat")) {
      if (*v == "0.10")
        version = 2;
      else if (*v != "1.1")
        return report_error("Invalid compatibility level: '" + *v + "'");
    }
    unsigned refcount_bits = 16;
    if (const auto* v = get("refcount_bits")) {
      auto bits = parse_number(*v);
      if (!bits.ok() || *bits == 0 || *bits > 64 || (*bits & (*bits - 1)) != 0)
        return report_error("Refcount width must be a power of two and may not exceed 64 bits");
      refcount_bits = static_cast<unsigned>(*bits);
    }
    if (version < 3 && refcount_bits != 16)
      return report_error(
          "Different refcount widths than 16 bits require compatibility level 1.1 or above "
          "(use compat=1.1 or greater)");
    Preallocation prealloc = Preallocation::kOff;
    if (const auto* v = get("preallocation")) {
      auto p = parse_preallocation(*v);
      if (!p.ok()) return report_error("invalid parameter value: " + *v);
      prealloc = *p;
    }
    const bool has_backing = get("backing_file") != nullptr;
    uint64_t virtual_size = round_up(size, cluster_size);
    const uint64_t entry = extended_l2 ? 16 : 8;
    const uint64_t l2_tables = div_up(virtual_size / cluster_size, cluster_size / entry);
    if (l2_tables * 8 > kMaxL1Bytes)
      return report_error("The image size is too large (try using a larger cluster size)");
    uint64_t required = 0;
    if (input) {
      virtual_size = round_up(input->size(), cluster_size);
      if (has_backing) {
        required = virtual_size;
      } else {
        auto counted = data_bytes(*input, cluster_size);
        if (!counted.ok())
          return report_error("Unable to get block status: " + error_text(counted.error()));
        required = *counted;
      }
    }
    if (prealloc == Preallocation::kFull || prealloc == Preallocation::kFalloc)
      required = virtual_size;
    m.fully_allocated =
        fully_allocated_bytes(virtual_size, cluster_size, refcount_bits, extended_l2);
    m.required = m.fully_allocated - virtual_size + required;
    // The room `convert --bitmaps` needs for the input's persistent bitmaps
    // in a v3 output, as QEMU's qcow2_measure counts it: every bitmap fully
    // allocated, its table, and the directory entries, each rounded up to
    // the output's clusters.
    if (version >= 3 && input && input->format() == ImageFormat::kQcow2) {
      auto info = input->info();
      if (info.ok() && info->qcow2 && info->qcow2->version >= 3) {
        uint64_t bytes = 0, directory = 0;
        for (const BitmapInfo& bm : info->qcow2->bitmaps) {
          const uint64_t bits = div_up(input->size(), bm.granularity);
          const uint64_t clusters = div_up(div_up(bits, 8), cluster_size);
          bytes += clusters * cluster_size + round_up(clusters * 8, cluster_size);
          directory += round_up(24 + bm.name.size(), 8);
        }
        m.bitmaps = bytes + round_up(directory, cluster_size);
      }
    }
  }

  if (a.output == "json") {
    std::printf("{\n");
    if (m.bitmaps) std::printf("    \"bitmaps\": %llu,\n", (unsigned long long)*m.bitmaps);
    std::printf("    \"required\": %llu,\n    \"fully-allocated\": %llu\n}\n",
                (unsigned long long)m.required, (unsigned long long)m.fully_allocated);
  } else {
    std::printf("required size: %llu\nfully allocated size: %llu\n", (unsigned long long)m.required,
                (unsigned long long)m.fully_allocated);
    if (m.bitmaps) std::printf("bitmaps size: %llu\n", (unsigned long long)*m.bitmaps);
  }
  return 0;
}

}  // namespace amber::block::tool
