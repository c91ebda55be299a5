// SPDX-License-Identifier: GPL-2.0-or-later
// DirectMap: Image::map_direct() for every format, including qcow2 until
// its driver overrides map_direct() itself. Until then this file answers
// for qcow2 images from the driver's public Qcow2Image::lookup(), under the
// same conditions as Qcow2Image::writev's in-place path (plain data in
// this image; for overwrites, the COPIED flag). Once the qcow2 driver
// implements map_direct, the qcow2 branch here should be deleted.
//
// Thread-safety: as Image::map_direct; one DirectMap per image, usable
// from any thread.
#pragma once

#include <cstdint>
#include <optional>

#include "block/image.h"

namespace amber::block {

namespace qcow2 {
class Qcow2Image;
}

class DirectMap {
 public:
  explicit DirectMap(Image& image);
  // As Image::map_direct.
  std::optional<uint64_t> map(uint64_t offset, uint64_t length, DirectAccess access);

 private:
  Image& image_;
  qcow2::Qcow2Image* qcow2_ = nullptr;  // non-null while the driver has no map_direct
};

}  // namespace amber::block
