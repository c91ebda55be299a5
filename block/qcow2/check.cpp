// Temporary placeholder: the qcow2 consistency check is written by another
// engineer and replaces this file.
#include "block/qcow2/qcow2.h"

namespace amber::block::qcow2 {
Result<CheckReport> check(const std::string&, const CheckOptions&) {
  return Error(ErrorKind::kUnsupported, "qcow2 check not yet implemented");
}
}  // namespace amber::block::qcow2
