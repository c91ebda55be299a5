// SPDX-License-Identifier: GPL-2.0-or-later
// `amber-img amend`: qemu-img 7.2 amend for qcow2. -o takes the amend
// options qemu's qcow2 driver lists (compat, lazy_refcounts, size,
// refcount_bits, backing_file/backing_fmt, data_file, encrypt.*); Amber
// applies compat (upgrade and downgrade), lazy_refcounts, size,
// refcount_bits and the LUKS key slot changes (encrypt.state, keyslot,
// old-secret, new-secret, iter-time; for a raw LUKS image the same names
// without the prefix), takes backing_file/backing_fmt equal to the
// image's (as qemu-img 7.2, which changes them only through rebase), and
// refuses data_file by name. The passphrase that unlocks the image comes
// from --object secret,... and --image-opts, as in qemu-img.
// Options only for creation get qemu-img's "only supported for image
// creation". Every option is parsed and checked before the image changes
// (but for the backing file, refused where qemu-img refuses it); the
// changes then go in qemu's order: upgrade, key slots, refcount width,
// (the backing file refusal), lazy refcounts, size, downgrade.
//
// Thread-safety: one call from main().
#include <getopt.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "block/crypto/luks.h"
#include "block/crypto/luks_image.h"
#include "block/image.h"
#include "block/qcow2/qcow2.h"
#include "block/tool/command.h"
#include "block/tool/image_args.h"
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

constexpr const char* kLuksAmendHelp =
    "Amend options for 'luks':\n"
    "  iter-time=<num>        - Time to spend in PBKDF in milliseconds\n"
    "  keyslot=<num>          - Select a single keyslot to modify explicitly\n"
    "  new-secret=<str>       - New secret to set in the matching keyslots. Empty string to "
    "erase\n"
    "  old-secret=<str>       - Select all keyslots that match this password\n"
    "  state=<str>            - Select new state of affected keyslots (active/inactive)\n";

// Creation options of qemu's luks driver that amend does not take.
constexpr const char* kLuksCreateOnly[] = {
    "key-secret", "cipher-alg", "cipher-mode", "ivgen-alg", "hash-alg", "ivgen-hash-alg", "size"};

bool create_only(const std::string& key) {
  for (const char* k : kCreateOnly)
    if (key == k) return true;
  return false;
}

bool luks_create_only(const std::string& key) {
  for (const char* k : kLuksCreateOnly)
    if (key == k) return true;
  return false;
}

// QemuOpts' number parse (qemu_strtou64, base 0, a sign wraps).
std::optional<uint64_t> opts_number(const std::string& text) {
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text.c_str(), &end, 0);
  if (end == text.c_str() || *end != '\0' || errno == ERANGE) return std::nullopt;
  return v;
}

// The QAPI visitor's int parse of the same string (qemu_strtoi64).
std::optional<int64_t> qapi_int(const std::string& text) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 0);
  if (end == text.c_str() || *end != '\0' || errno == ERANGE) return std::nullopt;
  return v;
}

// The key slot options as given (the prefix removed), last one winning.
struct SlotOptions {
  bool any = false;
  std::optional<std::string> state, keyslot, old_secret, new_secret, iter_time;
};

// Takes `key` (without prefix) if it is a key slot option; a number that
// QemuOpts would refuse is refused with the name as given.
Result<bool> take_slot_option(SlotOptions& so, const std::string& key, const std::string& name,
                              const std::string& value) {
  std::optional<std::string>* slot = nullptr;
  if (key == "state") slot = &so.state;
  if (key == "keyslot") slot = &so.keyslot;
  if (key == "old-secret") slot = &so.old_secret;
  if (key == "new-secret") slot = &so.new_secret;
  if (key == "iter-time") slot = &so.iter_time;
  if (slot == nullptr) return false;
  if ((key == "keyslot" || key == "iter-time") && !opts_number(value))
    return Error(ErrorKind::kInvalidArgument, "Parameter '" + name + "' expects a number");
  *slot = value;
  so.any = true;
  return true;
}

// block_crypto_amend_opts_init: the QAPI conversion, in its field order.
Result<crypto::LuksAmendOptions> slot_amend_options(const SlotOptions& so, bool force,
                                                    const Secrets& secrets) {
  crypto::LuksAmendOptions o;
  if (!so.state) return Error(ErrorKind::kInvalidArgument, "Parameter 'state' is missing");
  if (*so.state == "active")
    o.activate = true;
  else if (*so.state != "inactive")
    return Error(ErrorKind::kInvalidArgument,
                 "Parameter 'state' does not accept value '" + *so.state + "'");
  o.new_secret = so.new_secret;
  o.old_secret = so.old_secret;
  if (so.keyslot) {
    auto v = qapi_int(*so.keyslot);
    if (!v) return Error(ErrorKind::kInvalidArgument, "Parameter 'keyslot' expects integer");
    o.keyslot = *v;
  }
  if (so.iter_time) {
    auto v = qapi_int(*so.iter_time);
    if (!v) return Error(ErrorKind::kInvalidArgument, "Parameter 'iter-time' expects integer");
    o.iter_time_ms = static_cast<uint64_t>(*v);
  }
  o.force = force;
  o.lookup = [&secrets](const std::string& id) { return secrets.find(id); };
  return o;
}

}  // namespace

int run_amend(int argc, char** argv) {
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 {"object", required_argument, nullptr, 'J'},
                                 {"image-opts", no_argument, nullptr, 'I'},
                                 {"force", no_argument, nullptr, 'F'},
                                 {nullptr, 0, nullptr, 0}};
  std::string format, cache = "writeback", joined;
  bool quiet = false, progress = false, have_options = false, image_opts = false, force = false;
  Secrets secrets;
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
        force = true;
        break;
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
  auto ref = resolve_image(name, image_opts, format, secrets);
  if (!ref.ok()) {
    // The unlocking secret is looked up when qemu-img opens the image.
    const std::string& why = ref.error().context();
    if (why.rfind("No secret with id", 0) == 0)
      return report_error("Could not open '" + name + "': " + why);
    return report_error(why);
  }

  OpenOptions o;
  apply(*ref, o);
  o.access = io::Access::kReadWrite;
  o.cache = *mode;
  auto opened = open_image(ref->path, o);
  if (!opened.ok())
    return report_error("Could not open '" + name + "': " + error_text(opened.error()));
  Image& image = **opened;
  if (image.format() == ImageFormat::kLuks) {
    if (help) {
      std::fputs(kLuksAmendHelp, stdout);
      return 0;
    }
    SlotOptions so;
    for (const auto& kv : *list) {
      auto taken = take_slot_option(so, kv.key, kv.key, kv.value);
      if (!taken.ok()) return report_error(taken.error().context());
      if (*taken) continue;
      if (luks_create_only(kv.key))
        return report_error("Invalid parameter '" + kv.key +
                            "'\nThis option is only supported for image creation");
      return report_error("Invalid parameter '" + kv.key + "'");
    }
    if (so.any) {
      auto lo = slot_amend_options(so, force, secrets);
      if (!lo.ok()) return report_error(lo.error().context());
      if (auto r = crypto::amend_luks_image(image, *lo); !r.ok())
        return report_error(error_text(r.error()));
    }
    if (auto r = image.close(); !r.ok()) return report_error(error_text(r.error()));
    return 0;
  }
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
  std::optional<std::string> backing_file, backing_fmt, compat;
  std::optional<uint64_t> refcount_given;
  SlotOptions so;
  for (const auto& kv : *list) {
    const std::string& k = kv.key;
    const std::string& v = kv.value;
    if (k.rfind("encrypt.", 0) == 0) {
      auto taken = take_slot_option(so, k.substr(8), k, v);
      if (!taken.ok()) return report_error(taken.error().context());
      if (*taken) continue;
    }
    if (k == "compat") {
      compat = v;
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
      refcount_given = *bits;
    } else if (k == "backing_file") {
      backing_file = v;
    } else if (k == "backing_fmt") {
      backing_fmt = v;
    } else if (k == "data_file" || k == "data_file_raw") {
      return report_error("Option '" + k + "' is not supported yet");
    } else if (create_only(k)) {
      return report_error("Invalid parameter '" + k +
                          "'\nThis option is only supported for image creation");
    } else {
      return report_error("Invalid parameter '" + k + "'");
    }
  }
  // qcow2_amend_options meets the encrypt.* options first.
  if (so.any) {
    if (info->qcow2->crypt_method == 0)
      return report_error("Can't amend encryption options - encryption not present");
    if (info->qcow2->crypt_method != 2)
      return report_error("Only LUKS encryption options can be amended");
  }
  if (compat) {
    const std::string& v = *compat;
    if (v == "0.10" || v == "v2")
      version = 2;
    else if (v == "1.1" || v == "v3")
      version = 3;
    else
      return report_error("Unknown compatibility level " + v);
  }
  if (refcount_given) {
    const uint64_t bits = *refcount_given;
    if (bits == 0 || bits > 64 || (bits & (bits - 1)) != 0)
      return report_error("Refcount width must be a power of two and may not exceed 64 bits");
    refcount_bits = static_cast<unsigned>(bits);
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
  if (so.any) {
    auto lo = slot_amend_options(so, force, secrets);
    if (!lo.ok()) return fail(lo.error());
    if (auto r = qcow2::amend_encryption(image, *lo); !r.ok()) return fail(r.error());
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
