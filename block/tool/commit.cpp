// SPDX-License-Identifier: GPL-2.0-or-later
// `amber-img commit`: qemu-img 7.2 commit. Copies every cluster the chain
// holds above the base (the top's backing file, or -b BASE anywhere in the
// chain) into the base in one pass, grows the base to the top's size when
// smaller, and then, unless -d or -b, empties the top image.
//
// Crash safety: the base is written and flushed before the top is
// emptied; until then the top still holds every cluster it had, so the
// chain reads the same guest content at every point.
//
// Thread-safety: one call from main().
#include <getopt.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "block/image.h"
#include "block/qcow2/qcow2.h"
#include "block/tool/command.h"
#include "block/tool/image_args.h"
#include "block/tool/progress.h"

namespace amber::block::tool {
namespace {

constexpr uint64_t kChunk = 2 << 20;

}  // namespace

int run_commit(int argc, char** argv) {
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 {"object", required_argument, nullptr, 'O'},
                                 {"image-opts", no_argument, nullptr, 'I'},
                                 {nullptr, 0, nullptr, 0}};
  std::string format, cache = "writeback", base_name;
  bool quiet = false, progress = false, drop = false, image_opts = false;
  Secrets secrets;
  reset_getopt();
  int c;
  while ((c = getopt_long(argc, argv, ":f:ht:b:dpqr:", kLong, nullptr)) != -1) {
    switch (c) {
      case 'f':
        format = optarg;
        break;
      case 't':
        cache = optarg;
        break;
      case 'b':
        base_name = optarg;
        drop = true;  // -b implies -d, as in qemu-img
        break;
      case 'd':
        drop = true;
        break;
      case 'p':
        progress = true;
        break;
      case 'q':
        quiet = true;
        break;
      case 'r': {
        // Accepted and not enforced: a rate limit only slows the copy.
        char* end = nullptr;
        errno = 0;
        long long v = std::strtoll(optarg, &end, 10);
        if (errno != 0 || end == optarg || v < 0)
          return report_error("Invalid rate limit specified");
        break;
      }
      case 'h':
        std::fputs(usage_text().c_str(), stdout);
        return 0;
      case 'O':
        if (auto r = secrets.add_object(optarg); !r.ok()) return report_error(r.error());
        break;
      case 'I':
        image_opts = true;
        break;
      default:
        return usage_error(getopt_error(c, argv));
    }
  }
  if (quiet) progress = false;
  if (int status = check_single_image_args(argc); status != 0) return status;
  auto mode = io::parse_cache_mode(cache);
  if (!mode.ok()) return report_error("Invalid cache option: " + cache);
  auto ref = resolve_image(argv[optind], image_opts, format, secrets);
  if (!ref.ok()) return report_error(ref.error());
  const std::string name = ref->name;

  // The top is opened with its own locks (no other writer while the copy
  // runs, and none running now), its backing chain sharing everything so
  // that the base can then be opened for writing by this process too,
  // with the base's own locks (refused while another process uses it).
  // The copy reads from the chain only what lies above the base.
  OpenOptions o;
  apply(*ref, o);
  o.access = drop ? io::Access::kReadOnly : io::Access::kReadWrite;
  o.cache = *mode;
  o.share_backing_writers = true;
  auto opened = open_image(ref->path, o);
  if (!opened.ok())
    return report_error("Could not open '" + name + "': " + error_text(opened.error()));
  Image& top = **opened;
  if (top.backing() == nullptr) return report_error("Image does not have a backing file");
  unsigned depth = 1;
  if (!base_name.empty()) {
    auto found = chain_level_of(top, base_name);
    if (!found)
      return report_error("Did not find '" + base_name + "' in the backing chain of '" + name +
                          "'");
    depth = *found;
  }
  Image* base_view = &top;
  for (unsigned i = 0; i < depth; ++i) base_view = base_view->backing();

  OpenOptions bo;
  bo.format = base_view->format();
  bo.access = io::Access::kReadWrite;
  bo.cache = *mode;
  bo.backing = BackingMode::kNone;  // only its own clusters are written
  bo.passphrase = ref->passphrase;  // one passphrase per chain, as for the open above
  auto base_opened = open_image(base_view->filename(), bo);
  if (!base_opened.ok())
    return report_error("Could not open '" + base_view->filename() +
                        "': " + error_text(base_opened.error()));
  Image& base = **base_opened;

  ProgressMeter meter(progress);
  meter.print(0);
  auto fail = [&](const std::string& what, const Error& e) {
    meter.end();
    return report_error(what + error_text(e));
  };
  const uint64_t size = top.size();
  if (base.size() < size) {
    if (auto r = base.resize(size, Preallocation::kOff); !r.ok())
      return fail("Could not resize the base image: ", r.error());
  }
  std::vector<std::byte> buffer(kChunk);
  for (uint64_t off = 0; off < size;) {
    auto st = top.block_status(off, std::min(kChunk, size - off));
    if (!st.ok()) return fail("error while committing: ", st.error());
    const uint64_t len = st->length;
    if (len == 0) break;
    if (st->present && st->depth < depth) {
      Result<void> r = ok();
      if (st->zero) {
        r = base.write_zeroes(off, len, ZeroMode::kMayUnmap);
      } else {
        std::span<std::byte> chunk(buffer.data(), len);
        r = top.read(off, chunk);
        if (r.ok()) r = base.write(off, chunk);
      }
      if (!r.ok()) return fail("error while committing: ", r.error());
    }
    off += len;
    meter.print(100.0 * double(off) / double(size));
  }
  if (auto r = base.flush(); !r.ok()) return fail("error while committing: ", r.error());
  if (auto r = base.close(); !r.ok()) return fail("error while committing: ", r.error());
  if (!drop) {
    if (auto r = qcow2::make_empty(top); !r.ok()) {
      meter.end();
      return report_error("Image committed, but failed to empty '" + name +
                          "': " + error_text(r.error()));
    }
  }
  if (auto r = top.close(); !r.ok()) return fail("error while committing: ", r.error());
  meter.print(100);
  meter.end();
  if (!quiet) std::printf("Image committed.\n");
  return 0;
}

}  // namespace amber::block::tool
