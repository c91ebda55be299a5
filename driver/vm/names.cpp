// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/vm/names.h"

#include <string>

namespace amber::driver::vm {

Result<void> check_domain_name(std::string_view name) {
  const auto bad = [&](const std::string& why) {
    return Error(ErrorKind::kInvalidArgument,
                 "domain name '" + std::string(name.substr(0, 64)) + "' " + why);
  };
  if (name.empty()) return Error(ErrorKind::kInvalidArgument, "empty domain name");
  if (name.size() > kMaxDomainNameLength)
    return bad("is longer than " + std::to_string(kMaxDomainNameLength) + " bytes");
  if (name.front() == '.') return bad("starts with '.'");
  for (const char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '/') return bad("contains '/'");
    if (byte == 0) return bad("contains a NUL byte");
    if (byte < 0x20 || byte == 0x7f) return bad("contains a control character");
  }
  return ok();
}

}  // namespace amber::driver::vm
