// SPDX-License-Identifier: GPL-2.0-or-later
// libvirt's strict dialect of the project's one base64 codec (common/base64.h).
#include "driver/secret/base64.h"

#include "common/base64.h"

namespace amber::driver::secret {

std::string base64_encode(std::span<const uint8_t> bytes) {
  return amber::base64_encode(bytes);
}

Result<std::vector<uint8_t>> base64_decode(std::string_view text) {
  std::vector<uint8_t> out(base64_decoded_bound(text.size()));
  AMBER_TRY_ASSIGN(
      const size_t n,
      base64_decode_into(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()),
                         Base64Dialect::kStrict, out));
  out.resize(n);
  return out;
}

}  // namespace amber::driver::secret
