// SPDX-License-Identifier: GPL-2.0-or-later
// `amber-img compare`: compares the guest-visible contents of two images
// (qemu-img compare's non-strict mode: unallocated == zeros, and a size
// difference is fine when the longer image's tail reads as zeros).
// Exit: 0 identical, 1 different, 2 open error, 4 read error.
#include <getopt.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <vector>

#include "block/check.h"
#include "block/image.h"
#include "block/tool/command.h"
#include "block/tool/image_args.h"

namespace amber::block::tool {
namespace {

constexpr uint64_t kChunk = 1 << 20;  // bytes compared per read

// Offset of the first 512-byte sector where a and b differ, or `length`.
uint64_t first_difference(const std::vector<std::byte>& a, const std::vector<std::byte>& b,
                          uint64_t length) {
  for (uint64_t s = 0; s < length; s += kSectorSize) {
    const uint64_t n = std::min(kSectorSize, length - s);
    if (!std::equal(a.begin() + long(s), a.begin() + long(s + n), b.begin() + long(s))) return s;
  }
  return length;
}

}  // namespace

int run_compare(int argc, char** argv) {
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 {"force-share", no_argument, nullptr, 'U'},
                                 {"image-opts", no_argument, nullptr, 'I'},
                                 {"object", required_argument, nullptr, 'o'},
                                 {nullptr, 0, nullptr, 0}};
  std::string fmt1, fmt2;
  bool quiet = false, strict = false, image_opts = false;
  Secrets secrets;
  OpenOptions o;
  reset_getopt();
  int c;
  while ((c = getopt_long(argc, argv, ":hf:F:T:pqsU", kLong, nullptr)) != -1) {
    switch (c) {
      case 'f':
        fmt1 = optarg;
        break;
      case 'F':
        fmt2 = optarg;
        break;
      case 'T':
        break;
      case 'p':
        break;
      case 'q':
        quiet = true;
        break;
      case 's':
        strict = true;
        break;
      case 'U':
        o.sharing = Sharing::kForceShare;
        break;
      case 'I':
        image_opts = true;
        break;
      case 'o':
        if (auto r = secrets.add_object(optarg); !r.ok()) return report_error(r.error()) + 1;
        break;
      case 'h':
        std::fputs(usage_text().c_str(), stdout);
        return 0;
      default:
        usage_error(getopt_error(c, argv));
        return 2;
    }
  }
  if (optind != argc - 2) {
    usage_error("Expecting two image file names");
    return 2;
  }
  std::unique_ptr<Image> images[2];
  const std::string* formats[2] = {&fmt1, &fmt2};
  for (int i = 0; i < 2; ++i) {
    OpenOptions oi = o;
    if (!formats[i]->empty() && !image_opts) {
      auto f = parse_format(*formats[i]);
      if (!f.ok()) return report_error(f.error()) + 1;
    }
    auto ref = resolve_image(argv[optind + i], image_opts, *formats[i], secrets);
    if (!ref.ok()) return report_error(ref.error()) + 1;
    apply(*ref, oi);
    auto image = open_image(ref->path, oi);
    if (!image.ok())
      return report_error("Could not open '" + ref->path + "': " + error_text(image.error())) + 1;
    images[i] = std::move(*image);
  }
  const uint64_t size1 = images[0]->size(), size2 = images[1]->size();
  if (size1 != size2 && strict) {
    if (!quiet) std::printf("Strict mode: Image size mismatch!\n");
    return 1;
  }
  const uint64_t common = std::min(size1, size2) / kSectorSize * kSectorSize;
  std::vector<std::byte> a(kChunk), b(kChunk);
  for (uint64_t offset = 0; offset < common; offset += kChunk) {
    const uint64_t n = std::min(kChunk, common - offset);
    if (!images[0]->read(offset, std::span(a.data(), n)).ok() ||
        !images[1]->read(offset, std::span(b.data(), n)).ok())
      return report_error("Error while reading offset " + std::to_string(offset)) + 3;
    const uint64_t d = first_difference(a, b, n);
    if (d < n) {
      if (!quiet) std::printf("Content mismatch at offset %" PRIu64 "!\n", offset + d);
      return 1;
    }
  }
  if (size1 != size2) {
    if (!quiet) std::printf("Warning: Image size mismatch!\n");
    Image& longer = size1 > size2 ? *images[0] : *images[1];
    const uint64_t end = std::max(size1, size2) / kSectorSize * kSectorSize;
    std::fill(b.begin(), b.end(), std::byte{0});
    for (uint64_t offset = common; offset < end; offset += kChunk) {
      const uint64_t n = std::min(kChunk, end - offset);
      if (!longer.read(offset, std::span(a.data(), n)).ok())
        return report_error("Error while reading offset " + std::to_string(offset)) + 3;
      const uint64_t d = first_difference(a, b, n);
      if (d < n) {
        if (!quiet) std::printf("Content mismatch at offset %" PRIu64 "!\n", offset + d);
        return 1;
      }
    }
  }
  if (!quiet) std::printf("Images are identical.\n");
  return 0;
}

}  // namespace amber::block::tool
