// SPDX-License-Identifier: GPL-2.0-or-later
// amber-cat: dumps an image's guest content, read through the Amber block
// engine (open_image + read), into a raw file. The integration tests compare
// that file with `qemu-img convert -O raw` output of the same image.
//
// Usage: amber-cat [-f FMT] [-U] [-c CHUNK] IMAGE OUTPUT
// Zero chunks are skipped (the output is sparse); exit 1 with one stderr
// line on any error.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "tests/integration/block/helpers/helper_util.h"

using namespace amber;

int main(int argc, char** argv) {
  const std::string program = "amber-cat";
  block::OpenOptions options;
  uint64_t chunk = 1 << 20;
  int opt;
  while ((opt = getopt(argc, argv, "f:Uc:")) != -1) {
    switch (opt) {
      case 'f': {
        auto format = block::parse_format(optarg);
        if (!format.ok()) test::die(program, format.error().message());
        options.format = *format;
        break;
      }
      case 'U':
        options.sharing = block::Sharing::kForceShare;
        break;
      case 'c':
        chunk = test::parse_number(program, optarg);
        break;
      default:
        test::die(program, "usage: amber-cat [-f FMT] [-U] [-c CHUNK] IMAGE OUTPUT");
    }
  }
  if (argc - optind != 2 || chunk == 0 || chunk % test::kSector != 0) {
    test::die(program, "usage: amber-cat [-f FMT] [-U] [-c CHUNK] IMAGE OUTPUT");
  }
  auto image = test::open_or_die(program, argv[optind], options);
  const int out = ::open(argv[optind + 1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (out < 0) test::die(program, std::string("cannot create output: ") + std::strerror(errno));

  std::vector<std::byte> buffer(chunk);
  const uint64_t size = image->size();
  for (uint64_t offset = 0; offset < size; offset += chunk) {
    const uint64_t length = std::min(chunk, size - offset);
    auto span = std::span(buffer.data(), length);
    auto read = image->read(offset, span);
    if (!read.ok()) {
      test::die(program, "read at " + std::to_string(offset) + ": " + read.error().message());
    }
    if (std::all_of(span.begin(), span.end(), [](std::byte b) { return b == std::byte{0}; })) {
      continue;
    }
    if (::pwrite(out, span.data(), length, static_cast<off_t>(offset)) !=
        static_cast<ssize_t>(length)) {
      test::die(program, std::string("write output: ") + std::strerror(errno));
    }
  }
  if (::ftruncate(out, static_cast<off_t>(size)) != 0 || ::close(out) != 0) {
    test::die(program, std::string("finish output: ") + std::strerror(errno));
  }
  auto closed = image->close();
  if (!closed.ok()) test::die(program, "close: " + closed.error().message());
  return 0;
}
