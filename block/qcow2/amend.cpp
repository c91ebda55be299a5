// SPDX-License-Identifier: GPL-2.0-or-later
// Header-level changes of an open qcow2 image for amber-img commit and
// rebase: emptying the active layer (qemu's bdrv_make_empty) and storing a
// new backing file name and format (bdrv_change_backing_file).
//
// Thread-safety: each call takes rw_ and meta_ exclusively; the caller must
// not run I/O on the image meanwhile.
#include <mutex>
#include <shared_mutex>

#include "block/qcow2/format.h"
#include "block/qcow2/image.h"
#include "block/qcow2/qcow2.h"

namespace amber::block::qcow2 {

Result<void> Qcow2Image::make_empty() {
  if (read_only()) return Error(ErrorKind::kReadOnly, "image is read-only", EACCES);
  {
    std::unique_lock rw(rw_);
    std::lock_guard meta(meta_);
    AMBER_TRY(mark_dirty());
    const uint64_t clusters = div_round_up(header_.size, cluster_size_);
    for (uint64_t gc = 0; gc < clusters; ++gc) {
      const uint64_t l1_index = gc / l2_entries_;
      if (l1_index >= header_.l1_size) break;
      if ((l1(l1_index) & kL1OffsetMask) == 0) {
        gc = (l1_index + 1) * l2_entries_ - 1;  // no table: nothing to free here
        continue;
      }
      AMBER_TRY(unmap_cluster(gc << cluster_bits_, UnmapReads::kBelow, UnmapHost::kFree));
    }
  }
  return flush();
}

Result<void> Qcow2Image::set_backing(const std::string& name, std::optional<ImageFormat> format) {
  if (read_only()) return Error(ErrorKind::kReadOnly, "image is read-only", EACCES);
  AMBER_TRY(flush());
  std::unique_lock rw(rw_);
  std::lock_guard meta(meta_);
  Header next = header_;
  next.backing_file = name;
  next.backing_format = format && !name.empty() ? std::string(to_string(*format)) : std::string();
  Header copy = next;
  AMBER_TRY_ASSIGN(std::vector<uint8_t> bytes, serialize_header(copy));
  if (bytes.size() > cluster_size_)
    return Error(ErrorKind::kInvalidArgument, "backing file name too long", EINVAL);
  AMBER_TRY(write_header_of(next));
  AMBER_TRY(file_->flush());
  header_ = next;
  return ok();
}

namespace {

Result<Qcow2Image*> as_qcow2_image(Image& image) {
  auto* q = dynamic_cast<Qcow2Image*>(&image);
  if (q == nullptr) return Error(ErrorKind::kUnsupported, "Operation not supported", ENOTSUP);
  return q;
}

}  // namespace

Result<void> make_empty(Image& image) {
  AMBER_TRY_ASSIGN(Qcow2Image * q, as_qcow2_image(image));
  return q->make_empty();
}

Result<void> set_backing_file(Image& image, const std::string& name,
                              std::optional<ImageFormat> format) {
  AMBER_TRY_ASSIGN(Qcow2Image * q, as_qcow2_image(image));
  return q->set_backing(name, format);
}

}  // namespace amber::block::qcow2
