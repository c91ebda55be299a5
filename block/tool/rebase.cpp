// SPDX-License-Identifier: GPL-2.0-or-later
// `amber-img rebase`: qemu-img 7.2 rebase.
//
// Safe mode (the default): wherever the image has no cluster of its own,
// the guest sees its old backing chain; where the new backing file reads
// differently there, the old content is copied into the image first (in
// 512-byte runs, as qemu-img compares). Then the header names the new
// backing file (-b "" : none, the image stands alone). When the new
// backing file is itself in the old chain, only what the levels above it
// hold can differ, and only that is compared.
// Unsafe mode (-u): only the header changes; the chain is not opened.
//
// Crash safety: the copies are written and flushed before the header
// changes, so at every point the image reads the same through the chain
// its header names.
//
// Thread-safety: one call from main().
#include <getopt.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "block/image.h"
#include "block/open_file.h"
#include "block/qcow2/qcow2.h"
#include "block/tool/command.h"
#include "block/tool/image_args.h"
#include "block/tool/progress.h"

namespace amber::block::tool {
namespace {

constexpr uint64_t kChunk = 2 << 20;  // qemu-img's IO_BUF_SIZE
constexpr uint64_t kSector = 512;

// Reads [offset, offset + length) of `image`, zeros past its end (a
// backing file shorter than the image reads as zeros there).
Result<void> read_padded(Image* image, uint64_t offset, std::span<std::byte> out) {
  const uint64_t size = image == nullptr ? 0 : image->size();
  uint64_t have = 0;
  if (offset < size) {
    have = std::min<uint64_t>(out.size(), size - offset);
    AMBER_TRY(image->read(offset, out.first(have)));
  }
  if (have < out.size()) std::memset(out.data() + have, 0, out.size() - have);
  return ok();
}

struct RebaseArgs {
  std::string format, cache = "writeback", src_cache = "writeback";
  std::string backing, backing_format;
  bool have_backing = false, unsafe = false, quiet = false, progress = false;
  bool force_share = false, image_opts = false;
  Secrets secrets;
};

int parse_args(int argc, char** argv, RebaseArgs& a) {
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 {"object", required_argument, nullptr, 'O'},
                                 {"image-opts", no_argument, nullptr, 'I'},
                                 {"force-share", no_argument, nullptr, 'U'},
                                 {nullptr, 0, nullptr, 0}};
  reset_getopt();
  int c;
  while ((c = getopt_long(argc, argv, ":hf:F:b:upt:T:qU", kLong, nullptr)) != -1) {
    switch (c) {
      case 'h':
        std::fputs(usage_text().c_str(), stdout);
        return -1;
      case 'f':
        a.format = optarg;
        break;
      case 'F':
        a.backing_format = optarg;
        break;
      case 'b':
        a.backing = optarg;
        a.have_backing = true;
        break;
      case 'u':
        a.unsafe = true;
        break;
      case 'p':
        a.progress = true;
        break;
      case 't':
        a.cache = optarg;
        break;
      case 'T':
        a.src_cache = optarg;
        break;
      case 'q':
        a.quiet = true;
        break;
      case 'U':
        a.force_share = true;
        break;
      case 'O':
        if (auto r = a.secrets.add_object(optarg); !r.ok()) return report_error(r.error());
        break;
      case 'I':
        a.image_opts = true;
        break;
      default:
        return usage_error(getopt_error(c, argv));
    }
  }
  if (a.quiet) a.progress = false;
  if (!a.have_backing) return usage_error("Must specify backing file (-b) or use unsafe mode (-u)");
  return check_single_image_args(argc);
}

// Copies into `top` what its old chain shows where `top` has nothing and
// `fresh` (the new backing file, or none) reads differently. `prefix`:
// the chain level (1 = the old backing file) that is the new backing file,
// when it is one; only levels above it are compared then.
Result<void> copy_differences(Image& top, Image* fresh, std::optional<unsigned> prefix,
                              ProgressMeter& meter) {
  Image* old = top.backing();
  const uint64_t size = top.size();
  std::vector<std::byte> old_buf(kChunk), new_buf(kChunk);
  for (uint64_t off = 0; off < size;) {
    AMBER_TRY_ASSIGN(BlockStatus st, top.block_status(off, std::min(kChunk, size - off)));
    const uint64_t n = st.length;
    if (n == 0) return Error(ErrorKind::kIo, "block status made no progress", EIO);
    const bool own = st.present && st.depth == 0;
    const bool above_prefix = !prefix || (st.present && st.depth < *prefix);
    if (!own && above_prefix) {
      std::span<std::byte> o(old_buf.data(), n), w(new_buf.data(), n);
      AMBER_TRY(read_padded(old, off, o));
      AMBER_TRY(read_padded(fresh, off, w));
      for (uint64_t s = 0; s < n;) {
        const uint64_t len = std::min(kSector, n - s);
        if (std::memcmp(o.data() + s, w.data() + s, len) == 0) {
          s += len;
          continue;
        }
        uint64_t e = s + len;
        while (e < n) {
          const uint64_t l = std::min(kSector, n - e);
          if (std::memcmp(o.data() + e, w.data() + e, l) == 0) break;
          e += l;
        }
        AMBER_TRY(top.write(off + s, o.subspan(s, e - s)));
        s = e;
      }
    }
    off += n;
    meter.print(100.0 * double(off) / double(size));
  }
  return top.flush();
}

}  // namespace

int run_rebase(int argc, char** argv) {
  RebaseArgs a;
  if (int status = parse_args(argc, argv, a); status != 0) return status < 0 ? 0 : status;
  auto mode = io::parse_cache_mode(a.cache);
  if (!mode.ok()) return report_error("Invalid cache option: " + a.cache);
  auto src_mode = io::parse_cache_mode(a.src_cache);
  if (!src_mode.ok()) return report_error("Invalid source cache option: " + a.src_cache);
  auto ref = resolve_image(argv[optind], a.image_opts, a.format, a.secrets);
  if (!ref.ok()) return report_error(ref.error());
  const std::string name = ref->name;
  std::optional<ImageFormat> backing_fmt;
  if (!a.backing_format.empty()) {
    auto parsed = parse_format(a.backing_format);
    if (!parsed.ok()) return report_error("Invalid format name: '" + a.backing_format + "'");
    backing_fmt = *parsed;
  }

  OpenOptions o;
  apply(*ref, o);
  o.access = io::Access::kReadWrite;
  o.cache = *mode;
  o.sharing = a.force_share ? Sharing::kForceShare : Sharing::kExclusiveWriter;
  o.backing = a.unsafe ? BackingMode::kNone : BackingMode::kOpen;
  const std::string path = ref->path;
  auto opened = open_image(path, o);
  if (!opened.ok())
    return report_error("Could not open '" + name + "': " + error_text(opened.error()));
  Image& top = **opened;
  // Only qcow2 has a backing file. qemu-img would first copy the chain's
  // differences into such an image (a raw file: over its bytes) and then
  // fail; Amber fails before writing anything.
  if (top.format() != ImageFormat::kQcow2)
    return report_error("Could not change the backing file to '" + a.backing +
                        "': Operation not supported");

  ProgressMeter meter(a.progress);
  meter.print(0);
  if (!a.unsafe) {
    std::unique_ptr<Image> fresh;
    std::optional<unsigned> prefix;
    if (!a.backing.empty()) {
      const std::string resolved = resolve_backing_path(path, host_path(a.backing));
      OpenOptions bo;
      bo.format = backing_fmt;
      bo.access = io::Access::kReadOnly;
      bo.cache = *src_mode;
      bo.passphrase = ref->passphrase;  // one passphrase per chain
      auto b = open_image(resolved, bo);
      if (!b.ok()) {
        meter.end();
        return report_error("Could not open new backing file '" + a.backing +
                            "': " + error_text(b.error()));
      }
      fresh = std::move(*b);
      prefix = chain_level_of(top, resolved);
    }
    if (auto r = copy_differences(top, fresh.get(), prefix, meter); !r.ok()) {
      meter.end();
      return report_error("Error while rebasing: " + error_text(r.error()));
    }
  }
  auto changed =
      !a.backing.empty() && !backing_fmt
          ? Result<void>(Error(ErrorKind::kInvalidArgument, "backing format must be specified"))
          : qcow2::set_backing_file(top, a.backing, backing_fmt);
  if (!changed.ok()) {
    meter.end();
    return report_error("Could not change the backing file to '" + a.backing +
                        "': " + error_text(changed.error()));
  }
  meter.print(100);
  meter.end();
  if (auto r = top.close(); !r.ok()) return report_error(r.error());
  return 0;
}

}  // namespace amber::block::tool
