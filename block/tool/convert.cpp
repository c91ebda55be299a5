// SPDX-License-Identifier: GPL-2.0-or-later
// `amber-img convert`: qemu-img 7.2 convert's command line, checks and
// messages, on top of block::convert_images. The target is created with
// create's own -o planning (create.h), unless -n.
//
// As in qemu-img: the target's default cache mode is "unsafe" (no flush at
// the end), the sources' is "writeback"; -B copies only what the sources
// hold above their own backing files (it does not compare contents: the
// new backing file must read as the old one); options Amber does not
// implement are refused by name, never ignored.
#include "block/convert.h"

#include <getopt.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <vector>

#include "block/create.h"
#include "block/json_name.h"
#include "block/qcow2/qcow2.h"
#include "block/tool/command.h"
#include "block/tool/create.h"
#include "block/tool/image_args.h"
#include "block/tool/options.h"
#include "block/tool/progress.h"
#include "block/tool/snapshot_arg.h"

namespace amber::block::tool {
namespace {

// qemu-img's largest -S: MAX_BUF_SECTORS (32768) sectors, 16 MiB.
constexpr uint64_t kMaxSparse = 32768 * kSectorSize;

struct ConvertArgs {
  std::string source_format;          // -f
  std::string target_format = "raw";  // -O
  std::string backing_file;           // -B
  std::string backing_format;         // -F
  std::string joined_options;         // every -o, comma-joined
  bool has_options = false;
  bool skip_create = false;                // -n
  bool progress = false;                   // -p
  bool quiet = false;                      // -q
  bool target_is_zero = false;             // --target-is-zero
  std::string cache = "unsafe";            // -t
  std::string source_cache = "writeback";  // -T
  ConvertOptions copy;
  OpenOptions source_open;
  std::vector<std::string> sources;
  std::string target;
  Secrets secrets;                 // --object
  bool image_opts = false;         // --image-opts (the sources)
  bool target_image_opts = false;  // --target-image-opts
  // -l: snapshot.id= / snapshot.name= (the last such -l wins and beats a
  // plain one), else a plain id-or-name.
  SnapshotSelector snapshot;
  // --bitmaps: the source's persistent bitmaps are copied (copy_bitmaps).
  bool bitmaps = false;
  bool skip_broken_bitmaps = false;  // --skip-broken-bitmaps
};

int refuse(std::string_view option, std::string_view what) {
  return report_error("convert: option '" + std::string(option) + "' (" + std::string(what) +
                      ") is not supported yet");
}

// Parses argv; returns -1 when the command should go on, else its exit status.
int parse_args(int argc, char** argv, ConvertArgs& args) {
  enum LongOnly {
    kObject = 256,
    kImageOpts,
    kTargetImageOpts,
    kSalvage,
    kTargetIsZero,
    kBitmaps,
    kSkipBrokenBitmaps
  };
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 {"object", required_argument, nullptr, kObject},
                                 {"image-opts", no_argument, nullptr, kImageOpts},
                                 {"force-share", no_argument, nullptr, 'U'},
                                 {"target-image-opts", no_argument, nullptr, kTargetImageOpts},
                                 {"salvage", no_argument, nullptr, kSalvage},
                                 {"target-is-zero", no_argument, nullptr, kTargetIsZero},
                                 {"bitmaps", no_argument, nullptr, kBitmaps},
                                 {"skip-broken-bitmaps", no_argument, nullptr, kSkipBrokenBitmaps},
                                 {nullptr, 0, nullptr, 0}};
  reset_getopt();
  int c;
  while ((c = getopt_long(argc, argv, ":hf:O:B:CcF:o:l:S:pt:T:qnm:WUr:", kLong, nullptr)) != -1) {
    switch (c) {
      case 'f':
        args.source_format = optarg;
        break;
      case 'O':
        args.target_format = optarg;
        break;
      case 'B':
        args.backing_file = optarg;
        break;
      case 'F':
        args.backing_format = optarg;
        break;
      case 'o':
        if (args.has_options) args.joined_options += ',';
        args.joined_options += optarg;
        args.has_options = true;
        break;
      case 'S': {
        auto size = parse_size(optarg);
        if (!size.ok() && size.error().kind() == ErrorKind::kInvalidArgument)
          return report_error_lines(invalid_size_message("buffer size for sparse output"));
        if (!size.ok() || *size % kSectorSize != 0 || *size > kMaxSparse)
          return report_error(
              "Invalid buffer size for sparse output specified. Valid sizes are multiples of 512 "
              "up to 16777216. Select 0 to disable sparse detection (fully allocates output).");
        args.copy.min_sparse = *size;
        break;
      }
      case 'p':
        args.progress = true;
        break;
      case 't':
        args.cache = optarg;
        break;
      case 'T':
        args.source_cache = optarg;
        break;
      case 'q':
        args.quiet = true;
        break;
      case 'n':
        args.skip_create = true;
        break;
      case 'm': {
        auto n = parse_number(optarg);
        if (!n.ok() || *n < 1 || *n > kMaxConvertWorkers)
          return report_error(
              "Invalid number of coroutines. Allowed number of coroutines is between 1 and 16");
        args.copy.workers = static_cast<unsigned>(*n);
        break;
      }
      case 'W':
        args.copy.order = WriteOrder::kOutOfOrder;
        break;
      case 'U':
        args.source_open.sharing = Sharing::kForceShare;
        break;
      case kTargetIsZero:
        args.target_is_zero = true;
        break;
      case 'h':
        std::fputs(usage_text().c_str(), stdout);
        return 0;
      case 'c':
        args.copy.compression = ConvertCompression::kCompressed;
        break;
      case 'C':
        return refuse("-C", "copy offloading");
      case 'l':
        if (auto r = parse_snapshot_arg(optarg, args.snapshot); !r.ok())
          return report_error_lines(r.error().context());
        break;
      case 'r':
        return refuse("-r", "rate limit");
      case kObject:
        if (auto r = args.secrets.add_object(optarg); !r.ok()) return report_error(r.error());
        break;
      case kImageOpts:
        args.image_opts = true;
        break;
      case kTargetImageOpts:
        args.target_image_opts = true;
        break;
      case kSalvage:
        args.copy.salvage = true;
        break;
      case kBitmaps:
        args.bitmaps = true;
        break;
      case kSkipBrokenBitmaps:
        args.skip_broken_bitmaps = true;
        break;
      default:
        return usage_error(getopt_error(c, argv));
    }
  }
  if (args.quiet) args.progress = false;
  if (args.target_is_zero && !args.skip_create)
    return report_error("--target-is-zero requires use of -n flag");
  if (args.target_image_opts && !args.skip_create)
    return report_error("--target-image-opts requires use of -n flag");
  if (args.skip_broken_bitmaps && !args.bitmaps)
    return report_error("Use of --skip-broken-bitmaps requires --bitmaps");
  if (argc - optind < 2) return report_error("Must specify image file name");
  for (int i = optind; i < argc - 1; ++i) args.sources.push_back(argv[i]);
  if (args.bitmaps && args.sources.size() > 1)
    return report_error("Copying bitmaps only possible with single source");
  args.target = argv[argc - 1];
  return -1;
}

// Creates the target as `create -f FMT -o ... [-b -F]` would, without the
// Formatting line (qemu-img convert prints none). Returns -1 on success.
int create_target(const ConvertArgs& args, uint64_t size) {
  // qemu-img creates no json: target (it has no such protocol); -n opens one.
  if (is_json_name(args.target)) return report_error("Unknown protocol 'json'");
  CreateArgs create;
  create.secrets = args.secrets;
  create.format = args.target_format;
  create.filename = args.target;
  create.backing_file = args.backing_file;
  create.backing_format = args.backing_format;
  auto list = parse_option_list(args.joined_options);
  if (!list.ok()) return report_error(list.error().context());
  create.options = std::move(*list);
  for (const auto& kv : create.options)
    if (kv.key == "help") return report_error("convert: -o help is not supported yet");
  if (args.copy.compression == ConvertCompression::kCompressed) {
    // qemu-img's checks of -c against the new image's options, made before
    // the options' values are.
    if (args.target_format != "qcow2")
      return report_error("Compression not supported for this file format");
    std::string_view encryption, encrypt_format, preallocation;
    for (const auto& kv : create.options) {
      if (kv.key == "encryption") encryption = kv.value;
      if (kv.key == "encrypt.format") encrypt_format = kv.value;
      if (kv.key == "preallocation") preallocation = kv.value;
    }
    if ((!encryption.empty() && encryption != "off" && encryption != "false") ||
        !encrypt_format.empty())
      return report_error("Compression and encryption not supported at the same time");
    if (!preallocation.empty() && preallocation != "off")
      return report_error("Compression and preallocation not supported at the same time");
  }
  auto plan = plan_create(create);
  if (!plan.ok()) return report_error(plan.error().context());
  CreateOptions& o = plan->options;
  if (!o.backing_file.empty() && !o.backing_format)
    return report_error("Use of backing file requires explicit backing format");
  const std::string prefix =
      args.target + ": error while converting " + std::string(to_string(o.format)) + ": ";
  if (o.backing_file.empty() && o.backing_format)
    return report_error(prefix + "Backing format cannot be used without backing file");
  o.size = (size + kSectorSize - 1) / kSectorSize * kSectorSize;
  // qemu-img convert's create does not open the backing file; opening the
  // target does.
  o.backing_check = BackingMode::kNone;
  if (auto v = validate_after_formatting(*plan); !v.ok())
    return report_error(prefix + v.error().context());
  if (auto r = create_image(host_path(args.target), o); !r.ok())
    return report_error(prefix + error_text(r.error()));
  return -1;
}

// qemu-img's convert_copy_bitmaps: each consistent bitmap added to the
// target (same name and granularity, enabled as it was) with the source's
// bits; an inconsistent one (only with --skip-broken-bitmaps) is skipped
// with a warning. Returns -1 on success.
int copy_bitmaps(std::vector<qcow2::StoredBitmap>& source, uint64_t source_size, Image& target) {
  auto existing = qcow2::load_bitmaps(target);
  if (!existing.ok()) return report_error(existing.error());
  std::vector<qcow2::StoredBitmap> list = std::move(*existing);
  for (auto& bm : source) {
    if (bm.in_use()) {
      report_error("warning: Skipping inconsistent bitmap '" + bm.name + "'");
      continue;
    }
    for (const auto& e : list)
      if (e.name == bm.name)
        return report_error("Failed to create bitmap " + bm.name +
                            ": Bitmap already exists: " + bm.name);
    if (source_size != target.size())
      return report_error("Failed to populate bitmap " + bm.name +
                          ": Bitmaps are of different sizes (destination size is " +
                          std::to_string(target.size()) + ", source size is " +
                          std::to_string(source_size) + ") and can't be merged");
    qcow2::StoredBitmap copy = std::move(bm);
    copy.flags &= qcow2::kBitmapFlagAuto;
    copy.table_offset = 0;
    copy.table_size = 0;
    copy.rewrite = true;
    list.push_back(std::move(copy));
  }
  if (auto r = qcow2::store_bitmaps(target, list); !r.ok())
    return report_error("error while converting: " + error_text(r.error()));
  return -1;
}

}  // namespace

int run_convert(int argc, char** argv) {
  ConvertArgs args;
  if (int status = parse_args(argc, argv, args); status >= 0) return status;
  auto source_cache = io::parse_cache_mode(args.source_cache);
  if (!source_cache.ok()) return report_error("Invalid source cache option: " + args.source_cache);
  auto cache = io::parse_cache_mode(args.cache);
  if (!cache.ok()) return report_error("Invalid cache option: " + args.cache);
  if (args.skip_create && args.has_options)
    return report_error("-o has no effect when skipping image creation");

  ProgressMeter meter(args.progress);
  meter.print(0);
  auto fail = [&](int status) {
    meter.end();
    return status;
  };

  std::vector<std::unique_ptr<Image>> sources;
  std::vector<Image*> source_ptrs;
  std::vector<qcow2::StoredBitmap> source_bitmaps;  // --bitmaps
  uint64_t total = 0;
  for (const auto& arg : args.sources) {
    auto ref = resolve_image(arg, args.image_opts, args.source_format, args.secrets);
    if (!ref.ok()) return fail(report_error(ref.error().context()));
    const std::string& name = args.image_opts ? ref->path : arg;
    OpenOptions o = args.source_open;
    apply(*ref, o);
    o.cache = *source_cache;
    auto image = open_image(ref->path, o);
    if (!image.ok())
      return fail(report_error("Could not open '" + name + "': " + error_text(image.error())));
    if (args.bitmaps) {
      auto info = (*image)->info();
      if (!info.ok()) return fail(report_error(info.error()));
      if (!info->qcow2 || info->qcow2->version < 3)
        return fail(report_error("Source lacks bitmap support"));
      auto loaded = qcow2::load_bitmaps(**image);
      if (!loaded.ok())
        return fail(report_error("Could not open '" + name + "': " + error_text(loaded.error())));
      for (const auto& bm : *loaded)
        if (bm.in_use() && !args.skip_broken_bitmaps)
          return fail(report_error("Cannot copy inconsistent bitmap '" + bm.name +
                                   "'\nTry --skip-broken-bitmaps, or use 'qemu-img bitmap "
                                   "--remove' to delete it"));
      source_bitmaps = std::move(*loaded);
    }
    total += (*image)->size();
    source_ptrs.push_back(image->get());
    sources.push_back(std::move(*image));
  }

  // As qemu-img: the snapshot is loaded in the first source only.
  if (args.snapshot.given()) {
    if (!args.snapshot.options && args.sources.size() > 1)
      return fail(report_error("No support for concatenating multiple snapshot"));
    Result<void> loaded = load_selected_snapshot(*sources.front(), args.snapshot);
    if (!loaded.ok())
      return fail(report_error("Failed to load snapshot: " + loaded.error().context()));
  }

  auto target_format = parse_format(args.target_format);
  if (!target_format.ok())
    return fail(report_error("Unknown file format '" + args.target_format + "'"));
  if (!args.skip_create) {
    if (int status = create_target(args, total); status >= 0) return fail(status);
  }

  OpenOptions to;
  ImageRef target_ref;
  if (args.target_image_opts) {
    auto ref = resolve_image(args.target, true, "", args.secrets);
    if (!ref.ok()) return fail(report_error(ref.error().context()));
    target_ref = std::move(*ref);
  } else {
    target_ref.path = host_path(args.target);
    target_ref.format = *target_format;
    // A target created encrypted opens with the secret -o named.
    auto list = parse_option_list(args.joined_options);
    const char* key = *target_format == ImageFormat::kLuks ? "key-secret" : "encrypt.key-secret";
    if (list.ok())
      for (const auto& kv : *list)
        if (kv.key == key) {
          auto secret = args.secrets.find(kv.value);
          if (!secret.ok()) return fail(report_error(secret.error()));
          target_ref.passphrase = *secret;
        }
  }
  apply(target_ref, to);
  to.access = io::Access::kReadWrite;
  to.cache = *cache;
  auto opened = open_image(target_ref.path, to);
  if (!opened.ok())
    return fail(
        report_error("Could not open '" + target_ref.path + "': " + error_text(opened.error())));
  Image& target = **opened;
  if (args.target_is_zero && target.backing() != nullptr)
    return fail(
        report_error("Cannot use --target-is-zero when the destination image has a backing file"));
  if (args.copy.compression == ConvertCompression::kCompressed &&
      target.format() != ImageFormat::kQcow2)
    return fail(report_error("Compression not supported for this file format"));
  if (args.bitmaps && target.format() != ImageFormat::kQcow2)
    return fail(report_error("Format driver '" + std::string(to_string(target.format())) +
                             "' does not support bitmaps"));
  if (args.skip_create && target.size() < total)
    return fail(report_error("output file is smaller than input file"));

  ConvertOptions& copy = args.copy;
  const bool has_backing = !args.backing_file.empty();
  copy.backing = has_backing ? ConvertBacking::kAboveSourceBacking : ConvertBacking::kFlatten;
  // A new raw LUKS volume reads as noise, not zeros (QEMU's crypto
  // driver has no zero-init either): its zeros must be written.
  const bool zero_init = target.format() != ImageFormat::kLuks;
  copy.target = ((!args.skip_create && !has_backing) || args.target_is_zero) && zero_init
                    ? TargetContents::kZeroes
                    : TargetContents::kUnknown;
  if (target.backing() != nullptr) copy.target_backing_size = target.backing()->size();
  copy.granularity = 4096;
  if (auto info = target.info(); info.ok() && info->cluster_size)
    copy.granularity = *info->cluster_size;
  if (args.progress) copy.progress = [&meter](double percent) { meter.print(percent); };

  copy.on_read_error = [](uint64_t offset, const Error& error) {
    report_error("warning: error while reading offset " + std::to_string(offset) + ": " +
                 error_text(error));
  };
  if (auto r = convert_images(source_ptrs, target, copy); !r.ok()) {
    if (r.error().context().starts_with(kConvertReadError)) return fail(report_error(r.error()));
    return fail(report_error("error while converting: " + error_text(r.error())));
  }
  if (args.bitmaps) {
    if (int status = copy_bitmaps(source_bitmaps, sources.front()->size(), target); status >= 0)
      return fail(status);
  }
  if (auto r = target.close(); !r.ok())
    return fail(
        report_error("error while closing '" + args.target + "': " + error_text(r.error())));
  meter.print(100);
  meter.end();
  return 0;
}

}  // namespace amber::block::tool
