// SPDX-License-Identifier: GPL-2.0-or-later
// `amber-img resize`: grows (or with --shrink shrinks) an image, as
// qemu-img resize, including "+SIZE" / "-SIZE" relative sizes.
#include <getopt.h>

#include <cstdio>

#include "block/check.h"
#include "block/image.h"
#include "block/tool/command.h"
#include "block/tool/image_args.h"
#include "block/tool/options.h"

namespace amber::block::tool {

int run_resize(int argc, char** argv) {
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 {"preallocation", required_argument, nullptr, 'P'},
                                 {"shrink", no_argument, nullptr, 'S'},
                                 {"image-opts", no_argument, nullptr, 'I'},
                                 {"object", required_argument, nullptr, 'o'},
                                 {nullptr, 0, nullptr, 0}};
  // The size is always the last argument, taken before getopt so that
  // "-1G" is not read as an option.
  if (argc < 3) return usage_error("Not enough arguments");
  const std::string size_text = argv[--argc];
  std::string format;
  bool quiet = false, shrink = false, image_opts = false;
  Secrets secrets;
  Preallocation prealloc = Preallocation::kOff;
  reset_getopt();
  int c;
  while ((c = getopt_long(argc, argv, ":f:hq", kLong, nullptr)) != -1) {
    switch (c) {
      case 'f':
        format = optarg;
        break;
      case 'q':
        quiet = true;
        break;
      case 'S':
        shrink = true;
        break;
      case 'P': {
        auto p = parse_preallocation(optarg);
        if (!p.ok())
          return report_error("Invalid preallocation mode '" + std::string(optarg) + "'");
        prealloc = *p;
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
  if (int status = check_single_image_args(argc); status != 0) return status;
  auto ref = resolve_image(argv[optind], image_opts, format, secrets);
  if (!ref.ok()) return report_error(ref.error());
  const std::string filename = ref->path;

  int sign = 0;
  std::string_view number = size_text;
  if (!number.empty() && (number[0] == '+' || number[0] == '-')) {
    sign = number[0] == '+' ? 1 : -1;
    number.remove_prefix(1);
  }
  auto amount = parse_size(number);
  if (!amount.ok() || *amount > kMaxImageSize)
    return report_error(
        "Parameter 'size' expects a non-negative number below 2^64\nOptional suffix k, M, G, T, P "
        "or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.");

  OpenOptions o;
  o.access = io::Access::kReadWrite;
  // As qemu-img, an encrypted image is unlocked (its key is required).
  apply(*ref, o);
  auto image = open_image(filename, o);
  if (!image.ok())
    return report_error("Could not open '" + filename + "': " + error_text(image.error()));
  if (!o.format && (*image)->format() == ImageFormat::kRaw && o.access == io::Access::kReadWrite)
    warn_probed_raw(filename);
  Image& img = **image;
  const uint64_t current = img.size();
  uint64_t new_size = *amount;
  if (sign > 0) {
    if (*amount > kMaxImageSize - current) return report_error("New image size is too large");
    new_size = current + *amount;
  } else if (sign < 0) {
    if (*amount >= current) return report_error("New image size must be positive");
    new_size = current - *amount;
  }
  if (new_size < current && !shrink) {
    report_error("Use the --shrink option to perform a shrink operation.");
    report_error(
        "warning: Shrinking an image will delete all data beyond the shrunken image's end. Before "
        "performing such an operation, make sure there is no important data there.");
    return 1;
  }
  if (new_size < current && prealloc != Preallocation::kOff)
    return report_error("Preallocation can only be used for growing images");
  if (auto r = img.resize(new_size, prealloc); !r.ok()) return report_error(r.error());
  if (auto r = img.close(); !r.ok()) return report_error(r.error());
  if (!quiet) std::printf("Image resized.\n");
  return 0;
}

}  // namespace amber::block::tool
