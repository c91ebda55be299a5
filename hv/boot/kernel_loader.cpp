#include "hv/boot/kernel_loader.h"

namespace amber::hv::boot {

Result<std::unique_ptr<KernelLoader>> KernelLoader::open(const std::string&, const std::string&,
                                                         const std::string&) {
  return Error(ErrorKind::kUnsupported, "--kernel: not implemented yet");
}
Result<void> KernelLoader::load(GuestRam&, const std::vector<E820Entry>&, kvm::KvmVcpu&) { return ok(); }
Result<void> KernelLoader::reload(GuestRam&) { return ok(); }

}  // namespace amber::hv::boot
