// SPDX-License-Identifier: GPL-2.0-or-later
// `amber-img snapshot`: lists (-l), creates (-c), applies
// (-a) and deletes (-d) internal snapshots, as qemu-img 7.2's
// img_snapshot: the same options (no -f: qemu-img 7.2 has none here),
// messages and exit codes. The engine work is block/qcow2/snapshot_ops.cpp.
#include <getopt.h>

#include <cstdio>
#include <cstring>
#include <ctime>

#include "block/image.h"
#include "block/qcow2/qcow2.h"
#include "block/tool/command.h"
#include "block/tool/format.h"
#include "block/tool/image_args.h"

namespace amber::block::tool {
namespace {

enum class Action { kNone, kList, kCreate, kApply, kDelete };

// qemu-img copies the name into QEMUSnapshotInfo's 256-byte buffer.
constexpr size_t kQemuNameBytes = 255;

std::string errno_text(const Error& error, int fallback) {
  const int e = error.error_number() != 0 ? error.error_number() : fallback;
  return std::strerror(e);
}

void list(Image& image) {
  const auto snapshots = qcow2::list_snapshots(image);
  if (snapshots.empty()) return;
  std::string out = "Snapshot list:\n" + snapshot_table_header() + "\n";
  for (const auto& s : snapshots) out += snapshot_table_row(s) + "\n";
  std::fputs(out.c_str(), stdout);
}

}  // namespace

int run_snapshot(int argc, char** argv) {
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 {"object", required_argument, nullptr, 'o'},
                                 {"image-opts", no_argument, nullptr, 'I'},
                                 {"force-share", no_argument, nullptr, 'U'},
                                 {nullptr, 0, nullptr, 0}};
  Action action = Action::kNone;
  std::string name;
  bool force_share = false, image_opts = false;
  Secrets secrets;
  reset_getopt();
  int c;
  while ((c = getopt_long(argc, argv, ":la:c:d:hqU", kLong, nullptr)) != -1) {
    switch (c) {
      case 'l':
      case 'a':
      case 'c':
      case 'd':
        if (action != Action::kNone) return usage_error("Cannot mix '-l', '-a', '-c', '-d'");
        action = c == 'l'   ? Action::kList
                 : c == 'a' ? Action::kApply
                 : c == 'c' ? Action::kCreate
                            : Action::kDelete;
        if (c != 'l') name = optarg;
        break;
      case 'q':
        break;  // qemu-img prints nothing else here to silence
      case 'U':
        force_share = true;
        break;
      case 'h':
        std::fputs(usage_text().c_str(), stdout);
        return 0;
      case 'I':
        image_opts = true;
        break;
      case 'o':
        if (auto r = secrets.add_object(optarg); !r.ok()) return report_error(r.error());
        break;
      case ':':
        return usage_error(std::string("missing argument for option '") + argv[optind - 1] + "'");
      default:
        return usage_error(getopt_error(c, argv));
    }
  }
  if (optind != argc - 1) return usage_error("Expecting one image file name");
  auto ref = resolve_image(argv[optind], image_opts, "", secrets);
  if (!ref.ok()) return report_error(ref.error());
  const std::string filename = ref->path;

  OpenOptions o;
  // Snapshots touch metadata only, but qemu-img unlocks an encrypted
  // image first, and so does amber-img (the same refusal without a key).
  apply(*ref, o);
  o.access = action == Action::kList ? io::Access::kReadOnly : io::Access::kReadWrite;
  if (force_share) {
    if (o.access == io::Access::kReadWrite)
      return report_error("Could not open '" + filename +
                          "': force-share=on can only be used with read-only images");
    o.sharing = Sharing::kForceShare;
  }
  auto image = open_image(filename, o);
  if (!image.ok())
    return report_error("Could not open '" + filename + "': " + error_text(image.error()));
  if ((*image)->format() == ImageFormat::kRaw && o.access == io::Access::kReadWrite)
    warn_probed_raw(filename);
  Image& img = **image;

  int status = 0;
  switch (action) {
    case Action::kNone:
      break;  // qemu-img opens the image read-write and does nothing
    case Action::kList:
      list(img);
      break;
    case Action::kCreate: {
      timespec now{};
      clock_gettime(CLOCK_REALTIME, &now);
      // qemu-img takes g_get_real_time(): microseconds.
      const auto sec = static_cast<uint32_t>(now.tv_sec);
      const auto nsec = static_cast<uint32_t>(now.tv_nsec / 1000 * 1000);
      auto made = qcow2::create_snapshot(img, name.substr(0, kQemuNameBytes), sec, nsec);
      if (!made.ok()) {
        const int e = made.error().error_number() != 0 ? made.error().error_number() : EIO;
        status = report_error("Could not create snapshot '" + name + "': -" + std::to_string(e) +
                              " (" + std::strerror(e) + ")");
      }
      break;
    }
    case Action::kApply: {
      auto applied = qcow2::apply_snapshot(img, name);
      if (!applied.ok()) {
        // QEMU's snapshot goto on a format without snapshots reopens the
        // file below it, which probes (and warns) once more.
        if (img.format() == ImageFormat::kRaw) warn_probed_raw(filename);
        const std::string why =
            img.format() == ImageFormat::kRaw
                ? applied.error().context()
                : "Failed to load snapshot: " + errno_text(applied.error(), EIO);
        status = report_error("Could not apply snapshot '" + name + "': " + why);
      }
      break;
    }
    case Action::kDelete: {
      auto deleted = qcow2::delete_snapshot(img, name);
      if (!deleted.ok()) {
        const Error& e = deleted.error();
        status = report_error(
            "Could not delete snapshot '" + name + "': " +
            (e.kind() == ErrorKind::kNotFound || img.format() == ImageFormat::kRaw
                 ? std::string("snapshot not found")
                 : "Failed to remove snapshot from snapshot list: " + errno_text(e, EIO)));
      }
      break;
    }
  }
  if (auto closed = img.close(); !closed.ok() && status == 0) status = report_error(closed.error());
  return status;
}

}  // namespace amber::block::tool
