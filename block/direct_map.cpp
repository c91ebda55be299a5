// SPDX-License-Identifier: GPL-2.0-or-later
#include "block/direct_map.h"

#include "block/qcow2/image.h"

namespace amber::block {

DirectMap::DirectMap(Image& image) : image_(image) {
  if (image.format() == ImageFormat::kQcow2) qcow2_ = dynamic_cast<qcow2::Qcow2Image*>(&image);
}

std::optional<uint64_t> DirectMap::map(uint64_t offset, uint64_t length, DirectAccess access) {
  if (std::optional<uint64_t> host = image_.map_direct(offset, length, access)) return host;
  if (qcow2_ == nullptr || qcow2_->encrypted()) return std::nullopt;
  // The checks Qcow2Image::readv/writev make before they look anything up.
  if (access == DirectAccess::kOverwrite && qcow2_->read_only()) return std::nullopt;
  const uint64_t size = qcow2_->size();
  if (length == 0 || offset % kSectorSize != 0 || length % kSectorSize != 0 || offset > size ||
      length > size - offset)
    return std::nullopt;
  Result<qcow2::Mapping> m = qcow2_->lookup(offset, length);
  if (!m.ok() || m->kind != qcow2::MapKind::kData || m->length < length) return std::nullopt;
  if (access == DirectAccess::kOverwrite && !m->copied) return std::nullopt;
  return m->host;
}

}  // namespace amber::block
