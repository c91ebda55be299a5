// SPDX-License-Identifier: GPL-2.0-or-later
// `amber-img bitmap`: qemu-img 7.2's bitmap command. The actions run in
// command-line order on the image's bitmaps in memory, with qemu-img's
// checks and messages (QEMU's qmp block-dirty-bitmap-* commands); what the
// actions before a failing one did is stored all the same, as qemu-img
// stores its bitmaps when it closes the image. The image is opened with
// keep_bitmaps and no backing file, and no guest data is written.
//
// Thread-safety: run once from main().
#include <getopt.h>

#include <cstdio>
#include <memory>

#include "block/image.h"
#include "block/qcow2/qcow2.h"
#include "block/tool/command.h"
#include "block/tool/image_args.h"
#include "block/tool/options.h"

namespace amber::block::tool {
namespace {

// QEMU names the image's node in a few messages; its number varies.
constexpr const char* kNodeName = "#block100";

enum class Act { kAdd, kRemove, kClear, kEnable, kDisable, kMerge };
struct Action {
  Act act;
  std::string source;  // --merge
};

const char* op_name(Act a) {
  switch (a) {
    case Act::kAdd:
      return "add";
    case Act::kRemove:
      return "remove";
    case Act::kClear:
      return "clear";
    case Act::kEnable:
      return "enable";
    case Act::kDisable:
      return "disable";
    case Act::kMerge:
      return "merge";
  }
  return "";
}

using Bitmaps = std::vector<qcow2::StoredBitmap>;

qcow2::StoredBitmap* find(Bitmaps& list, const std::string& name) {
  for (auto& bm : list)
    if (bm.name == name) return &bm;
  return nullptr;
}

std::string not_found(const std::string& name) {
  return "Dirty bitmap '" + name + "' not found";
}
std::string inconsistent(const std::string& name) {
  return "Bitmap '" + name +
         "' is inconsistent and cannot be used\nTry block-dirty-bitmap-remove to delete this "
         "bitmap from disk";
}

struct Target {
  Image& image;
  Bitmaps& bitmaps;
  bool& changed;
};

// qmp block-dirty-bitmap-add (persistent, enabled); "" on success.
std::string do_add(Target t, const std::string& name, uint64_t granularity) {
  if (name.empty()) return "Bitmap name cannot be empty";
  auto info = t.image.info();
  const uint64_t cluster = info.ok() && info->cluster_size ? *info->cluster_size : 0;
  uint64_t g;
  if (granularity != 0) {
    // QMP's granularity is a uint32.
    g = granularity & 0xffffffffu;
    if (g < 512 || (g & (g - 1)) != 0) return "Granularity must be power of 2 and at least 512";
  } else {
    g = cluster != 0 ? std::min<uint64_t>(std::max<uint64_t>(cluster, 4096), 65536) : 65536;
  }
  if (find(t.bitmaps, name) != nullptr) return "Bitmap already exists: " + name;
  if (t.image.format() != ImageFormat::kQcow2)
    return std::string("Can't store persistent bitmaps to ") + kNodeName +
           ": Operation not supported";
  const std::string prefix = "Can't make bitmap '" + name + "' persistent in '" + kNodeName + "': ";
  if (!info.ok() || !info->qcow2 || info->qcow2->version < 3)
    return prefix + "Cannot store dirty bitmaps in qcow2 v2 files";
  unsigned bits = 0;
  while ((uint64_t{1} << bits) < g) ++bits;
  const uint64_t len = t.image.size();
  if (len > (qcow2::kMaxBitmapPhysBytes << bits) ||
      len > ((qcow2::kMaxBitmapTableEntries * cluster) << bits))
    return prefix + "Too much space will be occupied by the bitmap. Use larger granularity";
  if (name.size() > qcow2::kMaxBitmapNameBytes)
    return prefix + "Name length exceeds maximum (1023 characters)";
  if (t.bitmaps.size() >= qcow2::kMaxBitmaps)
    return prefix + "Maximum number of persistent bitmaps is already reached";
  uint64_t dir = 0;
  for (const auto& bm : t.bitmaps) dir += (24 + bm.name.size() + 7) / 8 * 8;
  if (dir + (24 + name.size() + 7) / 8 * 8 > qcow2::kMaxBitmapDirectoryBytes)
    return prefix + "Not enough space in the bitmap directory";
  qcow2::StoredBitmap bm;
  bm.name = name;
  bm.granularity_bits = bits;
  bm.flags = qcow2::kBitmapFlagAuto;
  bm.bits.assign(qcow2::bitmap_bytes(len, bits), 0);
  bm.rewrite = true;
  t.bitmaps.push_back(std::move(bm));
  t.changed = true;
  return "";
}

std::string do_action(Target t, const Action& a, const std::string& name, uint64_t granularity,
                      Bitmaps* source_list, uint64_t source_size) {
  if (a.act == Act::kAdd) return do_add(t, name, granularity);
  qcow2::StoredBitmap* bm = find(t.bitmaps, name);
  if (bm == nullptr) return not_found(name);
  switch (a.act) {
    case Act::kRemove:
      t.bitmaps.erase(t.bitmaps.begin() + (bm - t.bitmaps.data()));
      break;
    case Act::kClear:
      if (bm->in_use()) return inconsistent(name);
      std::fill(bm->bits.begin(), bm->bits.end(), 0);
      bm->rewrite = true;
      break;
    case Act::kEnable:
    case Act::kDisable:
      if (bm->in_use()) return inconsistent(name);
      if (a.act == Act::kEnable)
        bm->flags |= qcow2::kBitmapFlagAuto;
      else
        bm->flags &= ~qcow2::kBitmapFlagAuto;
      break;
    case Act::kMerge: {
      if (bm->in_use()) return inconsistent(name);
      // The source bitmap is this image's (as it is now) unless -b names
      // another image.
      qcow2::StoredBitmap* src = find(source_list ? *source_list : t.bitmaps, a.source);
      if (src == nullptr) return not_found(a.source);
      if (src->in_use()) return inconsistent(a.source);
      if (source_size != t.image.size())
        return "Bitmaps are of different sizes (destination size is " +
               std::to_string(t.image.size()) + ", source size is " + std::to_string(source_size) +
               ") and can't be merged";
      const qcow2::StoredBitmap copy = *src;  // src may be bm itself
      qcow2::merge_bitmap_bits(*bm, copy, t.image.size());
      bm->rewrite = true;
      break;
    }
    case Act::kAdd:
      break;
  }
  t.changed = true;
  return "";
}

}  // namespace

int run_bitmap(int argc, char** argv) {
  enum LongOnly { kObject = 256, kImageOpts, kAdd, kRemove, kClear, kEnable, kDisable, kMerge };
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 {"object", required_argument, nullptr, kObject},
                                 {"image-opts", no_argument, nullptr, kImageOpts},
                                 {"add", no_argument, nullptr, kAdd},
                                 {"remove", no_argument, nullptr, kRemove},
                                 {"clear", no_argument, nullptr, kClear},
                                 {"enable", no_argument, nullptr, kEnable},
                                 {"disable", no_argument, nullptr, kDisable},
                                 {"merge", required_argument, nullptr, kMerge},
                                 {"granularity", required_argument, nullptr, 'g'},
                                 {"source-file", required_argument, nullptr, 'b'},
                                 {"source-format", required_argument, nullptr, 'F'},
                                 {nullptr, 0, nullptr, 0}};
  std::vector<Action> actions;
  std::string format, source_file, source_format;
  bool has_source_format = false, add = false, merge = false, image_opts = false;
  uint64_t granularity = 0;
  Secrets secrets;
  reset_getopt();
  int c;
  while ((c = getopt_long(argc, argv, ":b:f:F:g:h", kLong, nullptr)) != -1) {
    switch (c) {
      case 'h':
        std::fputs(usage_text().c_str(), stdout);
        return 0;
      case 'b':
        source_file = optarg;
        break;
      case 'f':
        format = optarg;
        break;
      case 'F':
        source_format = optarg;
        has_source_format = true;
        break;
      case 'g': {
        auto g = parse_size(optarg);
        if (!g.ok() || *g > kMaxImageSize)
          return report_error_lines(invalid_size_message("granularity"));
        granularity = *g;
        break;
      }
      case kAdd:
        actions.push_back({Act::kAdd, ""});
        add = true;
        break;
      case kRemove:
        actions.push_back({Act::kRemove, ""});
        break;
      case kClear:
        actions.push_back({Act::kClear, ""});
        break;
      case kEnable:
        actions.push_back({Act::kEnable, ""});
        break;
      case kDisable:
        actions.push_back({Act::kDisable, ""});
        break;
      case kMerge:
        actions.push_back({Act::kMerge, optarg});
        merge = true;
        break;
      case kObject:
        if (auto r = secrets.add_object(optarg); !r.ok()) return report_error(r.error());
        break;
      case kImageOpts:
        image_opts = true;
        break;
      default:
        return usage_error(getopt_error(c, argv));
    }
  }
  if (actions.empty())
    return report_error(
        "Need at least one of --add, --remove, --clear, --enable, --disable, or --merge");
  if (granularity != 0 && !add) return report_error("granularity only supported with --add");
  if (has_source_format && source_file.empty()) return report_error("-F only supported with -b");
  if (!source_file.empty() && !merge)
    return report_error("Merge bitmap source file only supported with --merge");
  if (optind != argc - 2) return report_error("Expecting filename and bitmap name");
  const std::string name = argv[optind + 1];

  auto ref = resolve_image(argv[optind], image_opts, format, secrets);
  if (!ref.ok()) return report_error(ref.error());
  OpenOptions o;
  o.access = io::Access::kReadWrite;
  o.backing = BackingMode::kNone;
  o.keep_bitmaps = true;
  apply(*ref, o);
  auto image = open_image(ref->path, o);
  if (!image.ok())
    return report_error("Could not open '" + ref->name + "': " + error_text(image.error()));
  if (!o.format && (*image)->format() == ImageFormat::kRaw) warn_probed_raw(ref->path);
  std::unique_ptr<Image> source;
  Bitmaps source_bitmaps;
  uint64_t source_size = (*image)->size();
  if (!source_file.empty()) {
    auto sref = resolve_image(source_file, false, source_format, secrets);
    if (!sref.ok()) return report_error(sref.error());
    OpenOptions so;
    so.backing = BackingMode::kNone;
    apply(*sref, so);
    auto opened = open_image(sref->path, so);
    if (!opened.ok())
      return report_error("Could not open '" + source_file + "': " + error_text(opened.error()));
    source = std::move(*opened);
    source_size = source->size();
    auto loaded = qcow2::load_bitmaps(*source);
    if (!loaded.ok()) return report_error(loaded.error());
    source_bitmaps = std::move(*loaded);
  }
  auto loaded = qcow2::load_bitmaps(**image);
  if (!loaded.ok())
    return report_error("Could not open '" + ref->name + "': " + error_text(loaded.error()));
  Bitmaps bitmaps = std::move(*loaded);
  bool changed = false;
  int status = 0;
  for (const auto& a : actions) {
    std::string err = do_action(Target{**image, bitmaps, changed}, a, name, granularity,
                                source ? &source_bitmaps : nullptr, source_size);
    if (!err.empty()) {
      status = report_error("Operation " + std::string(op_name(a.act)) + " on bitmap " + name +
                            " failed: " + err);
      break;
    }
  }
  if (changed) {
    if (auto r = qcow2::store_bitmaps(**image, bitmaps); !r.ok())
      return report_error("Failed to store bitmaps: " + error_text(r.error()));
  }
  if (auto r = (*image)->close(); !r.ok()) return report_error(r.error());
  return status;
}

}  // namespace amber::block::tool
