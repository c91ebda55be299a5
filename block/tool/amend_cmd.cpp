// SPDX-License-Identifier: GPL-2.0-or-later
// `amber-img amend`: qemu-img 7.2 amend for qcow2. -o takes the amend
// options qemu's qcow2 driver lists (compat, lazy_refcounts, size,
// refcount_bits, backing_file/backing_fmt, data_file, encrypt.*); Amber
// applies compat (upgrade and downgrade), lazy_refcounts, size and
// refcount_bits, takes backing_file/backing_fmt equal to the image's (as
// qemu-img 7.2, which changes them only through rebase), and refuses the
// others by name.
// Options only for creation get qemu-img's "only supported for image
// creation". Every option is parsed and checked before the image changes
// (but for the backing file, refused where qemu-img refuses it); the
// changes then go in qemu's order: upgrade, refcount width, (the backing
// file refusal), lazy refcounts, size, downgrade.
//
// Thread-safety: one call from main().
#include <getopt.h>

#include <cstdio>
#include <optional>
#include <string>

#include "block/image.h"
#include "block/qcow2/qcow2.h"
#include "block/tool/command.h"
#include "block/tool/options.h"
#include "block/tool/progress.h"

namespace amber::block::tool {
namespace {

constexpr const char* kAmendHelp =
    "Amend options for 'qcow2':\n"
    "  backing_file=<str>     - File name of a base image\n"
    "  backing_fmt=<str>      - Image format of the base image\n"
    "  compat=<str>           - Compatibility level (v2 [0.10] or v3 [1.1])\n"
    "  data_file=<str>        - File name of an external data file\n"
    "  data_file_raw=<bool (on/off)> - The external data file must stay valid as a raw image\n"
    "  encrypt.iter-time=<num> - Time to spend in PBKDF in milliseconds\n"
    "  encrypt.keyslot=<num>  - Select a single keyslot to modify explicitly\n"
    "  encrypt.new-secret=<str> - New secret to set in the matching keyslots. Empty string to "
    "erase\n"
    "  encrypt.old-secret=<str> - Select all keyslots that match this password\n"
    "  encrypt.state=<str>    - Select new state of affected keyslots (active/inactive)\n"
    "  lazy_refcounts=<bool (on/off)> - Postpone refcount updates\n"
    "  refcount_bits=<num>    - Width of a reference count entry in bits\n"
    "  size=<size>            - Virtual disk size\n";

// Creation options qemu-img knows for qcow2 that amend does not take.
constexpr const char* kCreateOnly[] = {
    "cluster_size",        "preallocation",     "compression_type",       "extended_l2",
    "encryption",          "encrypt.format",    "encrypt.key-secret",     "encrypt.cipher-alg",
    "encrypt.cipher-mode", "encrypt.ivgen-alg", "encrypt.ivgen-hash-alg", "encrypt.hash-alg"};

bool create_only(const std::string& key) {
  for (const char* k : kCreateOnly)
    if (key == k) return true;
  return false;
}

}  // namespace

int run_amend(int argc, char** argv) {
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 {"object", required_argument, nullptr, 'J'},
                                 {"image-opts", no_argument, nullptr, 'I'},
                                 {"force", no_argument, nullptr, 'F'},
                                 {nullptr, 0, nullptr, 0}};
  std::string format, cache = "writeback", joined;
  bool quiet = false, progress = false, have_options = false;
  reset_getopt();
  int c;
  while ((c = getopt_long(argc, argv, ":ho:f:t:pq", kLong, nullptr)) != -1) {
    switch (c) {
      case 'h':
        std::fputs(usage_text().c_str(), stdout);
        return 0;
      case 'o':
        if (!joined.empty()) joined += ',';
        joined += optarg;
        have_options = true;
        break;
      case 'f':
        format = optarg;
        break;
      case 't':
        cache = optarg;
        break;
      case 'p':
        progress = true;
        break;
      case 'q':
        quiet = true;
        break;
      case 'F':
        break;  // --force: for LUKS keyslot changes, which Amber does not make
      case 'I':
      case 'J':
        return report_error("--image-opts and --object are not supported");
      default:
        return usage_error(getopt_error(c, argv));
    }
  }
  if (quiet) progress = false;
  if (!have_options) return usage_error("Must specify options (-o)");
  auto list = parse_option_list(joined);
  if (!list.ok()) return report_error(list.error().context());
  bool help = false;
  for (const auto& kv : *list) help = help || kv.key == "help";
  if (optind >= argc) {
    if (help) {
      std::fputs(kAmendHelp, stdout);
      return 0;
    }
    return usage_error("Expecting one image file name");
  }
  if (argc - optind > 1) return usage_error("Expecting one image file name");
  const std::string name = argv[optind];
  auto mode = io::parse_cache_mode(cache);
  if (!mode.ok()) return report_error("Invalid cache option: " + cache);
  auto fmt = parse_format_option(format, name);
  if (!fmt.ok()) return report_error(fmt.error().context());

  OpenOptions o;
  o.format = *fmt;
  o.access = io::Access::kReadWrite;
  o.cache = *mode;
  auto opened = open_image(host_path(name), o);
  if (!opened.ok())
    return report_error("Could not open '" + name + "': " + error_text(opened.error()));
  Image& image = **opened;
  if (image.format() != ImageFormat::kQcow2)
    return report_error("Format driver '" + std::string(to_string(image.format())) +
                        "' does not support option amendment");
  if (help) {
    std::fputs(kAmendHelp, stdout);
    return 0;
  }
  auto info = image.info();
  if (!info.ok() || !info->qcow2) return report_error("Could not read the image header");
  unsigned version = info->qcow2->version;
  bool lazy = info->qcow2->lazy_refcounts;
  const unsigned old_version = version;
  const bool old_lazy = lazy;
  std::optional<uint64_t> new_size;
  unsigned refcount_bits = info->qcow2->refcount_bits;
  std::optional<std::string> backing_file, backing_fmt;
  for (const auto& kv : *list) {
    const std::string& k = kv.key;
    const std::string& v = kv.value;
    if (k == "compat") {
      if (v == "0.10" || v == "v2")
        version = 2;
      else if (v == "1.1" || v == "v3")
        version = 3;
      else
        return report_error("Unknown compatibility level " + v);
    } else if (k == "lazy_refcounts") {
      auto b = parse_bool(v, k);
      if (!b.ok()) return report_error(b.error().context());
      lazy = *b;
    } else if (k == "size") {
      auto s = parse_size(v);
      if (!s.ok())
        return report_error(
            "Parameter 'size' expects a non-negative number below 2^64\n"
            "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n"
            "and exabytes, respectively.");
      new_size = *s;
    } else if (k == "refcount_bits") {
      auto bits = parse_number(v);
      if (!bits.ok()) return report_error("Parameter 'refcount_bits' expects a number");
      if (*bits == 0 || *bits > 64 || (*bits & (*bits - 1)) != 0)
        return report_error("Refcount width must be a power of two and may not exceed 64 bits");
      refcount_bits = static_cast<unsigned>(*bits);
    } else if (k == "backing_file") {
      backing_file = v;
    } else if (k == "backing_fmt") {
      backing_fmt = v;
    } else if (k == "data_file" || k == "data_file_raw" || k.rfind("encrypt.", 0) == 0) {
      return report_error("Option '" + k + "' is not supported yet");
    } else if (create_only(k)) {
      return report_error("Invalid parameter '" + k +
                          "'\nThis option is only supported for image creation");
    } else {
      return report_error("Invalid parameter '" + k + "'");
    }
  }
  if (lazy && !old_lazy && version < 3)
    return report_error(
        "Lazy refcounts only supported with compatibility level 1.1 and above (use compat=1.1 "
        "or greater)");
  if (version < 3) lazy = false;
  if (refcount_bits != info->qcow2->refcount_bits && version < 3 && refcount_bits != 16)
    return report_error(
        "Refcount widths other than 16 bits require compatibility level 1.1 or above (use "
        "compat=1.1 or greater)");
  // qemu-img 7.2 takes backing_file / backing_fmt only as they are (both
  // compared, an absent one with none in the image); rebase changes them.
  auto same_as = [](const std::optional<std::string>& given, const std::string& stored) {
    return given ? !stored.empty() && *given == stored : stored.empty();
  };
  const bool backing_refused =
      (backing_file || backing_fmt) && (!same_as(backing_file, info->backing_filename) ||
                                        !same_as(backing_fmt, info->backing_format));

  ProgressMeter meter(progress);
  meter.print(0);
  auto fail = [&](const Error& e) {
    meter.end();
    return report_error(error_text(e));
  };
  // -p prints what qemu-img's amend status callback prints: an upgrade
  // reports its two steps (0, 50, 100), a downgrade its end.
  if (version > old_version) {
    meter.print(0);
    if (auto r = qcow2::amend_features(image, 3, false); !r.ok()) return fail(r.error());
    meter.print(50);
    meter.print(100);
  }
  if (refcount_bits != info->qcow2->refcount_bits) {
    if (auto r = qcow2::change_refcount_bits(image, refcount_bits); !r.ok()) return fail(r.error());
  }
  // As in qemu-img, the upgrade and the new width stay when this refuses.
  if (backing_refused) {
    (void)image.close();
    meter.end();
    return report_error("Cannot amend the backing file\nYou can use 'qemu-img rebase' instead.");
  }
  if (version == 3 && lazy != (version > old_version ? false : old_lazy)) {
    if (auto r = qcow2::amend_features(image, 3, lazy); !r.ok()) return fail(r.error());
  }
  if (new_size && *new_size != image.size()) {
    if (auto r = image.resize(*new_size, Preallocation::kOff); !r.ok()) return fail(r.error());
  }
  if (version < old_version) {
    if (auto r = qcow2::amend_features(image, 2, false); !r.ok()) return fail(r.error());
    meter.print(100);
  }
  if (auto r = image.close(); !r.ok()) return fail(r.error());
  meter.print(100);
  meter.end();
  return 0;
}

}  // namespace amber::block::tool
