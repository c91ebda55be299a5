// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/boot/firmware.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

namespace amber::hv::boot {

Result<std::unique_ptr<Firmware>> Firmware::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::from_errno(errno, "--firmware " + path);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  if (bytes.empty() || bytes.size() % kFirmwareGranule != 0 || bytes.size() > kFirmwareMaxSize)
    return Error(ErrorKind::kInvalidArgument, "--firmware " + path + ": size " +
                                                  std::to_string(bytes.size()) +
                                                  " is not a multiple of 64 KiB up to 16 MiB");
  std::unique_ptr<Firmware> firmware(new Firmware());
  void* host =
      ::mmap(nullptr, bytes.size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (host == MAP_FAILED) return Error::from_errno(errno, "mapping the firmware");
  firmware->host_ = static_cast<uint8_t*>(host);
  firmware->size_ = bytes.size();
  std::memcpy(host, bytes.data(), bytes.size());
  return firmware;
}

Firmware::~Firmware() {
  if (host_ != nullptr) ::munmap(host_, size_);
}

Result<void> Firmware::map(kvm::KvmVm& vm, uint32_t slot) {
  return vm.set_memory(slot, base(), size_, host_, KVM_MEM_READONLY);
}

void Firmware::copy_low_alias(GuestRam& ram) const {
  const uint64_t alias = size_ < kLowAliasMax ? size_ : kLowAliasMax;
  std::memcpy(ram.host() + 0x100000 - alias, host_ + size_ - alias, alias);
}

}  // namespace amber::hv::boot
