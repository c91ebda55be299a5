// SPDX-License-Identifier: GPL-2.0-or-later
// `amber-img dd`: qemu-img 7.2 dd. `dd [--image-opts] [-U] [--object ...]
// [-f fmt] [-O output_fmt] [bs=N] [count=N] [skip=N] if=IN of=OUT`
// creates OUT (default raw) and copies IN into it block by block, as
// qemu-img: the output's size is the input's, or count*bs when smaller,
// less skip*bs (count counts from the input's start, skipped blocks
// included); a skip past the end gives an empty output and qemu-img's
// "cannot skip" line with exit status 0. Every block is written, zeros
// included. Operands are checked in order with qemu-img's messages; the
// last of a repeated operand wins.
//
// Thread-safety: one call from main().
#include <getopt.h>

#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "block/create.h"
#include "block/image.h"
#include "block/tool/command.h"
#include "block/tool/image_args.h"
#include "block/tool/options.h"

namespace amber::block::tool {
namespace {

// qemu's cvtnum_full: a size between `min` and `max`, with its two messages.
Result<uint64_t> dd_number(std::string_view name, std::string_view text, uint64_t min,
                           uint64_t max) {
  auto v = parse_size(text);
  if (!v.ok() && v.error().kind() == ErrorKind::kInvalidArgument)
    return Error(ErrorKind::kInvalidArgument, invalid_size_message(name));
  if (!v.ok() || *v < min || *v > max)
    return Error(ErrorKind::kInvalidArgument,
                 "Invalid " + std::string(name) + " specified. Must be between " +
                     std::to_string(min) + " and " + std::to_string(max) + ".");
  return *v;
}

}  // namespace

int run_dd(int argc, char** argv) {
  enum LongOnly { kObject = 256, kImageOpts };
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 {"object", required_argument, nullptr, kObject},
                                 {"image-opts", no_argument, nullptr, kImageOpts},
                                 {"force-share", no_argument, nullptr, 'U'},
                                 {nullptr, 0, nullptr, 0}};
  std::string in_format, out_format = "raw";
  bool image_opts = false;
  Secrets secrets;
  OpenOptions in_open;
  in_open.access = io::Access::kReadOnly;
  reset_getopt();
  int c;
  while ((c = getopt_long(argc, argv, ":hf:O:U", kLong, nullptr)) != -1) {
    switch (c) {
      case 'f':
        in_format = optarg;
        break;
      case 'O':
        out_format = optarg;
        break;
      case 'U':
        in_open.sharing = Sharing::kForceShare;
        break;
      case 'h':
        std::fputs(usage_text().c_str(), stdout);
        return 0;
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

  uint64_t bs = 512, count = 0, skip = 0;
  bool has_count = false, has_skip = false, has_if = false, has_of = false;
  std::string in_name, out_name;
  for (int i = optind; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const size_t eq = arg.find('=');
    const std::string_view key = arg.substr(0, eq);
    if (eq == std::string_view::npos ||
        (key != "bs" && key != "count" && key != "if" && key != "of" && key != "skip"))
      return report_error("unrecognized operand " + std::string(eq == arg.npos ? arg : key));
    const std::string_view value = arg.substr(eq + 1);
    if (key == "bs") {
      auto v = dd_number("bs", value, 1, INT_MAX);
      if (!v.ok()) return report_error_lines(v.error().context());
      bs = *v;
    } else if (key == "count") {
      auto v = dd_number("count", value, 0, kMaxImageSize);
      if (!v.ok()) return report_error_lines(v.error().context());
      count = *v;
      has_count = true;
    } else if (key == "skip") {
      auto v = dd_number("skip", value, 0, kMaxImageSize);
      if (!v.ok()) return report_error_lines(v.error().context());
      skip = *v;
      has_skip = true;
    } else if (key == "if") {
      in_name = value;
      has_if = true;
    } else {
      out_name = value;
      has_of = true;
    }
  }
  if (!has_if || !has_of) return report_error("Must specify both input and output files");

  auto ref = resolve_image(in_name, image_opts, in_format, secrets);
  if (!ref.ok()) return report_error(ref.error().context());
  const std::string& shown = image_opts ? ref->path : in_name;
  apply(*ref, in_open);
  auto opened = open_image(ref->path, in_open);
  if (!opened.ok())
    return report_error("Could not open '" + shown + "': " + error_text(opened.error()));
  Image& in = **opened;

  auto format = parse_format(out_format);
  if (!format.ok()) return report_error("Unknown file format");

  uint64_t size = in.size();
  if (has_count && count <= kMaxImageSize / bs && count * bs < size) size = count * bs;
  const bool past_end = has_skip && (skip > kMaxImageSize / bs || size < skip * bs);
  CreateOptions co;
  co.format = *format;
  // As qemu's create (raw and qcow2): the size rounded up to a sector.
  co.size = (past_end ? 0 : size - skip * bs + kSectorSize - 1) / kSectorSize * kSectorSize;
  if (auto r = create_image(host_path(out_name), co); !r.ok())
    return report_error(out_name + ": error while creating output image: " + error_text(r.error()));
  OpenOptions out_open;
  out_open.format = *format;
  out_open.access = io::Access::kReadWrite;
  auto out_opened = open_image(host_path(out_name), out_open);
  if (!out_opened.ok())
    return report_error("Could not open '" + out_name + "': " + error_text(out_opened.error()));
  Image& out = **out_opened;

  uint64_t in_pos = skip * bs;
  if (past_end) {
    report_error(in_name + ": cannot skip to specified offset");
    in_pos = size;
  }
  std::vector<std::byte> buffer(bs);
  for (uint64_t out_pos = 0; in_pos < size;) {
    const uint64_t n = std::min(bs, size - in_pos);
    std::span<std::byte> chunk(buffer.data(), n);
    if (auto r = in.read(in_pos, chunk); !r.ok())
      return report_error("error while reading from input image file: " + error_text(r.error()));
    in_pos += n;
    if (auto r = out.write(out_pos, chunk); !r.ok())
      return report_error("error while writing to output image file: " + error_text(r.error()));
    out_pos += n;
  }
  if (auto r = out.close(); !r.ok())
    return report_error("error while writing to output image file: " + error_text(r.error()));
  return 0;
}

}  // namespace amber::block::tool
