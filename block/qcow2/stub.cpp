#include "block/qcow2/qcow2.h"

namespace amber::block::qcow2 {
Result<std::unique_ptr<Image>> open(std::unique_ptr<io::File>, const OpenOptions&, unsigned) {
  return Error(ErrorKind::kUnsupported, "qcow2 not yet implemented");
}
Result<void> create(const std::string&, const CreateOptions&) {
  return Error(ErrorKind::kUnsupported, "qcow2 not yet implemented");
}
Result<CheckReport> check(const std::string&, const CheckOptions&) {
  return Error(ErrorKind::kUnsupported, "qcow2 not yet implemented");
}
}  // namespace amber::block::qcow2
