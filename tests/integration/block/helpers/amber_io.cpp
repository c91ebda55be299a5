// SPDX-License-Identifier: GPL-2.0-or-later
// amber-io: applies a script of guest requests to an image through the
// Amber block engine, like a tiny qemu-io. Also used to hold an image open
// (the locking test keeps its stdin open while it probes with QEMU).
//
// Usage: amber-io [-f FMT] [-t CACHE] [-r] [-U] IMAGE < SCRIPT
// Prints "opened" once the image is open, then runs one command per line:
//   write OFF LEN BYTE     fill with BYTE
//   writep OFF LEN TAG     the sector pattern of helper_util.h with TAG
//   writec OFF LEN BYTE    fill with BYTE as compressed clusters (qcow2;
//                          OFF and LEN whole clusters, or up to the end)
//   zero OFF LEN [unmap]   write_zeroes (unmap: ZeroMode::kMayUnmap)
//   discard OFF LEN
//   read OFF LEN BYTE      read and verify every byte equals BYTE
//   flush
//   echo TEXT              print TEXT (a synchronisation point)
// At end of input the image is closed. Exit 1 with one stderr line on the
// first failing command.
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <sstream>
#include <vector>

#include "block/qcow2/image.h"
#include "tests/integration/block/helpers/helper_util.h"

using namespace amber;

namespace {

const std::string kProgram = "amber-io";

void check(const Result<void>& result, const std::string& line) {
  if (!result.ok()) test::die(kProgram, line + ": " + result.error().message());
}

void run_command(block::Image& image, const std::string& line) {
  std::istringstream in(line);
  std::string verb, a, b, c;
  in >> verb >> a >> b >> c;
  if (verb.empty() || verb[0] == '#') return;
  if (verb == "echo") {
    std::cout << line.substr(5) << std::endl;
    return;
  }
  if (verb == "flush") return check(image.flush(), line);
  const uint64_t offset = test::parse_number(kProgram, a);
  const uint64_t length = test::parse_number(kProgram, b);
  if (verb == "write" || verb == "writep") {
    std::vector<std::byte> data(length);
    if (verb == "write") {
      std::fill(data.begin(), data.end(), static_cast<std::byte>(test::parse_number(kProgram, c)));
    } else {
      test::fill_pattern(data, test::parse_number(kProgram, c), offset);
    }
    return check(image.write(offset, data), line);
  }
  if (verb == "writec") {
    auto* q = dynamic_cast<block::qcow2::Qcow2Image*>(&image);
    if (q == nullptr) test::die(kProgram, line + ": not a qcow2 image");
    const uint64_t cluster = q->cluster_size();
    for (uint64_t at = offset; at < offset + length; at += cluster) {
      std::vector<std::byte> data(std::min(cluster, offset + length - at),
                                  static_cast<std::byte>(test::parse_number(kProgram, c)));
      check(q->write_compressed(at, data), line);
    }
    return;
  }
  if (verb == "zero") {
    return check(
        image.write_zeroes(offset, length,
                           c == "unmap" ? block::ZeroMode::kMayUnmap : block::ZeroMode::kAllocate),
        line);
  }
  if (verb == "discard") return check(image.discard(offset, length), line);
  if (verb == "read") {
    std::vector<std::byte> data(length);
    check(image.read(offset, data), line);
    const auto expected = static_cast<std::byte>(test::parse_number(kProgram, c));
    for (uint64_t i = 0; i < length; ++i) {
      if (data[i] != expected) {
        test::die(kProgram, line + ": mismatch at offset " + std::to_string(offset + i));
      }
    }
    return;
  }
  test::die(kProgram, "unknown command: " + line);
}

}  // namespace

int main(int argc, char** argv) {
  block::OpenOptions options;
  options.access = block::io::Access::kReadWrite;
  int opt;
  while ((opt = getopt(argc, argv, "f:t:rU")) != -1) {
    switch (opt) {
      case 'f': {
        auto format = block::parse_format(optarg);
        if (!format.ok()) test::die(kProgram, format.error().message());
        options.format = *format;
        break;
      }
      case 't': {
        auto cache = block::io::parse_cache_mode(optarg);
        if (!cache.ok()) test::die(kProgram, cache.error().message());
        options.cache = *cache;
        break;
      }
      case 'r':
        options.access = block::io::Access::kReadOnly;
        break;
      case 'U':
        options.sharing = block::Sharing::kForceShare;
        break;
      default:
        test::die(kProgram, "usage: amber-io [-f FMT] [-t CACHE] [-r] [-U] IMAGE");
    }
  }
  if (argc - optind != 1)
    test::die(kProgram, "usage: amber-io [-f FMT] [-t CACHE] [-r] [-U] IMAGE");
  auto image = test::open_or_die(kProgram, argv[optind], options);
  std::cout << "opened" << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) run_command(*image, line);
  check(image->close(), "close");
  return 0;
}
